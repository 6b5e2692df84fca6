import {
  ApplicationFailure,
  continueAsNew,
  log,
  ParentClosePolicy,
  patched,
  proxyActivities,
  proxyLocalActivities,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { BatchManifest, BatchStatus, CaptureInput, Quarantine } from '../shared/batch';
import { HOUR_MS } from '../shared/reconcile';
import { sealWorkflowId } from '../shared/seal';
import { runBatchLoop } from './batchLoop';
import type { sealHour } from './sealHour';

// Local activities, as in archiveBatch: a captured batch's object goes to S3 and the stats API straight from
// the worker that holds it. Each is idempotent; a few quick retries inside one round, a longer outage is the
// loop's durable timer. Failures no retry can cure (a conflict, a corrupt object, a stats 4xx) are
// non-retryable ApplicationFailures and quarantine the batch.
const { archiveEvents, deliverArchiveObject, deliverArchivedObject } = proxyLocalActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  retry: { maximumAttempts: 3, initialInterval: '1 second' },
});

// Whether the batch's hour was sealed before it landed: one S3 listing, only for an hour already closed.
const { hourSealed } = proxyLocalActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 3, initialInterval: '1 second' },
});

const { notify } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 5, initialInterval: '2 seconds' },
});

/**
 * A batch the ingest's fast path could not finish: its archive half (every bucket of the region refused it;
 * the object rides in the arguments) or only its stats delivery (the batch carries a pointer to its archived
 * object, a claim check). Retries the missing half on a durable timer for as long as it takes; a failure no
 * retry can cure quarantines the batch: one alert, then it waits for an operator (see runBatchLoop).
 */
export async function captureBatch(input: CaptureInput, object?: Uint8Array): Promise<BatchStatus> {
  const { manifest } = input;
  const progress = input.progress ?? { attempts: 0, archived: input.archived };
  if (!progress.archived && !object) {
    throw ApplicationFailure.nonRetryable(
      `batch ${manifest.batchId}: neither its archive object nor an archived copy was handed over`,
      'InvalidCapture',
    );
  }
  return runBatchLoop({
    manifest,
    capture: input.capture,
    progress,
    reason: input.reason,
    archive: () => archiveEvents(manifest, object!),
    // Patch `reseal-late-capture`: captures started before it land without sealing their hour again.
    onArchived: object && patched('reseal-late-capture') ? () => resealIfLate(manifest) : undefined,
    deliver: () =>
      object
        ? deliverArchiveObject({ region: manifest.region }, object)
        : deliverArchivedObject({ region: manifest.region, object: progress.archived! }),
    quarantine: (q, nth) => alert(input, q, nth),
    continueAsNew: (p) => continueAsNew<typeof captureBatch>({ ...input, progress: p }, object),
  });
}

/**
 * A batch that lands in an hour already sealed (it was captured through the seal) is late: the hour is sealed
 * again, as a workflow of its own (ABANDON: it outlives this one), so its next version holds these events.
 * Best effort: if it cannot be started, readers still see the late object beside the seal, and the next
 * `stormproof seal` of the hour takes it in.
 */
async function resealIfLate(manifest: BatchManifest): Promise<void> {
  const { region, hour } = manifest;
  if (Date.now() < Date.parse(hour) + HOUR_MS) return; // the hour is still open: nobody sealed it yet
  try {
    if (!(await hourSealed({ region, hour }))) return; // the scheduled seal of the hour will find it
    await startChild<typeof sealHour>('sealHour', {
      workflowId: sealWorkflowId(region, hour),
      args: [{ region, hour }],
      parentClosePolicy: ParentClosePolicy.ABANDON,
      staticSummary: `Seal ${region} ${hour.slice(0, 13)}h again: a captured batch landed late`,
    });
  } catch (err) {
    // A seal of the hour is running (the error class lives in @temporalio/common, not the workflow API).
    if ((err as Error).name === 'WorkflowExecutionAlreadyStartedError') return;
    log.warn("could not seal the late batch's hour again", { region, hour, error: String(err) });
  }
}

/** One webhook alert per quarantine; a webhook that stays down does not keep the batch from waiting. */
async function alert(input: CaptureInput, q: Quarantine, nth: number): Promise<void> {
  const { workflowId } = workflowInfo();
  const { manifest } = input;
  try {
    await notify({
      kind: 'batch-quarantined',
      key: `${workflowId}/quarantine-${nth}`,
      title: `Batch of ${manifest.count} events of ${manifest.region} quarantined: ${q.type}`,
      text:
        `The ${q.half === 'archive' ? 'archive' : 'stats delivery'} of batch ${manifest.batchId} ` +
        `(hour ${manifest.hour}) failed for good: ${q.reason}\n` +
        `Inspect: \`stormproof batch ${workflowId}\`; after fixing the cause: ` +
        `\`stormproof release ${workflowId} --by <you> --why <reason>\` ` +
        `(or \`stormproof discard …\` to give the batch up).`,
    });
  } catch {
    // The batch stays quarantined and visible (search attribute, CLI); the alert is best effort.
  }
}
