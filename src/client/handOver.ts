import { batchIdOfIds, prepareBatch } from '../archive/format';
import type { ArchiveWriter } from '../archive/writer';
import type { StatsApi } from '../activities/stats';
import type { CaptureStarter } from './capture';
import type { SealedBatch } from './batcher';

export interface HandOverReceipt {
  batchId: string;
  /** Origin region of the batch's events. */
  region: string;
  events: number;
  /** Where the batch is archived (`s3://bucket/key`), when the fast path stored it. */
  archived?: string;
  /** The captureBatch workflow that holds the batch, when S3 did not take it (or only its delivery failed). */
  captureWorkflowId?: string;
}

/** How a batch became durable (or did not), for the ingest's metrics. */
export type HandOverOutcome = 'archived' | 'captured' | 'refused';
export type DeliveryOutcome = 'delivered' | 'captured' | 'abandoned';

export interface HandOverObserver {
  /** A batch is durable (or refused): seconds from sealed to that answer. */
  batch(outcome: HandOverOutcome, events: number, seconds: number): void;
  /** Its stats delivery finished on the fast path, was captured, or was given up at shutdown. */
  delivery(outcome: DeliveryOutcome, events: number): void;
}

export interface HandOverDeps {
  writer: ArchiveWriter;
  stats: StatsApi;
  capture: CaptureStarter;
  /** How long the fast path's archive attempt may take, over every bucket of the region, before capture. */
  archiveTimeoutMs: number;
  /** Aborted at shutdown: a delivery capture Temporal has not taken by then is left to reconciliation. */
  stopping: AbortSignal;
  observe?: HandOverObserver;
  log: (level: 'warn' | 'error', message: string, err?: unknown) => void;
}

/**
 * The fast path: a healthy batch costs one S3 PUT and one stats POST, and nothing in Temporal.
 *
 * 1. Archive: the conditional PUT in the first bucket of the region's order that takes it (the writer). If
 *    every bucket refuses (or the batch is permanently wrong), the batch goes to a captureBatch workflow with
 *    its object. If Temporal refuses that too, the batch is not durable: the hand-over rejects and the senders
 *    of its events are told so (503); nothing of it was delivered to the stats.
 * 2. `ack`: the batch is durable (S3 confirmed it, or Temporal holds it); the senders may be answered.
 * 3. Deliver to the stats API: the archive object's own bytes (gzip NDJSON). If that fails, a captureBatch
 *    workflow with a pointer to the archived object takes the delivery over; while Temporal does not answer,
 *    the hand-over keeps trying (its events stay counted as pending, so overload still answers 503).
 */
export function createHandOver(deps: HandOverDeps) {
  const { writer, stats, capture, observe, log } = deps;

  return async (batch: SealedBatch, ack: (receipt: HandOverReceipt) => void): Promise<void> => {
    const started = performance.now();
    const events = batch.ids.length;
    const batchId = batchIdOfIds(batch.hour, batch.ids);
    const { manifest, body } = await prepareBatch({ batchId, ...batch });
    const receipt: HandOverReceipt = { batchId, region: batch.region, events };
    let archived;
    try {
      archived = await writer.archive(manifest, body, AbortSignal.timeout(deps.archiveTimeoutMs));
      receipt.archived = `s3://${archived.bucket}/${archived.key}`;
    } catch (err) {
      const reason = describe(err);
      try {
        receipt.captureWorkflowId = await capture({ manifest, body, reason });
      } catch (startErr) {
        observe?.batch('refused', events, (performance.now() - started) / 1000);
        log('error', `batch ${batchId} refused: S3 (${reason}) and Temporal both refused it`, startErr);
        throw startErr;
      }
      observe?.batch('captured', events, (performance.now() - started) / 1000);
      log('warn', `batch ${batchId} captured: ${reason}`);
      return ack(receipt); // the workflow delivers it too
    }
    observe?.batch('archived', events, (performance.now() - started) / 1000);
    ack(receipt);

    try {
      await stats.deliverObject(batch.region, body, events); // the archived bytes as they are
      observe?.delivery('delivered', events);
      return;
    } catch (err) {
      const reason = `stats delivery failed: ${describe(err)}`;
      for (let attempt = 0; ; attempt++) {
        try {
          await capture({ manifest, archived, reason });
          observe?.delivery('captured', events);
          return;
        } catch (startErr) {
          if (deps.stopping.aborted) {
            observe?.delivery('abandoned', events);
            log(
              'error',
              `batch ${batchId} (${receipt.archived}) is archived but not delivered to the stats API, and ` +
                `Temporal did not take its delivery before shutdown: the reconciliation of hour ${batch.hour} replays it`,
              startErr,
            );
            return;
          }
          if (attempt === 0)
            log('warn', `batch ${batchId}: ${reason}; Temporal refused the capture, retrying`);
          await pause(Math.min(30_000, 500 * 2 ** Math.min(attempt, 6)), deps.stopping);
        }
      }
    }
  };
}

/** Waits, or less when `signal` aborts. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

function describe(err: unknown): string {
  const e = err as Error;
  return `${e.name}: ${e.message}`;
}
