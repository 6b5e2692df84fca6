import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';

/** What operators are told about; the kinds are the events issue #7 lists. */
export type NotificationKind =
  | 'region-down'
  | 'region-up'
  | 'failover-started'
  | 'failover-completed'
  | 'failover-rolled-back'
  | 'approval-needed'
  | 'failover-refused'
  | 'reconcile-alert'
  | 'backlog'
  | 'batch-quarantined'
  | 'seal-failed'
  | 'cap-threshold'
  | 'cap-stranded'
  | 'cap-window-closed';

export interface Notification {
  kind: NotificationKind;
  /** Same key, same notification: receivers that deduplicate (Idempotency-Key header) show a retry once. */
  key: string;
  title: string;
  /** Markdown (Slack mrkdwn): what happened and what to do. */
  text: string;
}

export interface NotifyResult {
  delivered: boolean;
  detail: string;
}

export interface WebhookOptions {
  /** Slack-compatible incoming webhook; unset means notifications are only logged. */
  url?: string;
  timeoutMs: number;
}

const EMOJI: Record<NotificationKind, string> = {
  'region-down': ':red_circle:',
  'region-up': ':large_green_circle:',
  'failover-started': ':arrows_counterclockwise:',
  'failover-completed': ':white_check_mark:',
  'failover-rolled-back': ':rewind:',
  'approval-needed': ':raising_hand:',
  'failover-refused': ':no_entry:',
  'reconcile-alert': ':mag:',
  backlog: ':warning:',
  'batch-quarantined': ':lock:',
  'seal-failed': ':package:',
  'cap-threshold': ':chart_with_upwards_trend:',
  'cap-stranded': ':hourglass:',
  'cap-window-closed': ':ledger:',
};

/** The body a Slack incoming webhook takes (and most chat tools accept): plain `text` plus blocks. */
export function slackBody(n: Notification): unknown {
  const headline = `${EMOJI[n.kind]} *${n.title}*`;
  return {
    text: `${headline}\n${n.text}`,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: headline } },
      { type: 'section', text: { type: 'mrkdwn', text: n.text } },
      { type: 'context', elements: [{ type: 'mrkdwn', text: `stormproof · ${n.kind} · ${n.key}` }] },
    ],
  };
}

/**
 * Posts notifications to the webhook. Temporal retries what is transient (timeouts, connection errors,
 * 429 and 5xx); a webhook that refuses the message (other 4xx) fails it for good, with the answer quoted.
 */
export function createNotifyActivities(opts: WebhookOptions) {
  return {
    notify: async (n: Notification): Promise<NotifyResult> => {
      const log = Context.current().log;
      if (!opts.url) {
        // The log is the operators' only channel then: the whole message, with the command it suggests.
        log.warn(`notification: ${n.title}`, { kind: n.kind, key: n.key, text: n.text });
        return { delivered: false, detail: 'no webhook configured; logged only' };
      }
      let res: Response;
      try {
        res = await fetch(opts.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'idempotency-key': n.key },
          body: JSON.stringify(slackBody(n)),
          signal: AbortSignal.any([
            Context.current().cancellationSignal,
            AbortSignal.timeout(opts.timeoutMs),
          ]),
        });
      } catch (err) {
        throw ApplicationFailure.retryable(
          `webhook unreachable: ${(err as Error).message}`,
          'WebhookUnavailable',
        );
      }
      const answer = (await res.text()).slice(0, 500);
      if (res.ok) return { delivered: true, detail: `HTTP ${res.status}` };
      if (res.status === 429 || res.status >= 500) {
        throw ApplicationFailure.retryable(`webhook answered ${res.status}: ${answer}`, 'WebhookUnavailable');
      }
      throw ApplicationFailure.nonRetryable(
        `webhook refused the notification: ${res.status} ${answer}`,
        'WebhookRefused',
      );
    },
  };
}
