import { ApplicationFailure, Context } from '@temporalio/activity';
import {
  ArchiveConflictError,
  CorruptBatchError,
  NoArchiveTargetError,
  type ArchiveWriter,
} from '../../archive/writer';
import type { ArchivedObject, BatchManifest } from '../../shared/batch';
import { withHeartbeat } from '../heartbeat';

/**
 * The capture workflow's archive half: the same writer as the ingest's fast path, with its errors classified
 * for Temporal. A conflict or a corrupt object is permanent (the workflow quarantines the batch); every
 * bucket refusing is worth another attempt on the capture loop's timer.
 */
export function createArchiveActivities(writer: ArchiveWriter) {
  return {
    /** Archives a batch's object (made at hand-over) with its manifest as metadata. */
    archiveEvents(batch: BatchManifest, body: Uint8Array): Promise<ArchivedObject> {
      return withHeartbeat(() =>
        writer.archive(batch, body, Context.current().cancellationSignal).catch((err: unknown) => {
          throw asFailure(err);
        }),
      );
    },
  };
}

/** An archive writer error as the ApplicationFailure the workflow's retry policy and quarantine read. */
export function asFailure(err: unknown): unknown {
  if (err instanceof ArchiveConflictError)
    return ApplicationFailure.create({
      type: 'ArchiveConflict',
      nonRetryable: true,
      message: err.message,
      details: [err.details],
    });
  if (err instanceof CorruptBatchError)
    return ApplicationFailure.create({ type: 'CorruptBatch', nonRetryable: true, message: err.message });
  if (err instanceof NoArchiveTargetError)
    return ApplicationFailure.create({
      type: 'NoArchiveTarget',
      message: err.message,
      details: err.skipped,
    });
  return err;
}
