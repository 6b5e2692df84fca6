import type { TrackingEvent } from '../../src/shared/event';
import { ndjson, type IngestAnswer } from './pipeline';

export interface IngestTarget {
  name: string;
  url: string;
  headers: Record<string, string>;
}

/** One POST of a client that resends: what it sent, where, what came back, which IDs it acknowledged. */
export interface Attempt {
  target: string;
  ids: string[];
  /** 'no-answer': the connection was refused or cut (a killed ingest) before an answer. */
  status: number | 'no-answer';
  acked: string[];
  body?: IngestAnswer;
  sentAt: number;
  answeredAt: number;
}

export interface ResendOptions {
  /** Where the next attempt goes (asked before every attempt, so a test can route around a dead ingest). */
  target: () => IngestTarget;
  onAttempt?: (attempt: Attempt) => void;
  /** Fails the send (throws) past this time. */
  giveUpAt: number;
  /** Gives up (throws) before the next attempt when this says so: a test that failed stops its load. */
  cancelled?: () => boolean;
  requestTimeoutMs?: number;
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Sends events as a well-behaved client of the ingest does: until every record is acknowledged. A 200
 * acknowledges all of the attempt; a 503 with `notAccepted` acknowledges all but those, which alone are
 * resent; any other 503 acknowledges nothing and everything is resent; each after its Retry-After. An
 * attempt without an answer acknowledges nothing (the client cannot know) and is resent at once, to
 * wherever `target` says. Any other status is a failure of the test.
 */
export async function sendUntilAccepted(events: TrackingEvent[], opts: ResendOptions): Promise<void> {
  let pending = events;
  while (pending.length > 0) {
    if (Date.now() > opts.giveUpAt)
      throw new Error(`${pending.length} events still not acknowledged at the deadline`);
    if (opts.cancelled?.()) throw new Error(`cancelled with ${pending.length} events not acknowledged`);
    const target = opts.target();
    const sentAt = Date.now();
    const ids = pending.map((e) => e.id);
    let status: number | 'no-answer';
    let body: IngestAnswer | undefined;
    let retryAfter = 0;
    try {
      const res = await fetch(`${target.url}/v1/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-ndjson', ...target.headers },
        body: ndjson(pending),
        signal: AbortSignal.timeout(opts.requestTimeoutMs ?? 120_000),
      });
      status = res.status;
      body = (await res.json()) as IngestAnswer;
      retryAfter = Number(res.headers.get('retry-after') ?? '1');
    } catch {
      status = 'no-answer';
    }
    let rest: TrackingEvent[];
    if (status === 200) rest = [];
    else if (status === 'no-answer' || status === 503) {
      const notAccepted = status === 503 ? body?.notAccepted : undefined;
      rest = notAccepted ? notAccepted.map((i) => pending[i]!) : pending;
    } else {
      throw new Error(`${target.name} answered ${status}: ${JSON.stringify(body)}`);
    }
    const left = new Set(rest.map((e) => e.id));
    opts.onAttempt?.({
      target: target.name,
      ids,
      status,
      acked: ids.filter((id) => !left.has(id)),
      body,
      sentAt,
      answeredAt: Date.now(),
    });
    pending = rest;
    if (pending.length > 0) await pause(status === 'no-answer' ? 200 : retryAfter * 1000);
  }
}
