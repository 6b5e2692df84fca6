import type { HeldLines } from '../archive/format';
import { hourStartMs, hourStartOf } from '../shared/batch';
import type { TrackingEvent } from '../shared/event';

/**
 * Fields serialised once, appended to many events' lines (`,"a":1}`), as UTF-8: copied into each archive
 * object, not encoded again per line (a string's write cost 130 ns per line of the bench's shape).
 */
export interface LineEnd {
  lineEnd: Buffer;
}

/** `fields` as the end of an event's JSON line (`,"a":1}`), for `add` to append instead of the event's `}`. */
export function lineEndOf(fields: Record<string, unknown>): LineEnd {
  return { lineEnd: Buffer.from(`,${JSON.stringify(fields).slice(1)}`) };
}

export interface BatchLimits {
  maxEvents: number;
  maxBytes: number;
  /** The longest a batch waits for more events (while its partition's previous batch is still in flight). */
  lingerMs: number;
  /**
   * Group commit: a batch whose partition has no batch in flight (not yet durable) seals at once, after the
   * events being added in this turn of the event loop; while one is in flight, events gather until it is
   * durable or `lingerMs` passes. Light traffic gets answers in one PUT, heavy traffic full batches. Off: every
   * batch waits `lingerMs` (fewer, larger objects at light traffic, answers up to `lingerMs` later).
   */
  sealWhenIdle: boolean;
  /**
   * Events held (open batches, and hand-overs until their stats delivery is done or captured) before `add`
   * refuses with `Overloaded`.
   */
  maxPendingEvents: number;
}

/**
 * Hands a sealed batch over: calls `ack` once the batch is durable (the senders may be answered) and settles
 * when all its work is done. Rejecting before `ack` refuses the batch.
 */
export type HandOver<R> = (batch: SealedBatch, ack: (receipt: R) => void) => Promise<void>;

/** What became of the batches holding some of the events passed to `add`. */
export interface BatchOutcome<R> {
  /** Positions, in the array passed to `add`, of the events in this batch. */
  events: number[];
  outcome: PromiseSettledResult<R>;
}

export interface SealedBatch extends HeldLines {
  region: string;
  hour: string;
  /** Each event's ID, in the batch's order (its batch ID and ID digest). */
  ids: string[];
  /**
   * Each event's JSON text, in the same order: serialised once, for sizing and the archive object. The parsed
   * events are not kept: they die young instead of filling the heap while batches linger.
   */
  lines: string[];
  /** Per line, what closes it instead of its `}` (its cap judgement), or undefined: appended when encoded. */
  lineEnds: (Buffer | undefined)[];
  /** The lines' UTF-8 length as archived (line ends included, newlines not). */
  bytes: number;
}

/** Thrown instead of queueing without bound; the HTTP layer turns it into 503 with Retry-After. */
export class Overloaded extends Error {
  constructor(readonly pending: number) {
    super(`overloaded: ${pending} events are waiting to be handed over`);
    this.name = 'Overloaded';
  }
}

interface OpenBatch<R> extends SealedBatch {
  /** Cancels the pending seal (a linger timer, or an immediate when the partition was idle). */
  cancelSeal: () => void;
  result: Promise<R>;
  resolve: (r: R) => void;
  reject: (e: unknown) => void;
}

/**
 * Groups events by origin region and UTC hour (one archive partition each) into batches sealed by count,
 * bytes or linger time, and hands every sealed batch over. `add` resolves once every batch holding one of
 * its events is durable or refused, and says which, so a sender is acknowledged only for durable events.
 */
export class Batcher<R> {
  private readonly open = new Map<string, OpenBatch<R>>();
  private readonly inFlight = new Set<Promise<void>>();
  /** Per partition, the batches handed over and not yet durable or refused (group commit waits for them). */
  private readonly undecided = new Map<string, number>();
  private pending = 0;

  constructor(
    private readonly limits: BatchLimits,
    private readonly handOver: HandOver<R>,
  ) {}

  get pendingEvents(): number {
    return this.pending;
  }

  /** No room for a single event: every `add` would throw Overloaded. */
  get full(): boolean {
    return this.pending >= this.limits.maxPendingEvents;
  }

  /**
   * `instants`: each event's timestamp in ms, when the caller has parsed them already (validateRecords).
   * `lineEnds`: per event, what closes its JSON line instead of its `}` (the fields the ingest adds: its cap
   * judgement), or nothing.
   */
  add(
    events: readonly TrackingEvent[],
    instants?: readonly number[],
    lineEnds?: readonly (LineEnd | undefined)[],
  ): Promise<BatchOutcome<R>[]> {
    if (this.pending + events.length > this.limits.maxPendingEvents) throw new Overloaded(this.pending);
    this.pending += events.length;
    const touched = new Map<Promise<R>, number[]>();
    for (let i = 0; i < events.length; i++) {
      const event = events[i]!;
      const json = JSON.stringify(event);
      const end = lineEnds?.[i];
      const bytes = end ? Buffer.byteLength(json) - 1 + end.lineEnd.length : Buffer.byteLength(json);
      // The hour as a number: an ISO string per event would cost more than the rest of this loop.
      const hourMs = instants ? hourStartOf(instants[i]!) : hourStartMs(event.timestamp);
      const key = `${event.region}|${hourMs}`;
      let batch = this.open.get(key);
      if (batch && batch.bytes + bytes > this.limits.maxBytes) {
        this.seal(key);
        batch = undefined;
      }
      batch ??= this.openBatch(key, event.region, new Date(hourMs).toISOString());
      batch.ids.push(event.id);
      batch.lines.push(json);
      batch.lineEnds.push(end?.lineEnd);
      batch.bytes += bytes;
      let positions = touched.get(batch.result);
      if (!positions) touched.set(batch.result, (positions = []));
      positions.push(i);
      if (batch.ids.length >= this.limits.maxEvents) this.seal(key);
    }
    return Promise.all(
      [...touched].map(([result, positions]) =>
        result.then(
          (value): BatchOutcome<R> => ({ events: positions, outcome: { status: 'fulfilled', value } }),
          (reason: unknown): BatchOutcome<R> => ({
            events: positions,
            outcome: { status: 'rejected', reason },
          }),
        ),
      ),
    );
  }

  /** Seals every open batch now (shutdown) and waits until every hand-over has finished its work. */
  async flush(): Promise<void> {
    for (const key of [...this.open.keys()]) this.seal(key);
    await Promise.allSettled([...this.inFlight]);
  }

  private openBatch(key: string, region: string, hour: string): OpenBatch<R> {
    let resolve!: (r: R) => void;
    let reject!: (e: unknown) => void;
    const result = new Promise<R>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // Rejections reach senders through `add`; this guard keeps an unobserved one from crashing the process.
    result.catch(() => undefined);
    // setImmediate: after every event of this `add` (and of requests parsed in the same turn) has joined.
    let cancelSeal: () => void;
    if (this.limits.sealWhenIdle && !this.undecided.get(key)) {
      const immediate = setImmediate(() => this.seal(key));
      cancelSeal = () => clearImmediate(immediate);
    } else {
      const timer = setTimeout(() => this.seal(key), this.limits.lingerMs);
      cancelSeal = () => clearTimeout(timer);
    }
    const batch: OpenBatch<R> = {
      region,
      hour,
      ids: [],
      lines: [],
      lineEnds: [],
      bytes: 0,
      cancelSeal,
      result,
      resolve,
      reject,
    };
    this.open.set(key, batch);
    return batch;
  }

  private seal(key: string): void {
    const batch = this.open.get(key);
    if (!batch) return;
    this.open.delete(key);
    batch.cancelSeal();
    const { region, hour, ids, lines, lineEnds, bytes } = batch;
    const count = ids.length;
    this.undecided.set(key, (this.undecided.get(key) ?? 0) + 1);
    let decided = false;
    const decide = (): void => {
      if (decided) return;
      decided = true;
      const left = this.undecided.get(key)! - 1;
      if (left > 0) this.undecided.set(key, left);
      else {
        this.undecided.delete(key);
        // The partition is idle again: what gathered meanwhile goes now rather than at its linger's end.
        if (this.limits.sealWhenIdle) this.seal(key);
      }
    };
    const ack = (receipt: R): void => {
      batch.resolve(receipt);
      decide();
    };
    // A rejection after `ack` cannot reach the senders any more (they were answered); before it, it refuses.
    const work = this.handOver({ region, hour, ids, lines, lineEnds, bytes }, ack)
      // Settling without an ack would leave senders waiting for ever; after an ack this is a no-op.
      .then(() => batch.reject(new Error('the hand-over finished without making the batch durable')))
      .catch(batch.reject)
      .finally(() => {
        decide();
        this.pending -= count;
        this.inFlight.delete(work);
      });
    this.inFlight.add(work);
  }
}
