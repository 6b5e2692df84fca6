import {
  ActivityFailure,
  ApplicationFailure,
  condition,
  patched,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type {
  ArchivedObject,
  BatchManifest,
  BatchState,
  BatchStatus,
  CaptureBackoff,
  CaptureProgress,
  Delivery,
  Quarantine,
  QuarantineDecision,
} from '../shared/batch';
import { batchStatusQuery, resolveQuarantineUpdate, retryNowSignal } from '../shared/messages';
import { searchAttributes } from '../shared/searchAttributes';

/** Rounds per run before continuing as new, so a batch captured for days keeps a short history. */
export const ROUNDS_PER_RUN = 50;

export interface BatchLoop {
  manifest: BatchManifest;
  capture: CaptureBackoff;
  progress: CaptureProgress;
  /** Why the batch is here (captureBatch), for the UI and the CLI. */
  reason?: string;
  /** Each half of one attempt; the loop calls only what is not done yet. */
  archive: () => Promise<ArchivedObject>;
  deliver: () => Promise<Delivery>;
  /** Called once, when this workflow's own archive half succeeds (captureBatch: a late batch re-seals). */
  onArchived?: (archived: ArchivedObject) => Promise<void>;
  /**
   * Called on a failure no retry can cure; absent, such a failure waits on the timer like any other (the
   * archiveBatch of the previous version, whose recorded command sequence must not change).
   */
  quarantine?: (q: Quarantine, nth: number) => Promise<void>;
  /** Continues as new with the progress so far; never returns. */
  continueAsNew: (progress: CaptureProgress) => Promise<never>;
}

/**
 * The capture loop both batch workflows run: the missing halves in parallel, and while either is refused the
 * batch is *captured*: it waits on a durable timer with capped exponential backoff (or a `retryNow` signal)
 * and tries again, for as long as it takes. With `quarantine`, a non-retryable failure holds the batch for an
 * operator's `resolveQuarantine` (release: try again; discard: the workflow fails as BatchDiscarded),
 * recorded with who and why.
 */
export async function runBatchLoop(loop: BatchLoop): Promise<BatchStatus> {
  const { manifest, progress } = loop;
  let lastError: string | undefined;
  let nextAttemptAt: string | undefined;
  let retryRequested = false;

  const state = (): BatchState => {
    if (progress.discarded) return 'discarded';
    if (progress.quarantine) return 'quarantined';
    if (progress.archived && progress.delivered) return 'done';
    if (progress.capturedSince) return 'captured';
    if (progress.archived) return 'archived';
    if (progress.delivered) return 'delivered';
    return 'pending';
  };
  const status = (): BatchStatus => ({
    batchId: manifest.batchId,
    region: manifest.region,
    events: manifest.count,
    state: state(),
    reason: loop.reason,
    ...progress,
    lastError,
    nextAttemptAt,
  });
  let shownState: BatchState | undefined;
  const show = (): void => {
    const s = state();
    if (s !== shownState) {
      upsertSearchAttributes([{ key: searchAttributes.batchState, value: s }]);
      shownState = s;
    }
    setCurrentDetails(details(loop, s, lastError, nextAttemptAt));
  };
  setHandler(batchStatusQuery, status);
  // A failure, not a completion: a batch with the same events sent again may then be captured anew (the
  // capture's ID reuse policy allows a new run only after a failed one).
  const discarded = (): ApplicationFailure =>
    ApplicationFailure.create({
      type: 'BatchDiscarded',
      nonRetryable: true,
      message: `batch ${manifest.batchId} discarded by ${progress.decisions?.at(-1)?.by}: ${progress.decisions?.at(-1)?.why}`,
      details: [status()],
    });
  setHandler(retryNowSignal, () => void (retryRequested = true));
  if (loop.quarantine) {
    setHandler(
      resolveQuarantineUpdate,
      (decision: QuarantineDecision) => {
        const quarantine = progress.quarantine!;
        progress.decisions = [
          ...(progress.decisions ?? []),
          { ...decision, at: new Date().toISOString(), quarantine },
        ];
        progress.quarantine = undefined;
        if (decision.action === 'discard') progress.discarded = true;
        show();
        return status();
      },
      {
        // Synchronous: the SDK ignores an async validator's rejection.
        validator: (decision: QuarantineDecision) => {
          if (!progress.quarantine)
            throw new Error(`batch ${manifest.batchId} is ${state()}, not quarantined`);
          if (decision.action !== 'release' && decision.action !== 'discard')
            throw new Error(`action must be release or discard, got ${String(decision.action)}`);
          if (!decision.by?.trim()) throw new Error('say who decides (by)');
          if (!decision.why?.trim()) throw new Error('say why (why)');
        },
      },
    );
  }
  show();

  for (let round = 0; ; round++) {
    if (progress.quarantine) {
      await condition(() => progress.quarantine === undefined);
      if (progress.discarded) throw discarded();
    } else if (progress.discarded && patched('discard-during-alert')) {
      // Discarded while the quarantine alert was still being sent: the decision was taken before the loop
      // came back here. Without the patch the batch was tried again, quarantined again, and waited for ever.
      throw discarded();
    }
    progress.attempts++;
    const [archived, delivered] = await Promise.allSettled([
      progress.archived ?? loop.archive(),
      progress.delivered ?? loop.deliver(),
    ]);
    if (archived.status === 'fulfilled' && !progress.archived) {
      progress.archived = archived.value;
      if (loop.onArchived) await loop.onArchived(archived.value);
    }
    if (delivered.status === 'fulfilled') progress.delivered = delivered.value;
    if (progress.archived && progress.delivered) {
      progress.capturedSince = undefined;
      nextAttemptAt = undefined;
      show();
      return status();
    }

    const failures = [
      { half: 'archive' as const, result: archived },
      { half: 'stats' as const, result: delivered },
    ].filter(
      (f): f is { half: 'archive' | 'stats'; result: PromiseRejectedResult } =>
        f.result.status === 'rejected',
    );
    lastError = failures.map((f) => causeOf(f.result.reason).message).join('; ');
    progress.capturedSince ??= new Date().toISOString();
    const permanent = loop.quarantine && failures.find((f) => causeOf(f.result.reason).nonRetryable);
    if (permanent && loop.quarantine) {
      const cause = causeOf(permanent.result.reason);
      progress.quarantine = {
        since: new Date().toISOString(),
        half: permanent.half,
        type: cause.type ?? 'Unknown',
        reason: cause.message,
      };
      nextAttemptAt = undefined;
      show();
      await loop.quarantine(progress.quarantine, (progress.decisions?.length ?? 0) + 1);
      continue;
    }

    const waitMs = Math.min(loop.capture.maxMs, loop.capture.initialMs * 2 ** Math.min(round, 20));
    nextAttemptAt = new Date(Date.now() + waitMs).toISOString();
    show();
    await condition(() => retryRequested, waitMs);
    retryRequested = false;
    nextAttemptAt = undefined;

    if (round + 1 >= ROUNDS_PER_RUN || workflowInfo().continueAsNewSuggested) {
      await loop.continueAsNew(progress);
    }
  }
}

interface Cause {
  message: string;
  type?: string;
  nonRetryable: boolean;
}

/** An activity failure's root cause: its message for operators, and whether any retry could cure it. */
function causeOf(reason: unknown): Cause {
  let e = reason as Error & { cause?: unknown };
  while (e instanceof ActivityFailure && e.cause) e = e.cause;
  if (e instanceof ApplicationFailure)
    return { message: rootMessage(e), type: e.type ?? undefined, nonRetryable: e.nonRetryable === true };
  return { message: rootMessage(e), nonRetryable: false };
}

function rootMessage(e: unknown): string {
  type Chain = { message?: string; cause?: Chain };
  let root = e as Chain;
  while (root.cause) root = root.cause;
  return root.message ?? 'unknown error';
}

function details(
  loop: BatchLoop,
  state: BatchState,
  lastError: string | undefined,
  nextAttemptAt: string | undefined,
): string {
  const { manifest: m, progress: p } = loop;
  const rows = [`**${state}** — ${m.count} events of ${m.region}, hour ${m.hour}`, ''];
  if (loop.reason) rows.push(`captured because: ${loop.reason}`, '');
  rows.push(
    '| half | state |',
    '| --- | --- |',
    `| archive | ${p.archived ? `s3://${p.archived.bucket}/${p.archived.key}` : 'not yet'} |`,
    `| stats | ${p.delivered ? `${p.delivered.accepted} new, ${p.delivered.duplicates} duplicates` : 'not yet'} |`,
    `| attempts | ${p.attempts} |`,
  );
  if (state === 'captured')
    rows.push(`| captured since | ${p.capturedSince} |`, `| next attempt | ${nextAttemptAt} |`);
  if (p.quarantine)
    rows.push(
      `| quarantined since | ${p.quarantine.since} |`,
      `| quarantined for | ${p.quarantine.half}: ${p.quarantine.type} |`,
    );
  for (const d of p.decisions ?? [])
    rows.push(`| ${d.action === 'release' ? 'released' : 'discarded'} | ${d.at} by ${d.by}: ${d.why} |`);
  if (lastError) rows.push('', `last error: ${lastError}`);
  return rows.join('\n');
}
