import { hourStartMs } from '../shared/batch';
import type { TrackingEvent } from '../shared/event';

export interface BatchLimits {
  maxEvents: number;
  maxBytes: number;
  lingerMs: number;
  /** Events held (open batches plus hand-overs in flight) before `add` refuses with `Overloaded`. */
  maxPendingEvents: number;
}

export interface SealedBatch {
  region: string;
  hour: string;
  events: TrackingEvent[];
  /** Each event's JSON text, in the same order: serialised once, for sizing and for the archive object. */
  lines: string[];
}

/** Thrown instead of queueing without bound; the HTTP layer turns it into 503 with Retry-After. */
export class Overloaded extends Error {
  constructor(readonly pending: number) {
    super(`overloaded: ${pending} events are waiting to be handed over`);
    this.name = 'Overloaded';
  }
}

interface OpenBatch<R> extends SealedBatch {
  bytes: number;
  timer: NodeJS.Timeout;
  result: Promise<R>;
  resolve: (r: R) => void;
  reject: (e: unknown) => void;
}

/**
 * Groups events by origin region and UTC hour (one archive partition each) into batches sealed by count,
 * bytes or linger time, and hands every sealed batch over. `add` resolves once every batch holding one of
 * its events has been handed over, so a sender is acknowledged only after its events are durable.
 */
export class Batcher<R> {
  private readonly open = new Map<string, OpenBatch<R>>();
  private pending = 0;

  constructor(
    private readonly limits: BatchLimits,
    private readonly handOver: (batch: SealedBatch) => Promise<R>,
  ) {}

  get pendingEvents(): number {
    return this.pending;
  }

  add(events: readonly TrackingEvent[]): Promise<R[]> {
    if (this.pending + events.length > this.limits.maxPendingEvents) throw new Overloaded(this.pending);
    this.pending += events.length;
    const touched = new Set<Promise<R>>();
    for (const event of events) {
      const line = JSON.stringify(event);
      const bytes = Buffer.byteLength(line);
      // The hour as a number: an ISO string per event would cost more than the rest of this loop.
      const hourMs = hourStartMs(event.timestamp);
      const key = `${event.region}|${hourMs}`;
      let batch = this.open.get(key);
      if (batch && batch.bytes + bytes > this.limits.maxBytes) {
        this.seal(key);
        batch = undefined;
      }
      batch ??= this.openBatch(key, event.region, new Date(hourMs).toISOString());
      batch.events.push(event);
      batch.lines.push(line);
      batch.bytes += bytes;
      touched.add(batch.result);
      if (batch.events.length >= this.limits.maxEvents) this.seal(key);
    }
    return Promise.all([...touched]);
  }

  /** Seals every open batch now (shutdown) and waits until all are handed over or refused. */
  async flush(): Promise<void> {
    const results = [...this.open.values()].map((batch) => batch.result);
    for (const key of [...this.open.keys()]) this.seal(key);
    await Promise.allSettled(results);
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
    const timer = setTimeout(() => this.seal(key), this.limits.lingerMs);
    const batch: OpenBatch<R> = {
      region,
      hour,
      events: [],
      lines: [],
      bytes: 0,
      timer,
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
    clearTimeout(batch.timer);
    const { region, hour, events, lines } = batch;
    void this.handOver({ region, hour, events, lines })
      .then(batch.resolve, batch.reject)
      .finally(() => (this.pending -= events.length));
  }
}
