import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import {
  captureWorkflowId,
  type ArchivedObject,
  type BatchManifest,
  type CaptureBackoff,
  type CaptureInput,
} from '../shared/batch';
import { searchAttributes } from '../shared/searchAttributes';
import type { captureBatch } from '../workflows/captureBatch';

export interface CaptureOptions {
  taskQueue: string;
  capture: CaptureBackoff;
  /** How long starting the workflow may take before the batch counts as not taken. */
  timeoutMs: number;
}

export interface CaptureRequest {
  manifest: BatchManifest;
  reason: string;
  /** The object, when the archive half is what failed. */
  body?: Uint8Array;
  /** The archived copy, when only the stats delivery failed (a claim check: no events travel). */
  archived?: ArchivedObject;
}

export type CaptureStarter = (request: CaptureRequest) => Promise<string>;

/**
 * Hands what the fast path could not finish to a durable captureBatch workflow and resolves with its ID once
 * Temporal has recorded it. The ID follows from the batch's content, so capturing the same batch twice is one
 * workflow: while it runs (USE_EXISTING) and after it finished its work (within retention).
 */
export function createCaptureStarter(client: Client, opts: CaptureOptions): CaptureStarter {
  return async ({ manifest, reason, body, archived }) => {
    const workflowId = captureWorkflowId(manifest.region, manifest.batchId);
    const input: CaptureInput = { manifest, capture: opts.capture, reason, archived };
    const what = archived ? 'stats delivery' : 'archive';
    try {
      await client.withDeadline(Date.now() + opts.timeoutMs, () =>
        client.workflow.start<typeof captureBatch>('captureBatch', {
          workflowId,
          taskQueue: opts.taskQueue,
          args: body ? [input, body] : [input],
          workflowIdConflictPolicy: 'USE_EXISTING',
          // A finished capture (archived and delivered) is not started again; a discarded one (failed) is, so
          // the same events resent after an operator gave them up are held again, not silently dropped.
          workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
          staticSummary: `${manifest.count} events of ${manifest.region}, hour ${manifest.hour.slice(0, 13)}: ${what} captured`,
          staticDetails: `captured because: ${reason}`,
          typedSearchAttributes: [
            { key: searchAttributes.batchState, value: 'pending' },
            { key: searchAttributes.region, value: manifest.region },
            { key: searchAttributes.eventCount, value: manifest.count },
          ],
        }),
      );
    } catch (err) {
      // Already completed (only a completed run blocks a new one): archived and delivered, nothing to capture.
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    }
    return workflowId;
  };
}
