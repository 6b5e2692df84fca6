import type { Client } from '@temporalio/client';
import type { AppConfig } from '../config/schema';
import { Batcher } from './batcher';
import { createHandOver, type HandOverObserver, type HandOverReceipt } from './handOver';
import { validateRecords, type RejectedRecord } from './validate';

export interface SendResult {
  /** Events durably handed over to Temporal. */
  accepted: number;
  /** Records refused, each with its index in the input and the field at fault; nothing of them was kept. */
  rejected: RejectedRecord[];
  /** The batches (archiveBatch workflows) holding the accepted events. */
  batches: HandOverReceipt[];
}

/**
 * The hand-over every sender uses, in-process (Node services) or behind the HTTP ingest: validate each
 * record, batch, start one archiveBatch workflow per batch, and resolve once all are durable.
 * Rejects with `Overloaded` (nothing accepted) when too much is already waiting, or with the hand-over's
 * error when Temporal did not take a batch (its events are not accepted; resending them is safe).
 */
export class EventSender {
  private readonly batcher: Batcher<HandOverReceipt>;
  private readonly regions: ReadonlySet<string>;

  constructor(client: Client, config: AppConfig, observeHandOver?: HandOverObserver) {
    this.regions = new Set(config.regions.map((r) => r.name));
    const { ingest, archive, temporal } = config;
    this.batcher = new Batcher(
      {
        maxEvents: ingest.maxBatchEvents,
        maxBytes: ingest.maxBatchBytes,
        lingerMs: ingest.lingerMs,
        maxPendingEvents: ingest.maxPendingEvents,
      },
      createHandOver(client, {
        taskQueue: temporal.taskQueue,
        capture: { initialMs: archive.captureInitialBackoffMs, maxMs: archive.captureMaxBackoffMs },
        timeoutMs: ingest.handOverTimeoutMs,
        observe: observeHandOver,
      }),
    );
  }

  get pendingEvents(): number {
    return this.batcher.pendingEvents;
  }

  async send(records: readonly unknown[], indexes?: readonly number[]): Promise<SendResult> {
    const { events, rejected } = validateRecords(records, this.regions, indexes);
    const receipts = events.length ? await this.batcher.add(events) : [];
    return { accepted: events.length, rejected, batches: receipts };
  }

  /** Hands over what is still lingering; call before closing the connection. */
  flush(): Promise<void> {
    return this.batcher.flush();
  }
}
