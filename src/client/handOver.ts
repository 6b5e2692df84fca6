import { createHash } from 'node:crypto';
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import { archiveWorkflowId, type ArchiveBatchInput, type CaptureBackoff } from '../shared/batch';
import { prepareBatch } from '../activities/archive/encodeBatch';
import { searchAttributes } from '../shared/searchAttributes';
import type { archiveBatch } from '../workflows/archiveBatch';
import type { SealedBatch } from './batcher';

export interface HandOverReceipt {
  batchId: string;
  workflowId: string;
  events: number;
}

export interface HandOverOptions {
  taskQueue: string;
  capture: CaptureBackoff;
  timeoutMs: number;
  /** Told how long each hand-over took and whether Temporal took the batch (the ingest's metrics). */
  observe?: HandOverObserver;
}

export type HandOverObserver = (seconds: number, outcome: 'accepted' | 'failed') => void;

/**
 * A batch's ID follows from its content (hour and event IDs), so handing the same batch over twice names
 * the same workflow, and Temporal's ID policies make the second hand-over a no-op: while the first runs
 * (USE_EXISTING) and after it has finished (REJECT_DUPLICATE), within the namespace's retention.
 */
export function batchIdOf(batch: SealedBatch): string {
  const hash = createHash('sha256');
  for (const e of batch.events) hash.update(e.id).update('\n');
  return `${batch.hour.slice(0, 13).replace(/[-T]/g, '')}-${hash.digest('hex').slice(0, 20)}`;
}

/** Starts the batch's archiveBatch workflow; resolves once Temporal has durably recorded it. */
export function createHandOver(client: Client, opts: HandOverOptions) {
  const handOver = async (batch: SealedBatch): Promise<HandOverReceipt> => {
    const batchId = batchIdOf(batch);
    const workflowId = archiveWorkflowId(batch.region, batchId);
    const { manifest, body } = await prepareBatch({ batchId, ...batch });
    const input: ArchiveBatchInput = { ...manifest, capture: opts.capture };
    try {
      await client.withDeadline(Date.now() + opts.timeoutMs, () =>
        client.workflow.start<typeof archiveBatch>('archiveBatch', {
          workflowId,
          taskQueue: opts.taskQueue,
          args: [input, body],
          workflowIdConflictPolicy: 'USE_EXISTING',
          workflowIdReusePolicy: 'REJECT_DUPLICATE',
          staticSummary: `${batch.events.length} events of ${batch.region}, hour ${batch.hour.slice(0, 13)}`,
          typedSearchAttributes: [
            { key: searchAttributes.batchState, value: 'pending' },
            { key: searchAttributes.region, value: batch.region },
            { key: searchAttributes.eventCount, value: batch.events.length },
          ],
        }),
      );
    } catch (err) {
      // Already ran to completion: this batch is archived, so the hand-over has nothing left to do.
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    }
    return { batchId, workflowId, events: batch.events.length };
  };
  // Timed whatever the outcome: a Temporal that is slow or down must show in the metric, not only in 503s.
  return async (batch: SealedBatch): Promise<HandOverReceipt> => {
    const started = performance.now();
    let outcome: 'accepted' | 'failed' = 'failed';
    try {
      const receipt = await handOver(batch);
      outcome = 'accepted';
      return receipt;
    } finally {
      opts.observe?.((performance.now() - started) / 1000, outcome);
    }
  };
}
