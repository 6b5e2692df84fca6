/**
 * Load benchmark of the archive path: drives the HTTP ingest at a fixed rate for a fixed time on a stack of
 * its own (profile `bench`), then waits until every accepted event is archived and delivered, checks that
 * each is in S3 and counted by the stats API exactly once, reads what the run cost Temporal from the server
 * (workflow histories of the run's task queue, frontend requests), and compares with a baseline that does the
 * same work (validate, gzip, PUT, POST to the stats) with no durability bookkeeping, in the same run.
 *
 *   npx tsx bench/ingest-load.ts [--rate 20000] [--seconds 60] [--warmup-seconds 3] [--prime-seconds 0] [--concurrency N] [--request-events 500]
 *                                [--linger-ms N] [--no-seal-when-idle] [--cpu-prof DIR] [--ingest-flags F] [--worker-flags F]
 *                                [--code DIR]   # run the worker and ingest of another checkout (old code)
 *                                [--s3 versitygw|moto] [--port-offset N]
 *                                [--caps] [--decisions N]  # caps on every event; click decisions per second
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createWriteStream, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { Command, Option } from 'commander';
import { Pool } from 'undici';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { temporal as proto } from '@temporalio/proto';
import type { Client } from '@temporalio/client';
import { decodeBatch } from '../src/archive/format';
import { createAwsClients, type AwsClients } from '../src/aws/clients';
import { connectClient } from '../src/client/connect';
import { CapsClient } from '../src/client/caps';
import { loadConfig } from '../src/config/load';
import type { AppConfig } from '../src/config/schema';
import { readSecret } from '../src/config/secrets';
import { hourOf } from '../src/shared/batch';
import { trackingEventSchema, type TrackingEvent } from '../src/shared/event';
import {
  INGEST_NODE_FLAGS,
  WORKER_NODE_FLAGS,
  startNodeProcess,
  stopProcess,
} from '../src/stack/nodeProcess';
import { LOCAL_S3_SERVERS, faultProxyListeners, type LocalS3Server } from '../src/config/localStack';
import { repoRoot, stateDir } from '../src/stack/paths';
import { resolveProfile } from '../src/stack/profiles';
import { readState } from '../src/stack/stack';
import { waitUntil } from '../src/util/waitUntil';
import { cpuSeconds, histogramQuantile, machineInfo, peakRssMiB, percentile } from './lib/measure';

const opts = new Command()
  .option('--rate <n>', 'events per second offered', Number, 20_000)
  .addOption(
    new Option('--s3 <server>', "the bench stack's S3 server").choices(LOCAL_S3_SERVERS).default('versitygw'),
  )
  .option('--port-offset <n>', "move the bench stack's ports (default: the bench profile's)", Number)
  .option('--seconds <n>', 'duration of the load', Number, 60)
  .option('--request-events <n>', 'events per HTTP request', Number, 500)
  .option(
    '--warmup-seconds <n>',
    'the first seconds of the load: checked like the rest, left out of the latency percentiles (reported apart)',
    Number,
    3,
  )
  .option(
    '--prime-seconds <n>',
    'before the load, this many seconds at a quarter of its rate (first connections, JIT, with --caps the ' +
      "ledgers' first grants), drained before the load starts: checked like the rest, left out of every figure",
    Number,
    0,
  )
  .option(
    '--concurrency <n>',
    'closed loop instead of --rate: this many senders, each sending its next request once the last is answered',
    Number,
  )
  .option('--linger-ms <n>', "the ingest's batch linger time (default: the configuration's)", Number)
  .option('--no-seal-when-idle', 'every batch waits its whole linger (no group commit)')
  .option('--cpu-prof <dir>', 'write V8 CPU profiles of the worker and the ingest into this directory')
  .option('--ingest-flags <flags>', "the ingest's node flags, space-separated (default: INGEST_NODE_FLAGS)")
  .option('--worker-flags <flags>', "the worker's node flags, space-separated (default: WORKER_NODE_FLAGS)")
  .option('--code <dir>', 'checkout whose worker and ingest to run (e.g. a worktree of the previous version)')
  .option(
    '--code-config-as-is',
    "give --code this checkout's configuration unchanged (a version with the same settings)",
  )
  .option('--json <file>', 'also write the report to this file')
  .option('--caps', 'a clicks and a conversions cap on each of the 97 offers: every event is judged')
  .option('--decisions <n>', 'after the load, click decisions per second for 20 s (needs --caps)', Number)
  .parse()
  .opts<{
    rate: number;
    seconds: number;
    requestEvents: number;
    warmupSeconds: number;
    primeSeconds: number;
    concurrency?: number;
    lingerMs?: number;
    sealWhenIdle: boolean;
    cpuProf?: string;
    ingestFlags?: string;
    workerFlags?: string;
    code?: string;
    codeConfigAsIs?: boolean;
    json?: string;
    s3: LocalS3Server;
    portOffset?: number;
    caps?: boolean;
    decisions?: number;
  }>();

// The older configuration (olderConfig) is of a version before caps: a caps run of it would run uncapped.
if (opts.caps && opts.code && !opts.codeConfigAsIs) {
  console.error(
    'ingest-load: --caps with --code needs --code-config-as-is (a version with caps and these settings)',
  );
  process.exit(2);
}
if (opts.decisions && !opts.caps) {
  console.error('ingest-load: --decisions needs --caps (decisions answer from the caps an ingest holds)');
  process.exit(2);
}

const OFFERS = 97;
const AFFILIATES = 13;

const REGIONS = ['us-east-1', 'us-west-2'];
const gzipAsync = promisify(gzip);
const EventType = proto.api.enums.v1.EventType;
const stack = (...args: string[]) =>
  execFileSync(join(repoRoot, 'node_modules/.bin/tsx'), [join(repoRoot, 'src/stack/cli.ts'), ...args], {
    stdio: 'inherit',
  });

/** The i-th event of request `seq` of this run: the IDs the check expects back, one by one. */
const eventId = (run: string, seq: number, i: number): string => `${run}-${seq}-${i}`;

/**
 * Requests come in SHIFTS kinds, the offers of the k-th shifted by 5k: the conversions of a request (every
 * 20th event, 25 in a request of at least 481) fall on 25 offers, and the four kinds' together on all 97, so
 * every conversions cap of a --caps run spends (an idle one would be given back inside the measured window).
 */
const SHIFTS = 4;

function sampleEvent(id: string, timestamp: string, region: string, i: number, shift: number): TrackingEvent {
  return {
    id,
    type: i % 20 === 0 ? 'conversion' : 'click',
    timestamp,
    region,
    offerId: `offer-${(i + 5 * shift) % OFFERS}`,
    affiliateId: `aff-${i % AFFILIATES}`,
    attributes: {
      ip: '198.51.100.23',
      ua: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) Safari/605.1.15',
      sub1: `s${i}`,
    },
  };
}

/**
 * NDJSON request bodies made from pre-serialised templates (one per shift, position and region), so the load
 * generator spends its share of the 2 cores on sending rather than on JSON.stringify of every event.
 */
function requestBodies(n: number): (run: string, seq: number, timestamp: string) => string {
  const ID = '\u0000id\u0000';
  const TS = '\u0000ts\u0000';
  const templates = Array.from({ length: SHIFTS }, (_, shift) =>
    Array.from({ length: n }, (_, i) =>
      REGIONS.map((region) =>
        JSON.stringify(sampleEvent(ID, TS, region, i, shift)).split(/\\u0000(?:id|ts)\\u0000/),
      ),
    ),
  );
  const mod = (x: number, m: number): number => ((x % m) + m) % m;
  return (run, seq, timestamp) => {
    const shifted = templates[mod(seq, SHIFTS)]!;
    let body = '';
    for (let i = 0; i < n; i++) {
      const [a, b, c] = shifted[i]![mod(seq + i, REGIONS.length)]!;
      body += `${a}${eventId(run, seq, i)}${b}${timestamp}${c}\n`;
    }
    return body;
  };
}

async function main(): Promise<void> {
  const offset = opts.portOffset === undefined ? [] : ['--port-offset', String(opts.portOffset)];
  stack('up', '--profile', 'bench', '--s3', opts.s3, ...offset);
  // The product talks to S3 and the stats services directly, as it would to AWS and a real stats API:
  // the local stack's fault proxy is a testing tool whose extra hop would only eat the machine's CPU.
  process.env.STORMPROOF_CONFIG = join(stateDir('bench'), 'stormproof.config.json');
  const stackConfig = loadConfig();
  const upstreams = new Map(
    faultProxyListeners(resolveProfile('bench', { offset: opts.portOffset }).ports, opts.s3).map((l) => [
      l.name,
      l.upstream,
    ]),
  );
  const direct = {
    ...stackConfig,
    regions: stackConfig.regions.map((r) => ({
      ...r,
      s3Endpoint: upstreams.get(`s3-${r.name}`),
      statsUrl: upstreams.get(`stats-${r.name}`)!,
    })),
    route53: { ...stackConfig.route53, endpoint: upstreams.get('route53') },
    ingest: {
      ...stackConfig.ingest,
      lingerMs: opts.lingerMs ?? stackConfig.ingest.lingerMs,
      sealWhenIdle: opts.sealWhenIdle,
    },
    // With --caps, the worker's cache holds the 194 ledgers (docs/operations.md, sizing): else each renewal
    // of an evicted ledger replays its history.
    temporal: {
      ...stackConfig.temporal,
      maxCachedWorkflows: opts.caps ? 400 : stackConfig.temporal.maxCachedWorkflows,
    },
    // A registry of the run's own: with --caps it holds a cap on every event, without it none.
    caps: { ...stackConfig.caps, registryWorkflowId: `bench-caps-${randomUUID().slice(0, 8)}` },
  };
  process.env.STORMPROOF_CONFIG = join(stateDir('bench'), 'bench.config.json');
  writeFileSync(process.env.STORMPROOF_CONFIG, JSON.stringify(direct, null, 2));
  // Older code validates its configuration strictly and knows no fast-path settings.
  const codeConfig = join(stateDir('bench'), 'bench.code.config.json');
  writeFileSync(
    codeConfig,
    JSON.stringify(opts.code && !opts.codeConfigAsIs ? olderConfig(direct) : direct, null, 2),
  );
  const taskQueue = `bench-${randomUUID().slice(0, 8)}`;
  const config = { ...loadConfig(), temporal: { ...loadConfig().temporal, taskQueue } };
  const env = {
    STORMPROOF_CONFIG: codeConfig,
    STORMPROOF_TASK_QUEUE: taskQueue,
    STORMPROOF_LOG_LEVEL: 'warn',
  };
  const log = createWriteStream(join(stateDir('bench'), 'logs', 'bench-processes.log'));
  // Profiles are written when a process exits cleanly (both stop on SIGTERM); open them in Chrome DevTools.
  const profile = opts.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${opts.cpuProf}`] : [];
  const code = opts.code ?? repoRoot;
  const workerFlags = opts.workerFlags?.split(' ').filter(Boolean) ?? WORKER_NODE_FLAGS;
  const worker = startNodeProcess('src/worker.ts', env, log, [...workerFlags, ...profile], code);
  // The ingest's own flags for this checkout; an older checkout (--code) runs the way it shipped, without them.
  const ingestFlags =
    opts.ingestFlags?.split(' ').filter(Boolean) ?? (code === repoRoot ? INGEST_NODE_FLAGS : []);
  // With --caps, the ingest starts once the caps exist (it reads them before it listens), which needs the
  // worker (the registry is a workflow).
  const workerMetricsUrl =
    config.metrics && `http://${config.metrics.host}:${config.metrics.workerPort}/metrics`;
  if (opts.caps) {
    const workerUp = await waitUntil(
      () =>
        !workerMetricsUrl ||
        fetch(workerMetricsUrl, { signal: AbortSignal.timeout(1000) }).then(
          (r) => r.ok,
          () => false,
        ),
      120_000,
    );
    if (!workerUp) throw new Error('the worker did not come up');
    await createBenchCaps(config);
  }
  const ingest = startNodeProcess('src/ingest/main.ts', env, log, [...ingestFlags, ...profile], code);
  const temporalMetrics = `http://127.0.0.1:${resolveProfile('bench', { offset: opts.portOffset }).ports.temporalMetrics}/metrics`;
  const ingestUrl = `http://${config.ingest.host}:${config.ingest.port}`;
  const tokenSource = config.ingestAuth?.tokens?.[0];
  const ingestToken = tokenSource && readSecret(tokenSource).value;
  if (!ingestToken) throw new Error('the bench stack configures no ingestAuth token');
  const { client, close } = await connectClient(config);
  const aws = createAwsClients(config);
  const rss = { worker: 0, ingest: 0 };
  const sampler = setInterval(() => {
    rss.worker = Math.max(rss.worker, peakRssMiB(worker.pid!) ?? 0);
    rss.ingest = Math.max(rss.ingest, peakRssMiB(ingest.pid!) ?? 0);
  }, 500);

  try {
    // Both processes ready: the ingest answers health, and the worker has built its workflow bundle (its
    // metrics endpoint opens just before it starts polling). Load offered while the worker still bundles
    // measures the bundling, not the archive path.
    const workerMetrics =
      config.metrics && `http://${config.metrics.host}:${config.metrics.workerPort}/metrics`;
    const answers = async (url: string | undefined): Promise<boolean> => {
      if (!url) return true;
      try {
        return (await fetch(url, { signal: AbortSignal.timeout(1000) })).ok;
      } catch {
        return false;
      }
    };
    const up = await waitUntil(
      async () => (await answers(`${ingestUrl}/v1/health`)) && (await answers(workerMetrics)),
      120_000,
    );
    if (!up) throw new Error('ingest or worker did not come up');

    // The load: open-loop at --rate (slowness shows as latency), or closed-loop with --concurrency.
    const run = randomUUID().slice(0, 8);
    const requestsPerSecond = opts.rate / opts.requestEvents;
    let total = Math.round(requestsPerSecond * opts.seconds);
    const primeRequests = Math.round((requestsPerSecond / 4) * opts.primeSeconds);
    const latencies: number[] = [];
    // A fresh process's first seconds (JIT, first connections, first region-control read) are a cold start,
    // not the steady state the percentiles describe; they are reported on their own.
    const warmupLatencies: number[] = [];
    const warmupRequests = Math.round(requestsPerSecond * opts.warmupSeconds);
    let accepted = 0;
    let refused = 0;
    let connectionErrors = 0;
    const requestBody = requestBodies(opts.requestEvents);
    const hours = new Set<string>();
    const send = async (seq: number, ndjson: string): Promise<void> => {
      for (;;) {
        const started = performance.now();
        let res: Response;
        try {
          res = await fetch(`${ingestUrl}/v1/events`, {
            method: 'POST',
            headers: { 'content-type': 'application/x-ndjson', authorization: `Bearer ${ingestToken}` },
            body: ndjson,
            signal: AbortSignal.timeout(60_000),
          });
        } catch {
          // No answer: the events may or may not have been accepted; a sender resends (the batch IDs are
          // new, so a resent event can be archived twice, which the check below would report).
          connectionErrors++;
          await new Promise((r) => setTimeout(r, 1000));
          continue;
        }
        const answered = performance.now(); // the answer's headers, before this process reads its body
        const body = (await res.json()) as { accepted?: number };
        if (res.status === 200) {
          if (seq < 0) return; // primed: checked below, left out of every figure
          (seq < warmupRequests ? warmupLatencies : latencies).push(answered - started);
          accepted += body.accepted ?? 0;
          return;
        }
        if (res.status !== 503) throw new Error(`request ${seq}: HTTP ${res.status} ${JSON.stringify(body)}`);
        if (seq >= 0) refused++; // overload is refused, never queued: resend after Retry-After, as a sender would
        await new Promise((r) => setTimeout(r, Number(res.headers.get('retry-after') ?? 1) * 1000));
      }
    };
    // Open-loop: a request every 1/rate s whatever the answers. Primed requests have negative numbers.
    const offer = async (perSecond: number, count: number, firstSeq: number): Promise<Promise<void>[]> => {
      const inFlight: Promise<void>[] = [];
      const start = Date.now();
      for (let i = 0; i < count; i++) {
        const due = start + (i * 1000) / perSecond;
        const wait = due - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        const timestamp = new Date().toISOString();
        hours.add(hourOf(timestamp));
        inFlight.push(send(firstSeq + i, requestBody(run, firstSeq + i, timestamp)));
      }
      return inFlight;
    };
    const statsCounted = (): Promise<number> => countStats(config, hours);
    if (primeRequests > 0) {
      console.log(`priming: ${opts.rate / 4} events/s for ${opts.primeSeconds} s`);
      await Promise.all(await offer(requestsPerSecond / 4, primeRequests, -primeRequests));
      const primed = primeRequests * opts.requestEvents;
      if (!(await waitUntil(async () => (await statsCounted()) >= primed, 120_000, 250)))
        throw new Error('the primed events did not reach the stats API within 2 minutes');
    }
    // Closed-loop: each of `concurrency` senders sends its next request when the last one is answered, for
    // `seconds`: the most the stack takes, without an open loop's pile-up of refused resends past it.
    const closedLoop = async (concurrency: number): Promise<Promise<void>[]> => {
      const end = Date.now() + opts.seconds * 1000;
      let next = 0;
      const sender = async (): Promise<void> => {
        while (Date.now() < end) {
          const seq = next++;
          const timestamp = new Date().toISOString();
          hours.add(hourOf(timestamp));
          await send(seq, requestBody(run, seq, timestamp));
        }
      };
      await Promise.all(Array.from({ length: concurrency }, sender));
      total = next;
      return [];
    };
    console.log(
      opts.concurrency
        ? `${opts.concurrency} senders back to back for ${opts.seconds} s (requests of ${opts.requestEvents})`
        : `offering ${opts.rate} events/s for ${opts.seconds} s (${total} requests of ${opts.requestEvents})`,
    );
    // Every process of the run, to report where the CPU went (the stack's and our own two).
    const processes: Record<string, number> = {
      worker: worker.pid!,
      ingest: ingest.pid!,
      'load generator (this process)': process.pid,
      ...Object.fromEntries(readState('bench')!.processes.map((p) => [p.name, p.pid])),
    };
    // This process alone: the worker and the ingest are its children and counted on their own lines.
    const cpuOf = (pid: number): number => cpuSeconds(pid, pid !== process.pid) ?? 0;
    const cpuBefore = Object.fromEntries(Object.entries(processes).map(([n, pid]) => [n, cpuOf(pid)]));
    const frontendBefore = await frontendRequests(temporalMetrics);
    // This process's own event-loop delay: it is in every latency it measures, so it is reported beside them.
    const generatorDelay = monitorEventLoopDelay({ resolution: 10 });
    generatorDelay.enable();
    const loadStart = Date.now();
    const inFlight = opts.concurrency
      ? await closedLoop(opts.concurrency)
      : await offer(requestsPerSecond, total, 0);
    const offeredFor = (Date.now() - loadStart) / 1000;
    await Promise.all(inFlight);
    generatorDelay.disable();
    const acceptedFor = (Date.now() - loadStart) / 1000;
    console.log(`all requests answered after ${acceptedFor.toFixed(1)} s; waiting for archive and delivery`);

    // Drained when the stats count every accepted event and no workflow of the run is still open: the same
    // test for code that hands every batch to Temporal and code that archives on the fast path.
    const primedEvents = primeRequests * opts.requestEvents;
    // Cap ledgers, holder sessions and the registry run for their window or process, not for a batch.
    const openWorkflows = async (): Promise<number> =>
      (
        await client.workflow.count(
          `TaskQueue = '${taskQueue}' AND ExecutionStatus = 'Running' AND WorkflowType != 'capLedger' AND WorkflowType != 'capHolderSession' AND WorkflowType != 'capRegistry'`,
        )
      ).count;
    const drained = await waitUntil(
      async () => (await statsCounted()) >= primedEvents + accepted && (await openWorkflows()) === 0,
      600_000,
      500,
    );
    const doneFor = (Date.now() - loadStart) / 1000;
    if (!drained) throw new Error('not archived and delivered after 10 minutes');
    const cpuDuringRun = Object.fromEntries(
      Object.entries(processes).map(([n, pid]) => [n, Number((cpuOf(pid) - cpuBefore[n]!).toFixed(1))]),
    );
    // Temporal's share of the acceptance latency, from the ingest's own histogram (the process is fresh).
    const ingestMetricsText =
      config.metrics &&
      (await (
        await fetch(`http://${config.metrics.host}:${config.metrics.ingestPort}/metrics`, {
          signal: AbortSignal.timeout(5000),
        })
      ).text());
    const handOverMs = (q: number): number | undefined =>
      ingestMetricsText
        ? Math.round(
            1000 *
              // The fast path's label for a batch S3 confirmed; older code's for one Temporal took.
              histogramQuantile(ingestMetricsText, 'stormproof_ingest_handover_seconds', q, {
                outcome: opts.code ? 'accepted' : 'archived',
              }),
          )
        : undefined;

    // Verify: every sent event in the archive exactly once, and counted once by the stats API.
    const { objects, archived, lost, duplicated } = await checkArchive(config, aws, hours, (visit) => {
      for (let seq = -primeRequests; seq < total; seq++)
        for (let i = 0; i < opts.requestEvents; i++) visit(eventId(run, seq, i));
    });
    const sent = (primeRequests + total) * opts.requestEvents; // sent, archived and counted include the primed
    const statsCount = await statsCounted();
    const temporal = await temporalCost(
      client,
      taskQueue,
      frontendBefore,
      await frontendRequests(temporalMetrics),
    );

    // Baseline: the same work with no durability bookkeeping: validate every event, gzip 1,000-event
    // objects, PUT each, POST its events to the stats API; 16 lanes. Its own IDs in an hour of its own.
    const baselineCpuBefore = process.cpuUsage();
    const baselineStart = Date.now();
    await baseline(config, aws, run, accepted);
    const baselineSeconds = (Date.now() - baselineStart) / 1000;
    const baselineCpu = process.cpuUsage(baselineCpuBefore);
    const baselineRate = accepted / baselineSeconds;
    const e2eRate = accepted / doneFor;
    const productCpu = (cpuDuringRun.worker ?? 0) + (cpuDuringRun.ingest ?? 0) + (cpuDuringRun.temporal ?? 0);
    const baselineCpuSeconds = (baselineCpu.user + baselineCpu.system) / 1e6;
    // Temporal's history covers the primed events too (the ledgers' first grants are in it).
    const perMillion = (n: number): number => Math.round((n * 1e6) / Math.max(1, primedEvents + accepted));

    const decisions = opts.decisions
      ? await decisionLoad(ingestUrl, ingestToken, opts.decisions, () =>
          Object.fromEntries(Object.entries(processes).map(([n, pid]) => [n, cpuOf(pid)])),
        )
      : undefined;
    const report = {
      machine: machineInfo(),
      caps: opts.caps
        ? { caps: 2 * OFFERS, ledgerUpdates: temporal.ledgerUpdates, sessionUpdates: temporal.sessionUpdates }
        : 'none',
      ...(decisions && { decisions }),
      s3: opts.s3,
      offered: {
        ...(opts.concurrency ? { closedLoopSenders: opts.concurrency } : { eventsPerSecond: opts.rate }),
        seconds: opts.seconds,
        requestEvents: opts.requestEvents,
        offeredFor,
      },
      primed: { seconds: opts.primeSeconds, eventsPerSecond: opts.rate / 4, events: primedEvents },
      sent,
      accepted,
      refused503: refused,
      // The ingest's own count, by guard (event-loop delay, heap in use, events pending hand-over).
      refusedFor: ingestMetricsText
        ? counterByLabel(ingestMetricsText, 'stormproof_ingest_overload_refusals_total', 'reason')
        : undefined,
      connectionErrors,
      archived,
      archiveObjects: objects,
      statsCounted: statsCount,
      lost,
      duplicated,
      acceptedEventsPerSecond: Math.round(accepted / acceptedFor),
      endToEndEventsPerSecond: Math.round(e2eRate),
      acceptanceLatencyMs: {
        p50: Math.round(percentile(latencies, 50)),
        p99: Math.round(percentile(latencies, 99)),
        max: Math.round(percentile(latencies, 100)),
      },
      warmup: {
        seconds: opts.warmupSeconds,
        acceptanceLatencyMs: {
          p50: Math.round(percentile(warmupLatencies, 50)),
          p99: Math.round(percentile(warmupLatencies, 99)),
          max: Math.round(percentile(warmupLatencies, 100)),
        },
      },
      loadGeneratorEventLoopDelayMs: {
        p99: Math.round(generatorDelay.percentile(99) / 1e6),
        max: Math.round(generatorDelay.max / 1e6),
      },
      // Per batch, sealed to started (estimated from histogram buckets): the rest of a request's wait is linger.
      handOverLatencyMs: { p50: handOverMs(0.5), p99: handOverMs(0.99) },
      code: opts.code ?? 'this checkout',
      productCpuMicrosecondsPerEvent: Math.round((productCpu * 1e6) / Math.max(1, accepted)),
      temporal: {
        ...temporal,
        actionsPerMillionEvents: perMillion(temporal.actions),
        historyEventsPerMillionEvents: perMillion(temporal.historyEvents),
      },
      baseline: {
        eventsPerSecond: Math.round(baselineRate),
        seconds: baselineSeconds,
        cpuMicrosecondsPerEvent: Math.round((baselineCpuSeconds * 1e6) / Math.max(1, accepted)),
      },
      ratioToBaseline: {
        endToEndRate: Number((e2eRate / baselineRate).toFixed(2)),
        cpuPerEvent: Number((productCpu / Math.max(1e-9, baselineCpuSeconds)).toFixed(2)),
      },
      peakRssMiB: rss,
      cpuSecondsDuringRun: cpuDuringRun,
    };
    if (opts.json) writeFileSync(opts.json, JSON.stringify(report, null, 2));
    console.log(JSON.stringify(report, null, 2));
    if (lost || duplicated || statsCount !== sent || primedEvents + accepted !== sent) process.exitCode = 1;
  } finally {
    clearInterval(sampler);
    aws.destroy();
    await close();
    // The ingest first: it gives back its cap allowances, which needs the worker.
    await stopProcess(ingest);
    await stopProcess(worker);
    stack('down', '--profile', 'bench');
  }
}

/** The batch size the version before the fast path shipped with. */
const OLDER_MAX_BATCH_EVENTS = 1000;

/**
 * The configuration as the version before the fast path reads it (its schema is strict): without the
 * settings it did not have, its own batch size, and the S3 secret inline rather than a file reference.
 */
function olderConfig(config: AppConfig): unknown {
  const {
    archiveTimeoutMs: _a,
    timestampWindow: _t,
    maxHeapUsedBytes: _h,
    sealWhenIdle: _w,
    ...ingest
  } = config.ingest;
  const { caps: _c, capsApi: _capsApi, seal: _s, ...known } = config;
  const secret = config.aws.credentials?.secretAccessKey;
  const credentials = config.aws.credentials && {
    accessKeyId: config.aws.credentials.accessKeyId,
    secretAccessKey: typeof secret === 'string' ? secret : readSecret(secret!).value,
  };
  const { maxCachedWorkflows: _m, ...temporal } = config.temporal;
  return {
    ...known,
    temporal,
    // Its batches as it shipped them (one archiveBatch workflow each); 2,000 came with the fast path.
    ingest: { ...ingest, maxBatchEvents: OLDER_MAX_BATCH_EVENTS },
    stats: { ...config.stats, chunkSize: OLDER_MAX_BATCH_EVENTS },
    aws: { ...config.aws, credentials },
  };
}

/** Events the stats API counts in the run's hours, over every region. */
async function countStats(config: AppConfig, hours: Set<string>): Promise<number> {
  let n = 0;
  for (const region of REGIONS) {
    const url = config.regions.find((r) => r.name === region)!.statsUrl;
    for (const hour of hours) {
      const to = new Date(Date.parse(hour) + 3_600_000).toISOString();
      const res = await fetch(`${url}/v1/buckets?granularity=hour&region=${region}&from=${hour}&to=${to}`, {
        signal: AbortSignal.timeout(10_000),
      });
      const { buckets } = (await res.json()) as { buckets: { count: number }[] };
      n += buckets.reduce((sum, b) => sum + b.count, 0);
    }
  }
  return n;
}

/** The Temporal server's frontend requests so far, by operation (its own Prometheus counters). */
async function frontendRequests(url: string): Promise<Map<string, number>> {
  const text = await (await fetch(url, { signal: AbortSignal.timeout(10_000) })).text();
  const out = new Map<string, number>();
  for (const m of text.matchAll(
    /^service_requests\{namespace="default",operation="(\w+)",service_name="frontend"\} (\S+)$/gm,
  ))
    out.set(m[1]!, (out.get(m[1]!) ?? 0) + Number(m[2]));
  return out;
}

/** History events that Temporal Cloud bills as an action each (starts, activities, local activities, timers, …). */
const BILLED_EVENTS = new Set([
  'EVENT_TYPE_WORKFLOW_EXECUTION_STARTED',
  'EVENT_TYPE_ACTIVITY_TASK_SCHEDULED',
  'EVENT_TYPE_MARKER_RECORDED',
  'EVENT_TYPE_TIMER_STARTED',
  'EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED',
  'EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES',
  'EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED',
  'EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED',
  'EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED',
  'EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW',
]);

/**
 * What the run cost Temporal, read from the server: every workflow on the run's task queue and its history
 * (counted by event type), and the frontend's queries (the ingest's region-control reads) during the run.
 * Actions: the billed history events plus the queries.
 */
async function temporalCost(
  client: Client,
  taskQueue: string,
  before: Map<string, number>,
  after: Map<string, number>,
): Promise<{
  workflowStarts: number;
  historyEvents: number;
  queries: number;
  actions: number;
  ledgerUpdates: number;
  /** Holder sessions' Updates (their renewals), which stand for what were ledger renewals before sessions. */
  sessionUpdates: number;
}> {
  const ids: { workflowId: string; runId: string; type: string }[] = [];
  for await (const wf of client.workflow.list({ query: `TaskQueue = '${taskQueue}'` }))
    ids.push({ workflowId: wf.workflowId, runId: wf.runId, type: wf.type });
  let historyEvents = 0;
  let ledgerUpdates = 0;
  let sessionUpdates = 0;
  let billed = 0;
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      for (let i = next++; i < ids.length; i = next++) {
        const history = await client.workflow.getHandle(ids[i]!.workflowId, ids[i]!.runId).fetchHistory();
        for (const e of history.events ?? []) {
          historyEvents++;
          const type = typeof e.eventType === 'number' ? EventType[e.eventType] : String(e.eventType);
          if (BILLED_EVENTS.has(type ?? '')) billed++;
          if (type !== 'EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED') continue;
          if (ids[i]!.type === 'capLedger') ledgerUpdates++;
          if (ids[i]!.type === 'capHolderSession') sessionUpdates++;
        }
      }
    }),
  );
  const queries = (after.get('QueryWorkflow') ?? 0) - (before.get('QueryWorkflow') ?? 0);
  return {
    workflowStarts: ids.length,
    historyEvents,
    queries,
    actions: billed + queries,
    ledgerUpdates,
    sessionUpdates,
  };
}

/** The baseline's work for `n` events: validate, gzip per 1,000, PUT, POST to the stats, 16 lanes. */
async function baseline(config: AppConfig, aws: AwsClients, run: string, n: number): Promise<void> {
  const region = config.regions[0]!;
  const target = region.archive[0]!;
  const timestamp = '2099-01-01T00:30:00.000Z';
  const batches = Math.ceil(n / 1000);
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      for (let b = next++; b < batches; b = next++) {
        const lines: string[] = [];
        for (let i = 0; i < Math.min(1000, n - b * 1000); i++) {
          const raw = JSON.parse(
            JSON.stringify(sampleEvent(`baseline-${run}-${b}-${i}`, timestamp, region.name, i, b % SHIFTS)),
          ) as unknown;
          lines.push(JSON.stringify(trackingEventSchema.parse(raw)));
        }
        const body = await gzipAsync(lines.join('\n') + '\n');
        await aws.s3(target.region).send(
          new PutObjectCommand({
            Bucket: target.bucket,
            Key: `baseline/${run}/${b}.ndjson.gz`,
            Body: body,
            ContentType: 'application/x-ndjson',
          }),
        );
        const res = await fetch(`${region.statsUrl}/v1/events`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: `{"events":[${lines.join(',')}]}`,
          signal: AbortSignal.timeout(30_000),
        });
        if (!res.ok) throw new Error(`baseline POST: HTTP ${res.status}`);
      }
    }),
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});

/**
 * A clicks cap and a conversions cap per offer, each far above what a run sends it (the cost measured is
 * the judging and the escrow, not refusals): every event the load sends is covered by one.
 */
async function createBenchCaps(config: AppConfig): Promise<void> {
  const { client, close } = await connectClient(config);
  try {
    const caps = new CapsClient(client, config);
    for (let o = 0; o < OFFERS; o++)
      for (const metric of ['clicks', 'conversions'] as const)
        await caps.create(
          {
            id: `offer-${o}-${metric}`,
            scope: { offerId: `offer-${o}` },
            metric,
            window: { kind: 'day', timeZone: 'UTC' },
            limit: 1_000_000,
            mode: 'hard',
          },
          'bench',
        );
  } finally {
    await close();
  }
}

/**
 * Reads every archive object of `hours` in both regions: how many objects and distinct events, how many of
 * the IDs `sentIds` visits are missing, and how many IDs are there more than once. Its own scope, so the
 * run's million IDs are garbage before the decisions' load (their heap slowed the generator's collections).
 */
async function checkArchive(
  config: AppConfig,
  aws: AwsClients,
  hours: Set<string>,
  sentIds: (visit: (id: string) => void) => void,
): Promise<{ objects: number; archived: number; lost: number; duplicated: number }> {
  const archivedIds = new Map<string, number>();
  let objects = 0;
  for (const region of REGIONS) {
    const targets = config.regions.find((r) => r.name === region)!.archive;
    for (const hour of hours) {
      const prefix = `events/v1/region=${region}/dt=${hour.slice(0, 10)}/hour=${hour.slice(11, 13)}/`;
      for (const t of targets) {
        let token: string | undefined;
        do {
          const page = await aws
            .s3(t.region)
            .send(new ListObjectsV2Command({ Bucket: t.bucket, Prefix: prefix, ContinuationToken: token }));
          for (const o of page.Contents ?? []) {
            const got = await aws.s3(t.region).send(new GetObjectCommand({ Bucket: t.bucket, Key: o.Key }));
            objects++;
            const body = Buffer.from(await got.Body!.transformToByteArray());
            for (const e of decodeBatch(body)) archivedIds.set(e.id, (archivedIds.get(e.id) ?? 0) + 1);
          }
          token = page.NextContinuationToken;
        } while (token);
      }
    }
  }
  let lost = 0;
  sentIds((id) => {
    if (!archivedIds.has(id)) lost++;
  });
  let duplicated = 0;
  for (const n of archivedIds.values()) if (n > 1) duplicated++;
  return { objects, archived: archivedIds.size, lost, duplicated };
}

/**
 * Open-loop click decisions (GET /v1/decisions/click) at `perSecond` for 20 s, after 5 s of warm-up at a
 * quarter of it, over 32 keep-alive connections of an undici Pool: the generator shares the two cores with the
 * ingest, and undici's requests cost it a fifth less CPU than node:http's (fetch's cost more than either).
 */
async function decisionLoad(
  ingestUrl: string,
  token: string,
  perSecond: number,
  cpuSecondsByProcess: () => Record<string, number>,
) {
  const seconds = 20;
  const pool = new Pool(ingestUrl, { connections: 32 });
  const latencies: number[] = [];
  let fallbacks = 0;
  let failed = 0;
  const headers = { authorization: `Bearer ${token}` };
  const get = async (path: string): Promise<void> => {
    const t0 = performance.now();
    try {
      const res = await pool.request({
        method: 'GET',
        path,
        headers,
        headersTimeout: 10_000,
        bodyTimeout: 10_000,
      });
      const body = await res.body.text();
      latencies.push(performance.now() - t0);
      if (res.statusCode !== 200) failed++;
      else if (!body.includes('"allow"')) fallbacks++;
    } catch {
      failed++;
    }
  };
  // Open loop at `rate` for `forSeconds`, sent in ticks of 2 ms: a tick's requests leave together, so a
  // longer tick would put its own queue into every latency (100 at once at 10 ms), a shorter one cost timers.
  const offer = async (rate: number, forSeconds: number): Promise<void> => {
    const count = rate * forSeconds;
    const from = Date.now();
    const inFlight: Promise<void>[] = [];
    for (let sent = 0; sent < count;) {
      const due = Math.floor(((Date.now() - from) / 1000) * rate);
      for (; sent < Math.min(due, count); sent++)
        inFlight.push(
          get(`/v1/decisions/click?offerId=offer-${sent % OFFERS}&affiliateId=aff-${sent % AFFILIATES}`),
        );
      await new Promise((r) => setTimeout(r, 2));
    }
    await Promise.all(inFlight);
  };
  // Warm-up, left out of every figure: the connections opened and the route's code optimised, as the
  // events' priming does for theirs.
  await offer(perSecond / 4, 5);
  latencies.length = 0;
  failed = 0;
  fallbacks = 0;
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  const cpuBefore = cpuSecondsByProcess();
  const start = Date.now();
  await offer(perSecond, seconds);
  delay.disable();
  await pool.close();
  const took = (Date.now() - start) / 1000;
  const cpuAfter = cpuSecondsByProcess();
  // Where a queue builds: each process's CPU per answer (the ingest, this generator and the stack share two cores).
  const usPer = (seconds: number): number => Math.round((seconds * 1e6) / Math.max(1, latencies.length));
  return {
    offeredPerSecond: perSecond,
    answeredPerSecond: Math.round(latencies.length / took),
    failed,
    fallbacks,
    latencyMs: {
      p50: Number(percentile(latencies, 50).toFixed(2)),
      p99: Number(percentile(latencies, 99).toFixed(2)),
      max: Math.round(percentile(latencies, 100)),
    },
    loadGeneratorEventLoopDelayMs: { p99: Math.round(delay.percentile(99) / 1e6) },
    cpuMicrosecondsPerDecision: Object.fromEntries(
      Object.entries(cpuAfter).map(([n, c]) => [n, usPer(c - cpuBefore[n]!)]),
    ),
  };
}

/** A counter's samples in Prometheus text, by one label's value. */
function counterByLabel(text: string, name: string, label: string): Record<string, number> {
  const found: Record<string, number> = {};
  const sample = new RegExp(`^${name}\\{[^}]*${label}="([^"]*)"[^}]*\\} (\\S+)$`, 'gm');
  for (const m of text.matchAll(sample)) found[m[1]!] = (found[m[1]!] ?? 0) + Number(m[2]);
  return found;
}
