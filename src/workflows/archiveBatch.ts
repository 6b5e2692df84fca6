import { continueAsNew, proxyLocalActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { ArchiveBatchInput, BatchManifest, BatchStatus } from '../shared/batch';
import { runBatchLoop } from './batchLoop';

// Local activities: a batch's object goes to S3 and the stats API straight from the worker that holds it.
// Each is idempotent, so a worker dying mid-call only means the next worker replays and calls again. A few
// quick retries inside one round; a longer outage is the capture loop's job, on a durable timer.
const { archiveEvents, deliverArchiveObject } = proxyLocalActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  retry: {
    maximumAttempts: 3,
    initialInterval: '1 second',
    nonRetryableErrorTypes: ['ArchiveConflict', 'CorruptBatch'],
  },
});

/**
 * The previous version's batch workflow: every batch was handed to one, events included. New batches never
 * start it (the fast path archives them, captureBatch holds what fails); it stays registered so that batches
 * handed over before the upgrade finish, and it runs the shared capture loop without quarantine so its recorded
 * command sequence is unchanged (test/replay). Remove it once no archiveBatch execution is open.
 */
export async function archiveBatch(input: ArchiveBatchInput, object: Uint8Array): Promise<BatchStatus> {
  const manifest = manifestOf(input);
  return runBatchLoop({
    manifest,
    capture: input.capture,
    progress: input.progress ?? { attempts: 0 },
    archive: () => archiveEvents(manifest, object),
    deliver: () => deliverArchiveObject({ region: input.region }, object),
    continueAsNew: (progress) => continueAsNew<typeof archiveBatch>({ ...input, progress }, object),
  });
}

/** The manifest alone: what the archive activity needs besides the object (not the capture bookkeeping). */
function manifestOf({ capture: _c, progress: _p, ...manifest }: ArchiveBatchInput): BatchManifest {
  return manifest;
}
