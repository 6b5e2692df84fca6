/**
 * Reconciliation benchmark: a window of 1,000,000 archived events (2 regions × 12 hours, ~1,000 objects of
 * 1,000 events) of which 0.1% never reached the stats API, concentrated in 3 (region, hour) buckets as an
 * outage leaves them. Builds the fixture on a stack of its own (profile `bench`) with the real archive
 * activity and the real delivery activity, then times `reconcileWindow` run by a worker process, checks
 * it read only the objects of the differing buckets and ended exactly equal, runs it a second time (must
 * change nothing), and reports peak RSS per process.
 *
 *   npx tsx bench/reconcile-window.ts [--events 1000000] [--missing 1000] [--hours 12]
 */
import { createWriteStream } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { Command } from 'commander';
import { createActivities } from '../src/activities';
import { archiveBreakers } from '../src/archive/writer';
import {
  createStatsApi,
  statsOptionsOf,
  toEventJson,
  type Bucket,
  type FetchStatsBucketsInput,
} from '../src/activities/stats';
import { createAwsClients } from '../src/aws/clients';
import { connectClient } from '../src/client/connect';
import { startReconcile } from '../src/client/reconcile';
import { loadConfig } from '../src/config/load';
import type { BatchManifest } from '../src/shared/batch';
import { prepareBatch } from '../src/archive/format';
import type { TrackingEvent } from '../src/shared/event';
import { IdDigest } from '../src/archive/idDigest';
import { mapLimit } from '../src/shared/mapLimit';
import { HOUR_MS, type ReconcileReport } from '../src/shared/reconcile';
import { startNodeProcess, stopProcess } from '../src/stack/nodeProcess';
import { repoRoot, stateDir } from '../src/stack/paths';
import { readState } from '../src/stack/stack';
import { machineInfo, peakRssMiB, treeOf } from './lib/measure';

const opts = new Command()
  .option('--events <n>', 'events in the window', Number, 1_000_000)
  .option('--missing <n>', 'events never delivered to the stats API', Number, 1000)
  .option('--hours <n>', 'hours in the window (per region)', Number, 12)
  .parse()
  .opts<{ events: number; missing: number; hours: number }>();

const REGIONS = ['us-east-1', 'us-west-2'];
const BATCH = 1000;
const stack = (...args: string[]) =>
  execFileSync(join(repoRoot, 'node_modules/.bin/tsx'), [join(repoRoot, 'src/stack/cli.ts'), ...args], {
    stdio: 'inherit',
  });
const quiet = () => new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });

function bucketEvents(region: string, hourMs: number, n: number, run: string): TrackingEvent[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `${run}-${region}-${hourMs}-${i}`,
    type: i % 20 === 0 ? 'conversion' : 'click',
    timestamp: new Date(hourMs + Math.floor((i * HOUR_MS) / n)).toISOString(),
    region,
    offerId: `offer-${i % 97}`,
    affiliateId: `aff-${i % 13}`,
    attributes: {
      ip: '198.51.100.23',
      ua: 'Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0',
      sub1: `s${i % 1000}`,
    },
  }));
}

async function main(): Promise<void> {
  stack('up', '--profile', 'bench');
  process.env.STORMPROOF_CONFIG = join(stateDir('bench'), 'stormproof.config.json');
  const taskQueue = `bench-${randomUUID().slice(0, 8)}`;
  const base = loadConfig();
  const config = { ...base, temporal: { ...base.temporal, taskQueue } };
  const log = createWriteStream(join(stateDir('bench'), 'logs', 'bench-processes.log'));
  const worker = startNodeProcess(
    'src/worker.ts',
    {
      STORMPROOF_CONFIG: process.env.STORMPROOF_CONFIG,
      STORMPROOF_TASK_QUEUE: taskQueue,
      STORMPROOF_LOG_LEVEL: 'warn',
    },
    log,
  );
  const { client, close } = await connectClient(config);
  const aws = createAwsClients(config);
  const breakers = archiveBreakers();
  const acts = createActivities({ config, aws, breakers });
  const stats = createStatsApi(statsOptionsOf(config), () => new AbortController().signal);
  const processes = [
    { name: 'worker', pid: worker.pid! },
    { name: 'bench driver (fixture + client)', pid: process.pid },
    ...readState('bench')!.processes.map((p) => ({ name: p.name, pid: p.pid })),
  ];
  const rss: Record<string, number> = {};
  const sample = () => {
    for (const p of processes) {
      const peak = Math.max(0, ...treeOf(p.pid).map((pid) => peakRssMiB(pid) ?? 0));
      rss[p.name] = Math.max(rss[p.name] ?? 0, peak);
    }
  };
  const sampler = setInterval(sample, 500);

  try {
    // Fixture: a random far-future window, so nothing else lives in it.
    const run = randomUUID().slice(0, 8);
    const from = Date.UTC(2040, 0, 1) + Math.floor(Math.random() * 20 * 365 * 24) * HOUR_MS;
    const perBucket = Math.round(opts.events / (REGIONS.length * opts.hours));
    const lossy = [
      { region: REGIONS[0]!, hour: 2 % opts.hours, share: 0.4 },
      { region: REGIONS[0]!, hour: 7 % opts.hours, share: 0.3 },
      { region: REGIONS[1]!, hour: 10 % opts.hours, share: 0.3 },
    ];
    const fixtureStart = Date.now();
    let total = 0;
    let objects = 0;
    let missingTotal = 0;
    const expected = new Map<string, { count: number; digest: string }>();
    for (const region of REGIONS) {
      for (let h = 0; h < opts.hours; h++) {
        const hourMs = from + h * HOUR_MS;
        const events = bucketEvents(region, hourMs, perBucket, run);
        const batches = Array.from({ length: Math.ceil(events.length / BATCH) }, (_, i) =>
          events.slice(i * BATCH, (i + 1) * BATCH),
        );
        await mapLimit(batches, 8, async (batch) => {
          const { manifest, body } = await prepareBatch({
            batchId: `${run}-${region}-${h}-${randomUUID().slice(0, 8)}`,
            region,
            hour: new Date(hourMs).toISOString(),
            events: batch,
          });
          return quiet().run((m: BatchManifest, b: Uint8Array) => acts.archiveEvents(m, b), manifest, body);
        });
        objects += batches.length;
        const loss = lossy.find((l) => l.region === region && l.hour === h);
        const missing = loss ? Math.round(opts.missing * loss.share) : 0;
        missingTotal += missing;
        // Every (perBucket/missing)-th event never reaches the stats API: spread over the whole hour.
        const step = missing > 0 ? Math.floor(events.length / missing) : 0;
        const delivered =
          missing > 0 ? events.filter((_, i) => i % step !== 0 || i / step >= missing) : events;
        const chunks = Array.from({ length: Math.ceil(delivered.length / 5000) }, (_, i) =>
          delivered.slice(i * 5000, (i + 1) * 5000),
        );
        await mapLimit(chunks, 4, (chunk) => stats.deliverLines(region, chunk.map(toEventJson)));
        expected.set(`${region}/${hourMs}`, {
          count: events.length,
          digest: IdDigest.of(events.map((e) => e.id)).toHex(),
        });
        total += events.length;
      }
      console.log(`fixture: ${region} done (${total} events, ${objects} objects so far)`);
    }
    const fixtureSeconds = (Date.now() - fixtureStart) / 1000;
    const differingObjects = lossy.length * Math.ceil(perBucket / BATCH);
    console.log(
      `fixture: ${total} events in ${objects} objects, ${missingTotal} never delivered, built in ${fixtureSeconds.toFixed(0)} s`,
    );

    const window = {
      from: new Date(from).toISOString(),
      to: new Date(from + opts.hours * HOUR_MS).toISOString(),
      regions: REGIONS,
      options: { settleMs: 1000 },
    };
    const timed = async (): Promise<{ report: ReconcileReport; seconds: number }> => {
      const started = Date.now();
      const { handle } = await startReconcile(client, config, window);
      const report = await handle.result();
      return { report, seconds: (Date.now() - started) / 1000 };
    };
    const first = await timed();
    console.log(`first run: ${first.seconds.toFixed(1)} s`, JSON.stringify(first.report));
    const second = await timed();
    console.log(`second run: ${second.seconds.toFixed(1)} s`, JSON.stringify(second.report));
    sample();

    let unequal = 0;
    for (const region of REGIONS) {
      const query: FetchStatsBucketsInput = { region, granularity: 'hour', from: window.from, to: window.to };
      const buckets: Bucket[] = await stats.buckets(query);
      if (buckets.length !== opts.hours) unequal++;
      for (const b of buckets) {
        const e = expected.get(`${region}/${Date.parse(b.start)}`);
        if (!e || e.count !== b.count || e.digest !== b.digest) unequal++;
      }
    }
    const result = {
      machine: machineInfo(),
      window: { events: total, objects, buckets: REGIONS.length * opts.hours, missing: missingTotal },
      fixtureSeconds,
      firstRun: {
        seconds: first.seconds,
        bucketsCompared: first.report.bucketsCompared,
        bucketsDiffered: first.report.bucketsDiffered,
        objectsRead: first.report.objectsRead,
        objectsOfDifferingBuckets: differingObjects,
        eventsReplayed: first.report.eventsReplayed,
        iterations: first.report.iterations,
        verdict: first.report.verdict,
      },
      secondRun: {
        seconds: second.seconds,
        objectsRead: second.report.objectsRead,
        eventsReplayed: second.report.eventsReplayed,
        verdict: second.report.verdict,
      },
      statsBucketsUnequalAfter: unequal,
      peakRssMiB: rss,
    };
    console.log(JSON.stringify(result, null, 2));
    const ok =
      first.report.verdict === 'equal' &&
      first.report.eventsReplayed === missingTotal &&
      first.report.objectsRead === differingObjects &&
      second.report.eventsReplayed === 0 &&
      second.report.objectsRead === 0 &&
      unequal === 0;
    if (!ok) process.exitCode = 1;
  } finally {
    clearInterval(sampler);
    breakers.shutdown();
    aws.destroy();
    await close();
    await stopProcess(worker);
    stack('down', '--profile', 'bench');
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
