/**
 * Sealing benchmark: one hour of `--events` events in objects of 1,000, plus resent objects holding 1% of
 * them again (duplicates to drop), archived with the real archive activity on a running stack
 * (STORMPROOF_CONFIG). Then seals it as workers would, each in a child process of its own with the worker's
 * heap limit (--max-old-space-size=256), and reports time and each child's peak RSS:
 *
 * - sharded (default): one child plans (planSeal), `--workers` children seal and verify the shards between
 *   them (sealShard, then verifySealShard, shard i on worker i mod workers), one child commits (commitSeal);
 * - `--unsharded`: one child runs sealHourParts and verifySealedHour, as seals before the patch did.
 *
 * With `--reconcile`, every event but 0.1% is also delivered to the stats API, and the hour is reconciled
 * (compareHours, then repairHour, in a child like the others) before the seal and again after it (the
 * replayed events forgotten in between), to compare reading the raw objects with reading the sealed hour.
 *
 *   STORMPROOF_CONFIG=.stack/test/stormproof.config.json npx tsx bench/seal-hour.ts [--events 200000] \
 *     [--workers 2] [--shard-bytes 4194304] [--unsharded] [--reconcile]
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { Command } from 'commander';
import { createActivities } from '../src/activities';
import type { CompareHoursResult } from '../src/activities/reconcile';
import type { SealPartsResult } from '../src/activities/seal';
import { createStatsApi, statsOptionsOf, toEventJson } from '../src/activities/stats';
import type { HourRepair } from '../src/shared/reconcile';
import { prepareBatch } from '../src/archive/format';
import { archiveBreakers } from '../src/archive/writer';
import { createAwsClients } from '../src/aws/clients';
import { loadConfig } from '../src/config/load';
import type { BatchManifest } from '../src/shared/batch';
import type { TrackingEvent } from '../src/shared/event';
import { mapLimit } from '../src/shared/mapLimit';
import type { SealHourJob, SealPlan, SealPlanResult, SealShardDraft, SealSummary } from '../src/shared/seal';
import { forgetStatsEvents } from '../src/stats-service/forget';
import { machineInfo } from './lib/measure';

const opts = new Command()
  .option('--events <n>', 'unique events in the hour', Number, 200_000)
  .option('--workers <n>', 'worker processes sealing the shards', Number, 2)
  .option('--unsharded', 'seal in one activity, as before the patch seal-shards')
  .option('--reconcile', 'also reconcile the hour (0.1% missing in the stats) before and after sealing')
  .option('--no-repair', 'with --reconcile: compare only (repairHour holds the hour in memory)')
  .option('--shard-bytes <n>', "seal.shardBytes for this run (default: the configuration's)", Number)
  .option('--hour <hour>', '(internal) the hour a child works on')
  .option('--step <step>', '(internal) plan | shards | commit | unsharded')
  .option('--worker <i>', '(internal) this child is worker i', Number)
  .option('--dir <dir>', '(internal) where the children hand over the plan and the drafts')
  .parse()
  .opts<{
    events: number;
    workers: number;
    unsharded?: boolean;
    reconcile?: boolean;
    repair: boolean;
    shardBytes?: number;
    hour?: string;
    step?: string;
    worker?: number;
    dir?: string;
  }>();

const REGION = 'us-east-1';
const BATCH = 1000;
const loaded = loadConfig();
const config = opts.shardBytes
  ? { ...loaded, seal: { ...loaded.seal, shardBytes: opts.shardBytes } }
  : loaded;
const aws = createAwsClients(config);
const breakers = archiveBreakers();
const acts = createActivities({ config, aws, breakers });
const quiet = () => new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });
const peakRssMiB = () => Math.round(process.resourceUsage().maxRSS / 1024);
const readJson = <T>(file: string): T => JSON.parse(readFileSync(file, 'utf8')) as T;

/** One step of the seal, in this (child) process; prints what it measured as JSON. */
async function child(hour: string, step: string, dir: string): Promise<void> {
  const t0 = Date.now();
  if (step === 'reconcile') {
    const compared = await quiet().run<
      [{ region: string; hours: string[] }],
      CompareHoursResult,
      typeof acts.compareHours
    >(acts.compareHours, { region: REGION, hours: [hour] });
    const comparedAt = Date.now();
    const differed = compared.hours.filter((h) => h.archive.count !== h.stats.count).length;
    if (!opts.repair) return print({ step, compareMs: comparedAt - t0, differed, peakRssMiB: peakRssMiB() });
    const repair = await quiet().run<[{ region: string; hour: string }], HourRepair, typeof acts.repairHour>(
      acts.repairHour,
      { region: REGION, hour },
    );
    return print({
      step,
      compareMs: comparedAt - t0,
      differed,
      repairMs: Date.now() - comparedAt,
      objectsRead: repair.objectsRead,
      sealed: repair.sealed,
      eventsRead: repair.eventsRead,
      replayed: repair.replayed,
      peakRssMiB: peakRssMiB(),
    });
  }
  if (step === 'unsharded') {
    const parts = await quiet().run<[SealHourJob], SealPartsResult, typeof acts.sealHourParts>(
      acts.sealHourParts,
      { region: REGION, hour },
    );
    if (parts.kind !== 'draft') throw new Error(`expected a draft, got ${parts.kind}`);
    const written = Date.now();
    const summary = await quiet().run<
      [{ draft: typeof parts.draft; sealedAt: string }],
      SealSummary,
      typeof acts.verifySealedHour
    >(acts.verifySealedHour, { draft: parts.draft, sealedAt: new Date().toISOString() });
    const done = Date.now();
    return print({
      step,
      writeMs: written - t0,
      verifyMs: done - written,
      summary,
      peakRssMiB: peakRssMiB(),
    });
  }
  if (step === 'plan') {
    const planned = await quiet().run<[SealHourJob], SealPlanResult, typeof acts.planSeal>(acts.planSeal, {
      region: REGION,
      hour,
    });
    if (planned.kind !== 'plan') throw new Error(`expected a plan, got ${planned.kind}`);
    writeFileSync(join(dir, 'plan.json'), JSON.stringify(planned.plan));
    const { shards, sources } = planned.plan;
    return print({ step, ms: Date.now() - t0, shards, sources, peakRssMiB: peakRssMiB() });
  }
  const plan = readJson<SealPlan>(join(dir, 'plan.json'));
  if (step === 'shards') {
    const mine = Array.from({ length: plan.shards }, (_, i) => i).filter(
      (i) => i % opts.workers === opts.worker,
    );
    const drafts: SealShardDraft[] = [];
    for (const shard of mine) {
      drafts.push(
        await quiet().run<[{ plan: SealPlan; shard: number }], SealShardDraft, typeof acts.sealShard>(
          acts.sealShard,
          { plan, shard },
        ),
      );
    }
    const written = Date.now();
    for (const draft of drafts) await quiet().run(acts.verifySealShard, { plan, draft });
    writeFileSync(join(dir, `drafts-${opts.worker}.json`), JSON.stringify(drafts));
    return print({
      step,
      worker: opts.worker,
      shards: mine,
      events: drafts.reduce((n, d) => n + d.total.count, 0),
      writeMs: written - t0,
      verifyMs: Date.now() - written,
      peakRssMiB: peakRssMiB(),
    });
  }
  const drafts = Array.from({ length: opts.workers }, (_, w) =>
    readJson<SealShardDraft[]>(join(dir, `drafts-${w}.json`)),
  )
    .flat()
    .sort((a, b) => a.shard - b.shard);
  const summary = await quiet().run(acts.commitSeal, {
    plan,
    shards: drafts,
    sealedAt: new Date().toISOString(),
  });
  return print({ step, ms: Date.now() - t0, summary, peakRssMiB: peakRssMiB() });
}

function print(result: object): void {
  console.log(JSON.stringify(result));
}

/** Runs one step in a child process with the worker's heap limit; answers what it printed. */
async function runChild(
  hour: string,
  dir: string,
  step: string,
  worker?: number,
): Promise<Record<string, unknown>> {
  const args = ['--max-old-space-size=256', '--import', 'tsx', __filename, '--hour', hour, '--step', step];
  args.push('--dir', dir, '--workers', String(opts.workers));
  if (worker !== undefined) args.push('--worker', String(worker));
  if (opts.shardBytes) args.push('--shard-bytes', String(opts.shardBytes));
  if (!opts.repair) args.push('--no-repair');
  const child = promisify(execFile)(process.execPath, args, { encoding: 'utf8', maxBuffer: 1 << 24 });
  child.child.stderr?.pipe(process.stderr);
  const { stdout } = await child;
  return JSON.parse(stdout.trim().split('\n').pop()!) as Record<string, unknown>;
}

async function archiveHour(): Promise<{ hour: string; event: (i: number) => TrackingEvent }> {
  const run = Math.random().toString(36).slice(2, 8);
  const hourMs = Date.UTC(2031, 0, 1) + Math.floor(Math.random() * 20 * 365 * 24) * 3_600_000;
  const hour = new Date(hourMs).toISOString();
  const event = (i: number): TrackingEvent => ({
    id: `${run}-${i}`,
    type: i % 20 === 0 ? 'conversion' : 'click',
    timestamp: new Date(hourMs + ((i * 997) % 3_600_000)).toISOString(),
    region: REGION,
    offerId: `offer-${i % 17}`,
    affiliateId: `aff-${i % 5}`,
    attributes: {
      ip: '203.0.113.7',
      ua: 'Mozilla/5.0 (X11; Linux x86_64)',
      revenue: i % 20 === 0 ? 1.25 : null,
    },
  });
  // Objects of 1,000 unique events, then resent objects: every 100th object again under another batch ID.
  const batches: { id: string; from: number }[] = [];
  for (let from = 0; from < opts.events; from += BATCH) batches.push({ id: `${run}-b${from}`, from });
  for (let from = 0; from < opts.events; from += BATCH * 100) batches.push({ id: `${run}-r${from}`, from });
  const t0 = Date.now();
  await mapLimit(batches, 8, async ({ id, from }) => {
    const events = Array.from({ length: Math.min(BATCH, opts.events - from) }, (_, i) => event(from + i));
    const { manifest, body } = await prepareBatch({ batchId: id, region: REGION, hour, events });
    await quiet().run((m: BatchManifest, b: Uint8Array) => acts.archiveEvents(m, b), manifest, body);
  });
  console.error(
    `archived ${batches.length} objects in ${((Date.now() - t0) / 1000).toFixed(1)} s; sealing ${hour}`,
  );
  return { hour, event };
}

/** Every 1,000th event: what the stats API is made to miss for `--reconcile`. */
const isMissing = (i: number): boolean => i % 1000 === 999;

/** Delivers every event of the hour but the missing ones to the stats API, as the pipeline would have. */
async function deliverAllButMissing(event: (i: number) => TrackingEvent): Promise<void> {
  const stats = createStatsApi(statsOptionsOf(config), () => AbortSignal.timeout(120_000));
  const chunks: number[] = [];
  for (let from = 0; from < opts.events; from += 5000) chunks.push(from);
  const t0 = Date.now();
  await mapLimit(chunks, 4, async (from) => {
    const lines: string[] = [];
    for (let i = from; i < Math.min(from + 5000, opts.events); i++)
      if (!isMissing(i)) lines.push(toEventJson(event(i)));
    await stats.deliverLines(REGION, lines);
  });
  console.error(`delivered to the stats API in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

/** Makes the stats API forget the missing events again (its admin route), so the next reconcile repairs them. */
async function forgetMissing(event: (i: number) => TrackingEvent): Promise<void> {
  const statsUrl = config.regions.find((r) => r.name === REGION)!.statsUrl;
  const ids: string[] = [];
  for (let i = 0; i < opts.events; i++) if (isMissing(i)) ids.push(event(i).id);
  await forgetStatsEvents(statsUrl, ids);
}

async function main(): Promise<void> {
  if (opts.step) return child(opts.hour!, opts.step, opts.dir ?? '');
  const { hour, event } = await archiveHour();
  if (opts.reconcile) await deliverAllButMissing(event);
  breakers.shutdown();
  aws.destroy();
  const dir = mkdtempSync(join(tmpdir(), 'seal-bench-'));
  try {
    console.log(machineInfo());
    if (opts.reconcile) {
      print({ when: 'before the seal', ...(await runChild(hour, dir, 'reconcile')) });
      if (opts.repair) await forgetMissing(event);
    }
    if (opts.unsharded) {
      print(await runChild(hour, dir, 'unsharded'));
      if (opts.reconcile) print({ when: 'after the seal', ...(await runChild(hour, dir, 'reconcile')) });
      return;
    }
    const t0 = Date.now();
    print(await runChild(hour, dir, 'plan'));
    const workers = await Promise.all(
      Array.from({ length: opts.workers }, (_, w) => runChild(hour, dir, 'shards', w)),
    );
    for (const w of workers) print(w);
    print(await runChild(hour, dir, 'commit'));
    print({ totalMs: Date.now() - t0, maxPeakRssMiB: Math.max(...workers.map((w) => Number(w.peakRssMiB))) });
    if (opts.reconcile) print({ when: 'after the seal', ...(await runChild(hour, dir, 'reconcile')) });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main()
  .then(() => {
    breakers.shutdown();
    aws.destroy();
  })
  .catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
