import {
  ApplicationFailure,
  continueAsNew,
  isCancellation,
  log,
  ParentClosePolicy,
  patched,
  proxyActivities,
  type RetryPolicy,
  setCurrentDetails,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import { mapLimit } from '../shared/mapLimit';
import { searchAttributes } from '../shared/searchAttributes';
import { closedHourOfRun } from './closedHour';
import type { retireRawHour } from './retireRawHour';
import {
  retireWorkflowId,
  sealWorkflowId,
  type PendingCaptures,
  type SealDelta,
  SealDraft,
  SealHourInput,
  SealHourJob,
  SealPhase,
  SealPlan,
  SealResult,
  SealShardDraft,
  SealSummary,
} from '../shared/seal';

// Reads and writes whose retries find their own objects (conditional PUTs of deterministic bytes): retried
// without limit, so an S3 outage in the middle of a seal is waited out. Heartbeats let a dead worker's seal
// move to another worker within seconds, however large the hour. Verification failures are non-retryable.
const retry: RetryPolicy = {
  initialInterval: '1 second',
  maximumInterval: '1 minute',
  backoffCoefficient: 2,
};
const { sealHourParts, verifySealedHour, planSeal, commitSeal } = proxyActivities<Activities>({
  startToCloseTimeout: '1 hour',
  heartbeatTimeout: '1 minute',
  retry,
});
// A worker handed several shards runs seal.shardsPerWorker at a time and the rest wait in it, heartbeating:
// their start-to-close includes that wait, so it is hours; a dead worker is still noticed within a minute.
const { sealShard, verifySealShard } = proxyActivities<Activities>({
  startToCloseTimeout: '6 hours',
  heartbeatTimeout: '1 minute',
  retry,
});

// Cheap reads (a visibility query; LISTs of the recent hours against their manifests), retried a while.
const { pendingCapturesOf, lateSealedHours } = proxyActivities<Activities>({
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '1 minute',
  retry: { ...retry, maximumAttempts: 10 },
});

/** Versions one run writes while its hour keeps changing, before it continues as new (a short history). */
const MAX_PASSES = 5;

// The alert is best effort: a webhook that stays down must not keep the failed seal from ending.
const { notify } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 5, initialInterval: '2 seconds' },
});

/**
 * Seals one region's hour: its raw objects, every event ID once, as Parquet files plus a manifest that is
 * written only after the files were read back and matched the sources. One workflow per region and hour
 * (ID `seal-<region>-<YYYYMMDDHH>`). Sealing an hour sealed before writes the next version when raw objects
 * landed after it (late events: new parts of only the new IDs); otherwise it changes nothing and returns
 * the latest manifest.
 */
export async function sealHour(input: SealHourInput): Promise<SealResult> {
  const job = jobOf(input);
  const show = (phase: SealPhase, lines: string[], events?: number): void => {
    upsertSearchAttributes([
      { key: searchAttributes.phase, value: phase },
      { key: searchAttributes.region, value: job.region },
      ...(events === undefined ? [] : [{ key: searchAttributes.eventCount, value: events }]),
    ]);
    setCurrentDetails([`**${phase}** — ${job.region} ${job.hour}`, '', ...lines].join('\n'));
  };

  /**
   * A seal that cannot finish (a corrupt source, a verification mismatch) says why in the UI, alerts once
   * (patch `seal-failure-alert`: seals started before it fail without a command more), then fails.
   */
  const failing = async <T>(
    phase: 'writing' | 'verifying',
    lines: string[],
    step: Promise<T>,
  ): Promise<T> => {
    try {
      return await step;
    } catch (err) {
      const cause = err instanceof ApplicationFailure ? err : (err as { cause?: unknown }).cause;
      const reason = (cause as Error | undefined)?.message ?? String(err);
      show('failed', [...lines, '', `failed while ${phase}: ${reason}`]);
      if (!isCancellation(err) && patched('seal-failure-alert')) {
        await alertFailure(job, phase, (cause as ApplicationFailure | undefined)?.type ?? 'Error', reason);
      }
      throw err;
    }
  };

  show('writing', ['reading the raw objects of every bucket of the region, writing Parquet']);
  // Sharded by event ID hash; seals started before it replay the single-activity path below.
  if (patched('seal-shards')) {
    // Seals started before `seal-converge` seal once, without looking for pending or late batches.
    if (!patched('seal-converge')) return sealSharded(job, show, failing);
    if (input.hour === undefined) await resealLateHours(job);
    return sealUntilStable(job, input.passes ?? 0, show, failing);
  }

  const parts = await failing('writing', [], sealHourParts(job));
  if (parts.kind === 'empty') {
    show('empty', ['no raw object in this hour: nothing sealed'], 0);
    return { outcome: 'empty', unsealedSources: 0 };
  }
  if (parts.kind === 'already-sealed') {
    show('already-sealed', summaryLines(parts.summary, parts.unsealedSources), parts.summary.total.count);
    return { outcome: 'already-sealed', summary: parts.summary, unsealedSources: parts.unsealedSources };
  }

  const { draft } = parts;
  show('verifying', draftLines(draft), draft.total.count);
  const summary = await failing(
    'verifying',
    draftLines(draft),
    verifySealedHour({ draft, sealedAt: new Date().toISOString() }),
  );
  show('sealed', summaryLines(summary, 0), summary.total.count);
  return { outcome: 'sealed', summary, unsealedSources: 0 };
}

type Show = (phase: SealPhase, lines: string[], events?: number) => void;
type Failing = <T>(phase: 'writing' | 'verifying', lines: string[], step: Promise<T>) => Promise<T>;

/**
 * Patch `seal-converge`: seals the hour, then lists it again and seals the next version while batches landed
 * during the last one (a captured batch that landed mid-seal found no manifest, so it started no re-seal),
 * until a listing adds nothing; each pass is a version of its own. After a version is written, the hour's raw
 * retirement is started (patch `retire-raw`) when `seal.retainRawHours` is set.
 */
async function sealUntilStable(
  job: SealHourJob,
  passes: number,
  show: Show,
  failing: Failing,
): Promise<SealResult> {
  let wrote: SealResult | undefined;
  let retain: number | undefined;
  let result: SealResult;
  for (let pass = 0; ; pass++) {
    const r = await sealSharded(job, show, failing, {
      again: wrote !== undefined,
      onPlan: (p) => (retain = p.retainRawHours),
    });
    if (r.outcome !== 'sealed') {
      // The listing added nothing: this run's last version is the hour's (or an earlier run's, if none).
      result = wrote ? { ...wrote, summary: r.summary ?? wrote.summary } : r;
      break;
    }
    wrote = r;
    if (pass + 1 >= MAX_PASSES) {
      if (retain !== undefined && patched('retire-raw')) await startRetirement(job, retain);
      // Still changing: the next run goes on from here, with a history of its own.
      return continueAsNew<typeof sealHour>({ ...job, passes: passes + pass + 1 });
    }
  }
  if (wrote && retain !== undefined && patched('retire-raw')) await startRetirement(job, retain);
  return result;
}

/**
 * Raw retirement as a workflow of its own (`retire-<region>-<hour>`, ABANDON: it outlives the seal) that
 * waits on a durable timer until the retention passed: nothing needs to sweep for due hours, and each waiting
 * hour is visible in the UI. One already running (waiting) retires whatever version is latest when it wakes.
 */
async function startRetirement(job: SealHourJob, retainRawHours: number): Promise<void> {
  const { region, hour } = job;
  try {
    await startChild<typeof retireRawHour>('retireRawHour', {
      workflowId: retireWorkflowId(region, hour),
      args: [{ region, hour, retainRawHours }],
      parentClosePolicy: ParentClosePolicy.ABANDON,
      staticSummary: `Retire ${region} ${hour.slice(0, 13)}h raw objects ${retainRawHours} h after the hour`,
    });
  } catch (err) {
    if ((err as Error).name === 'WorkflowExecutionAlreadyStartedError') return;
    log.warn("could not start the hour's raw retirement", { region, hour, error: String(err) });
  }
}

/**
 * Scheduled runs (patch `seal-converge`): sealed hours still inside the ingest's accepted age window that raw
 * objects landed in after their seal (the fast path archives late events; no captureBatch re-seals those)
 * are sealed again, each by its own `seal-<region>-<hour>` workflow (ABANDON).
 */
async function resealLateHours(job: SealHourJob): Promise<void> {
  const { region } = job;
  setCurrentDetails(`**writing** — ${region} ${job.hour}\n\nlooking for sealed hours with late raw objects`);
  let hours: string[];
  try {
    hours = await lateSealedHours({ region, before: job.hour });
  } catch (err) {
    // Best effort: S3 refusing the listings must not keep this run from sealing its own hour.
    if (isCancellation(err)) throw err;
    log.warn('could not look for sealed hours with late raw objects', { region, error: String(err) });
    return;
  }
  for (const hour of hours) {
    try {
      await startChild<typeof sealHour>('sealHour', {
        workflowId: sealWorkflowId(region, hour),
        args: [{ region, hour }],
        parentClosePolicy: ParentClosePolicy.ABANDON,
        staticSummary: `Seal ${region} ${hour.slice(0, 13)}h again: raw objects landed after its seal`,
      });
    } catch (err) {
      // Already being sealed: that run's listing takes the late objects in.
      if ((err as Error).name === 'WorkflowExecutionAlreadyStartedError') continue;
      log.warn('could not seal a late hour again', { region, hour, error: String(err) });
    }
  }
}

/**
 * The sharded seal: plan (shard count from the hour's size), write every shard (at most `concurrency` at
 * once, on any worker), verify every shard, and only then commit the manifest. Each event ID belongs to
 * exactly one shard, so the shards' counts and digests add up to the hour's.
 */
async function sealSharded(
  job: SealHourJob,
  show: Show,
  failing: Failing,
  /** Patch `seal-converge`: a later pass of this run (`again`), and the pending captures in the manifest. */
  converge?: { again: boolean; onPlan(plan: SealPlan): void },
): Promise<SealResult> {
  const planned = await failing('writing', [], planSeal(job));
  if (planned.kind === 'empty') {
    show('empty', ['no raw object in this hour: nothing sealed'], 0);
    return { outcome: 'empty', unsealedSources: 0 };
  }
  if (planned.kind === 'already-sealed') {
    const { summary, unsealedSources } = planned;
    // A later pass that finds nothing new leaves the 'sealed' of the version this run wrote.
    if (!converge?.again) show('already-sealed', summaryLines(summary, unsealedSources), summary.total.count);
    return { outcome: 'already-sealed', summary, unsealedSources };
  }
  const { plan } = planned;
  converge?.onPlan(plan);
  const shards = Array.from({ length: plan.shards }, (_, i) => i);
  let done = 0;
  // Progress goes to the details only (no command per shard); the phase changes are search attributes.
  const progress = (phase: SealPhase, verb: string, more: string[] = []) =>
    setCurrentDetails(
      [
        `**${phase}** — ${job.region} ${job.hour}`,
        '',
        ...planLines(plan, `${done} of ${plan.shards} ${verb}`),
        ...more,
      ].join('\n'),
    );

  show('writing', planLines(plan, `0 of ${plan.shards} written`));
  let drafts = await failing(
    'writing',
    planLines(plan, 'writing'),
    mapLimit(shards, plan.concurrency, async (shard) => {
      const d = await sealShard({ plan, shard });
      done++;
      progress('writing', 'written');
      return d;
    }),
  );
  // Shards choose their bucket as the unsharded seal did (the first of the region that takes a PUT); the
  // rare shard that landed elsewhere (the home bucket refused it alone) writes again beside the others.
  const home = drafts.find((d) => d.parts.length > 0);
  const elsewhere = drafts.filter((d) => home && d.parts.length > 0 && d.bucket !== home.bucket);
  if (home && elsewhere.length > 0) {
    const target = { bucket: home.bucket, region: home.bucketRegion };
    drafts = await failing(
      'writing',
      planLines(plan, 'writing'),
      Promise.all(
        drafts.map(async (d) =>
          elsewhere.includes(d) ? sealShard({ plan: { ...plan, targets: [target] }, shard: d.shard }) : d,
        ),
      ),
    );
  }

  const sealed = shardTotal(drafts);
  done = 0;
  show('verifying', [...planLines(plan, `0 of ${plan.shards} verified`), ...shardLines(drafts)], sealed);
  await failing(
    'verifying',
    [...planLines(plan, 'verifying'), ...shardLines(drafts)],
    mapLimit(drafts, plan.concurrency, async (draft) => {
      await verifySealShard({ plan, draft });
      done++;
      progress('verifying', 'verified', shardLines(drafts));
    }),
  );
  // Captured batches of the hour still on their way: the manifest says so (each makes a new version).
  let pending: PendingCaptures | undefined;
  if (converge) {
    pending = await pendingCapturesOf({ region: job.region, hour: job.hour });
    progress('verifying', 'verified', [...shardLines(drafts), ...pendingLines(pending)]);
  }
  const summary = await failing(
    'verifying',
    [...planLines(plan, `${plan.shards} of ${plan.shards} verified`), ...shardLines(drafts)],
    commitSeal({
      plan,
      shards: drafts,
      sealedAt: new Date().toISOString(),
      ...(pending && { pending }),
    }),
  );
  show('sealed', [...summaryLines(summary, 0), `| shards | ${plan.shards} |`], summary.total.count);
  return { outcome: 'sealed', summary, unsealedSources: 0 };
}

/**
 * The hour to seal: the one given (the CLI), or for a scheduled run the last hour closed
 * `closedHourLagMinutes` before the run was due. A given input is handed on as it is, as before.
 */
function jobOf(input: SealHourInput): SealHourJob {
  if (input.hour !== undefined) return input as SealHourJob;
  if (input.closedHourLagMinutes === undefined)
    throw ApplicationFailure.create({
      type: 'InvalidSealInput',
      nonRetryable: true,
      message: 'sealHour needs an hour, or closedHourLagMinutes',
    });
  return {
    region: input.region,
    hour: closedHourOfRun(input.closedHourLagMinutes),
    ...(input.partRows !== undefined && { partRows: input.partRows }),
    ...(input.shards !== undefined && { shards: input.shards }),
  };
}

function pendingLines(p: PendingCaptures | undefined): string[] {
  if (!p || p.count === 0) return [];
  return [
    `| captured batches pending | ${p.count} (${p.workflowIds.join(', ')}): each makes a new version |`,
  ];
}

function retiredLines(s: SealSummary): string[] {
  if (!s.retired) return [];
  const r = s.retired;
  return [`| raw objects retired | ${r.objects} at ${r.at}, verified against version ${r.verifiedVersion} |`];
}

/** The hour's events as the shards counted them (their IDs are disjoint, so they add). */
const shardTotal = (drafts: SealShardDraft[]): number => drafts.reduce((n, d) => n + d.total.count, 0);

function planLines(p: SealPlan, shards: string): string[] {
  return [
    '| | |',
    '| --- | --- |',
    `| version | ${p.version}${p.late ? ` (${p.late.sources} late raw object(s))` : ''} |`,
    `| raw objects | ${p.sources.count} (${p.sources.bytes} bytes) |`,
    `| shards | ${shards} (${p.shards} by event ID hash, ${p.concurrency} at once) |`,
  ];
}

function shardLines(drafts: SealShardDraft[]): string[] {
  const parts = drafts.reduce((n, d) => n + d.parts.length, 0);
  const read = drafts.reduce((n, d) => n + d.eventsRead, 0);
  const added = drafts.reduce((n, d) => n + d.added, 0);
  return [
    `| events read | ${read} |`,
    `| events added | ${added} |`,
    `| events sealed | ${shardTotal(drafts)} |`,
    `| new Parquet files | ${parts} |`,
  ];
}

/** One `seal-failed` notification per failed run: what failed, in which phase, and what to do. */
async function alertFailure(input: SealHourJob, phase: string, type: string, reason: string): Promise<void> {
  const { workflowId, runId } = workflowInfo();
  try {
    await notify({
      kind: 'seal-failed',
      key: `${workflowId}/${runId}/failed`,
      title: `Seal of ${input.region} ${input.hour} failed while ${phase}: ${type}`,
      text:
        `Region ${input.region}, hour ${input.hour}, phase ${phase}: ${reason}\n` +
        `No new manifest was written (an earlier version, if any, stands); the raw objects are untouched. ` +
        `What to do for ${type}: ` +
        `docs/operations.md, "Sealed hours"; then \`stormproof seal --region ${input.region} ` +
        `--hour ${input.hour.slice(0, 13)}\` again. Workflow: \`${workflowId}\`.`,
    });
  } catch {
    // The failure stays visible (StormproofPhase = 'failed', the workflow's failure); the alert is best effort.
  }
}

function draftLines(d: SealDraft): string[] {
  return [
    '| | |',
    '| --- | --- |',
    `| raw objects | ${d.sources.count} |`,
    `| events read | ${d.eventsRead} |`,
    `| duplicates dropped | ${d.duplicatesDropped} |`,
    `| events sealed | ${d.total.count} |`,
    `| Parquet files | ${d.parts.length} in s3://${d.bucket}/ |`,
    ...deltaLines(d.version, d.delta),
  ];
}

/** A later version (late events): what its raw objects added to the version before. */
function deltaLines(version: number, delta: SealDelta | undefined): string[] {
  if (!delta) return [];
  return [
    `| version | ${version}: ${delta.sources} late raw object(s), ${delta.eventsRead} events read, ${delta.added} added to version ${version - 1} |`,
  ];
}

function summaryLines(s: SealSummary, unsealed: number): string[] {
  return [
    '| | |',
    '| --- | --- |',
    `| manifest | s3://${s.bucket}/${s.manifestKey} (version ${s.version}) |`,
    `| raw objects | ${s.sources} |`,
    `| events read | ${s.eventsRead} |`,
    `| duplicates dropped | ${s.duplicatesDropped} |`,
    `| events sealed | ${s.total.count} (digest ${s.total.digest}) |`,
    `| Parquet files | ${s.files} |`,
    `| sealed at | ${s.sealedAt} |`,
    ...deltaLines(s.version, s.delta),
    ...pendingLines(s.pending),
    ...retiredLines(s),
    ...(unsealed > 0 ? [`| raw objects not in the seal (late) | ${unsealed} |`] : []),
  ];
}
