import {
  ActivityFailure,
  ApplicationFailure,
  condition,
  continueAsNew,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type {
  BatchState,
  BatchStatus,
  CaptureInput,
  CaptureProgress,
  Quarantine,
  QuarantineDecision,
} from '../shared/batch';
import { batchStatusQuery, resolveQuarantineUpdate, retryNowSignal } from '../shared/messages';
import { searchAttributes } from '../shared/searchAttributes';

// Local activities, as in archiveBatch: a captured batch's object goes to S3 and the stats API straight from
// the worker that holds it. Each is idempotent; a few quick retries inside one round, a longer outage is the
// loop's durable timer. Failures Temporal must not retry (a conflict, a corrupt object, a stats 4xx) are
// non-retryable ApplicationFailures and quarantine the batch.
const { archiveEvents, deliverArchiveObject, deliverArchivedObject } = proxyLocalActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  retry: { maximumAttempts: 3, initialInterval: '1 second' },
});

const { notify } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 5, initialInterval: '2 seconds' },
});

/** Rounds per run before continuing as new, so a batch captured for days keeps a short history. */
const ROUNDS_PER_RUN = 50;

/**
 * A batch the ingest's fast path could not finish: its archive half (every bucket of the region refused it;
 * the object rides in the arguments) or only its stats delivery (the batch carries a pointer to its archived
 * object). Retries the missing half on a durable timer with capped backoff (or at a `retryNow` signal) for as
 * long as it takes. A failure no retry can cure quarantines the batch: one alert, then it waits for an
 * operator's `resolveQuarantine` (release to try again, or discard), recorded with who and why.
 */
export async function captureBatch(input: CaptureInput, object?: Uint8Array): Promise<BatchStatus> {
  const { manifest } = input;
  const progress: CaptureProgress = input.progress ?? { attempts: 0, archived: input.archived };
  if (!progress.archived && !object) {
    throw ApplicationFailure.nonRetryable(
      `batch ${manifest.batchId}: neither its archive object nor an archived copy was handed over`,
      'InvalidCapture',
    );
  }
  let lastError: string | undefined;
  let nextAttemptAt: string | undefined;
  let retryRequested = false;

  const state = (): BatchState => {
    if (progress.discarded) return 'discarded';
    if (progress.quarantine) return 'quarantined';
    if (progress.archived && progress.delivered) return 'done';
    if (progress.capturedSince) return 'captured';
    if (progress.archived) return 'archived';
    if (progress.delivered) return 'delivered';
    return 'pending';
  };
  const status = (): BatchStatus => ({
    batchId: manifest.batchId,
    region: manifest.region,
    events: manifest.count,
    state: state(),
    reason: input.reason,
    ...progress,
    lastError,
    nextAttemptAt,
  });
  setHandler(batchStatusQuery, status);
  setHandler(retryNowSignal, () => void (retryRequested = true));
  setHandler(
    resolveQuarantineUpdate,
    (decision: QuarantineDecision) => {
      const quarantine = progress.quarantine!;
      progress.decisions = [
        ...(progress.decisions ?? []),
        { ...decision, at: new Date().toISOString(), quarantine },
      ];
      progress.quarantine = undefined;
      if (decision.action === 'discard') progress.discarded = true;
      show();
      return status();
    },
    {
      // Synchronous: the SDK ignores an async validator's rejection.
      validator: (decision: QuarantineDecision) => {
        if (!progress.quarantine) throw new Error(`batch ${manifest.batchId} is ${state()}, not quarantined`);
        if (decision.action !== 'release' && decision.action !== 'discard')
          throw new Error(`action must be release or discard, got ${String(decision.action)}`);
        if (!decision.by?.trim()) throw new Error('say who decides (by)');
        if (!decision.why?.trim()) throw new Error('say why (why)');
      },
    },
  );

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
    if (progress.quarantine) {
      await condition(() => progress.quarantine === undefined);
      if (progress.discarded) return status();
    }
    progress.attempts++;
    const archivedCopy = progress.archived;
    const [archived, delivered] = await Promise.allSettled([
      progress.archived ?? archiveEvents(manifest, object!),
      progress.delivered ??
        (archivedCopy && !object
          ? deliverArchivedObject({ region: manifest.region, object: archivedCopy })
          : deliverArchiveObject({ region: manifest.region }, object!)),
    ]);
    if (archived.status === 'fulfilled') progress.archived = archived.value;
    if (delivered.status === 'fulfilled') progress.delivered = delivered.value;
    if (progress.archived && progress.delivered) {
      progress.capturedSince = undefined;
      nextAttemptAt = undefined;
      show();
      return status();
    }

    const failures = [
      { half: 'archive' as const, result: archived },
      { half: 'stats' as const, result: delivered },
    ].filter(
      (f): f is { half: 'archive' | 'stats'; result: PromiseRejectedResult } =>
        f.result.status === 'rejected',
    );
    lastError = failures.map((f) => `${f.half}: ${causeOf(f.result.reason).message}`).join('; ');
    progress.capturedSince ??= new Date().toISOString();
    const permanent = failures.find((f) => causeOf(f.result.reason).nonRetryable);
    if (permanent) {
      const cause = causeOf(permanent.result.reason);
      progress.quarantine = {
        since: new Date().toISOString(),
        half: permanent.half,
        type: cause.type ?? 'Unknown',
        reason: cause.message,
      };
      nextAttemptAt = undefined;
      show();
      await alert(input, progress.quarantine, (progress.decisions?.length ?? 0) + 1);
      continue;
    }

    const waitMs = Math.min(input.capture.maxMs, input.capture.initialMs * 2 ** Math.min(round, 20));
    nextAttemptAt = new Date(Date.now() + waitMs).toISOString();
    show();
    await condition(() => retryRequested, waitMs);
    retryRequested = false;
    nextAttemptAt = undefined;

    if (round + 1 >= ROUNDS_PER_RUN || workflowInfo().continueAsNewSuggested) {
      await continueAsNew<typeof captureBatch>({ ...input, progress }, object);
    }
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

interface Cause {
  message: string;
  type?: string;
  nonRetryable: boolean;
}

/** An activity failure's root cause: its message for operators, and whether any retry could cure it. */
function causeOf(reason: unknown): Cause {
  let e = reason as Error & { cause?: unknown };
  while (e instanceof ActivityFailure && e.cause) e = e.cause;
  if (e instanceof ApplicationFailure)
    return { message: e.message, type: e.type ?? undefined, nonRetryable: e.nonRetryable === true };
  let root: { message?: string; cause?: unknown } = e;
  while (root.cause) root = root.cause;
  return { message: root.message ?? String(reason), nonRetryable: false };
}

function details(
  input: CaptureInput,
  p: CaptureProgress,
  state: BatchState,
  lastError: string | undefined,
  nextAttemptAt: string | undefined,
): string {
  const m = input.manifest;
  const rows = [
    `**${state}** — ${m.count} events of ${m.region}, hour ${m.hour}`,
    '',
    `captured because: ${input.reason}`,
    '',
    '| half | state |',
    '| --- | --- |',
    `| archive | ${p.archived ? `s3://${p.archived.bucket}/${p.archived.key}` : 'not yet'} |`,
    `| stats | ${p.delivered ? `${p.delivered.accepted} new, ${p.delivered.duplicates} duplicates` : 'not yet'} |`,
    `| attempts | ${p.attempts} |`,
  ];
  if (state === 'captured')
    rows.push(`| captured since | ${p.capturedSince} |`, `| next attempt | ${nextAttemptAt} |`);
  if (p.quarantine)
    rows.push(
      `| quarantined since | ${p.quarantine.since} |`,
      `| quarantined for | ${p.quarantine.half}: ${p.quarantine.type} |`,
    );
  for (const d of p.decisions ?? [])
    rows.push(`| ${d.action === 'release' ? 'released' : 'discarded'} | ${d.at} by ${d.by}: ${d.why} |`);
  if (lastError) rows.push('', `last error: ${lastError}`);
  return rows.join('\n');
}
