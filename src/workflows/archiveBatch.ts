import {
  condition,
  continueAsNew,
  proxyLocalActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type {
  ArchiveBatchInput,
  BatchManifest,
  BatchProgress,
  BatchState,
  BatchStatus,
} from '../shared/batch';
import { batchStatusQuery, retryNowSignal } from '../shared/messages';
import { searchAttributes } from '../shared/searchAttributes';

// Local activities: a batch's object goes to S3 and the stats API straight from the worker that holds it,
// without being copied into history twice more and dispatched through the server as activity tasks (the
// benchmark's throughput depends on it). Each is idempotent, so a worker dying mid-call only means the
// next worker replays and calls again. A few quick retries inside one round; a longer outage is the
// capture loop's job, on a durable timer.
const { archiveEvents, deliverArchiveObject } = proxyLocalActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  retry: {
    maximumAttempts: 3,
    initialInterval: '1 second',
    nonRetryableErrorTypes: ['ArchiveConflict', 'CorruptBatch'],
  },
});

/** Rounds per run before continuing as new, so a batch captured for days keeps a short history. */
const ROUNDS_PER_RUN = 50;

/**
 * Archives one batch to S3 and delivers it to the stats API, in parallel, until both have succeeded. While
 * either is refused the batch is *captured*: it waits on a durable timer with capped exponential backoff
 * (or a `retryNow` signal) and tries the missing half again, for as long as it takes.
 */
export async function archiveBatch(input: ArchiveBatchInput, object: Uint8Array): Promise<BatchStatus> {
  const progress: BatchProgress = input.progress ?? { attempts: 0 };
  let lastError: string | undefined;
  let nextAttemptAt: string | undefined;
  let retryRequested = false;

  const state = (): BatchState => {
    if (progress.archived && progress.delivered) return 'done';
    if (progress.capturedSince) return 'captured';
    if (progress.archived) return 'archived';
    if (progress.delivered) return 'delivered';
    return 'pending';
  };
  const status = (): BatchStatus => ({
    batchId: input.batchId,
    region: input.region,
    events: input.count,
    state: state(),
    ...progress,
    lastError,
    nextAttemptAt,
  });
  setHandler(batchStatusQuery, status);
  setHandler(retryNowSignal, () => void (retryRequested = true));

  let shownState: BatchState | undefined;
  const show = (): void => {
    const s = state();
    if (s !== shownState) {
      upsertSearchAttributes([{ key: searchAttributes.batchState, value: s }]);
      shownState = s;
    }
    setCurrentDetails(details(input, progress, s, lastError, nextAttemptAt));
  };
  show();

  for (let round = 0; ; round++) {
    progress.attempts++;
    const [archived, delivered] = await Promise.allSettled([
      progress.archived ?? archiveEvents(manifestOf(input), object),
      progress.delivered ?? deliverArchiveObject({ region: input.region }, object),
    ]);
    if (archived.status === 'fulfilled') progress.archived = archived.value;
    if (delivered.status === 'fulfilled') progress.delivered = delivered.value;
    if (progress.archived && progress.delivered) {
      progress.capturedSince = undefined;
      nextAttemptAt = undefined;
      show();
      return status();
    }

    lastError = [archived, delivered]
      .filter((r): r is PromiseRejectedResult => r.status === 'rejected')
      .map((r) => causeOf(r.reason))
      .join('; ');
    progress.capturedSince ??= new Date().toISOString();
    const waitMs = Math.min(input.capture.maxMs, input.capture.initialMs * 2 ** Math.min(round, 20));
    nextAttemptAt = new Date(Date.now() + waitMs).toISOString();
    show();
    await condition(() => retryRequested, waitMs);
    retryRequested = false;
    nextAttemptAt = undefined;

    if (round + 1 >= ROUNDS_PER_RUN || workflowInfo().continueAsNewSuggested) {
      await continueAsNew<typeof archiveBatch>({ ...input, progress }, object);
    }
  }
}

/** The manifest alone: what the archive activity needs besides the object (not the capture bookkeeping). */
function manifestOf({ capture: _c, progress: _p, ...manifest }: ArchiveBatchInput): BatchManifest {
  return manifest;
}

/** An activity failure's root message: what an operator needs to see, not the wrapper's. */
function causeOf(reason: unknown): string {
  type Failure = { message?: string; cause?: Failure };
  let e = reason as Failure;
  while (e.cause) e = e.cause;
  return e.message ?? String(reason);
}

function details(
  input: ArchiveBatchInput,
  p: BatchProgress,
  state: BatchState,
  lastError: string | undefined,
  nextAttemptAt: string | undefined,
): string {
  const rows = [
    `**${state}** — ${input.count} events of ${input.region}, hour ${input.hour}`,
    '',
    '| half | state |',
    '| --- | --- |',
    `| archive | ${p.archived ? `s3://${p.archived.bucket}/${p.archived.key}` : 'not yet'} |`,
    `| stats | ${p.delivered ? `${p.delivered.accepted} new, ${p.delivered.duplicates} duplicates` : 'not yet'} |`,
    `| attempts | ${p.attempts} |`,
  ];
  if (state === 'captured')
    rows.push(`| captured since | ${p.capturedSince} |`, `| next attempt | ${nextAttemptAt} |`);
  if (lastError) rows.push('', `last error: ${lastError}`);
  return rows.join('\n');
}
