import { randomUUID } from 'node:crypto';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { createAwsClients } from '../aws/clients';
import { connectClient } from '../client/connect';
import { EventSender } from '../client/eventSender';
import { CapEnforcer } from '../client/capEnforcer';
import { CapsClient } from '../client/caps';
import { CapLedgerClient } from '../client/capLedgerClient';
import { capLedgerId } from '../shared/capLedger';
import type { HandOverReceipt } from '../client/handOver';
import { ensureMonitor, monitorStatus } from '../client/monitor';
import { RegionControlClient } from '../client/regionControl';
import { reconcileReport, startReconcile } from '../client/reconcile';
import type { AppConfig } from '../config/schema';
import { FaultProxyClient } from '../fault-proxy';
import { readIngestCredentials } from '../ingest/auth';
import { buildIngestServer } from '../ingest/server';
import { workerMetrics } from '../metrics/workerMetrics';
import { captureWorkflowId, hourOf } from '../shared/batch';
import type { TrackingEvent } from '../shared/event';
import { mapLimit } from '../shared/mapLimit';
import type { OperationRecord, TrafficConfig } from '../shared/regionControl';
import { searchAttributes } from '../shared/searchAttributes';
import { waitUntil } from '../util/waitUntil';
import { createWorker } from '../worker';
import type { WorkflowBundle } from '@temporalio/worker';
import type { DrillPhase, DrillReport, TimelineSample } from './timeline';
import { archivedCounts, deliveredIds } from './verify';

export interface DrillOptions {
  /** Events per second offered to the ingest. */
  rate: number;
  seconds: number;
  /** The region whose S3 (and later stats API) fails. */
  region: string;
  /** Tests: a hosted zone of their own, a pre-built workflow bundle. */
  traffic?: TrafficConfig;
  workflowBundle?: WorkflowBundle;
  log?: (line: string) => void;
  /** Enforce a hard cap on one offer's conversions (half of what the drill sends it); default on. */
  caps?: boolean;
}

const sum = async (c: typeof workerMetrics.eventsArchived): Promise<number> =>
  (await c.get()).values.reduce((n, v) => n + v.value, 0);

/** Waits for the captureBatch workflow of a batch, if the batch has one (most never reach Temporal). */
async function captureFinished(client: Client, receipt: HandOverReceipt): Promise<void> {
  const handle = client.workflow.getHandle(captureWorkflowId(receipt.region, receipt.batchId));
  await handle.result().catch((err: unknown) => {
    if (!(err instanceof WorkflowNotFoundError)) throw err;
  });
}

/**
 * The outage drill on the local stack: tracking traffic through a real ingest and worker; the region's S3
 * fails (fault proxy), the monitor detects it and fails over (policy auto); the stats API fails for a while;
 * everything is restored, the region fails back, the window is reconciled, and every event sent is checked
 * against the archive and the stats. Its own task queue, region-control and monitor, so it never steers a
 * deployment's.
 */
export async function runDrill(base: AppConfig, opts: DrillOptions): Promise<DrillReport> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const run = `drill-${randomUUID().slice(0, 8)}`;
  if (!base.faultProxy) throw new Error('faultProxy: the drill needs the local stack (its fault proxy)');
  const other = base.regions.find((r) => r.name !== opts.region)?.name;
  if (!other) throw new Error(`region: the drill needs a region besides ${opts.region}`);
  const config: AppConfig = {
    ...base,
    temporal: { ...base.temporal, taskQueue: run },
    archive: { captureInitialBackoffMs: 500, captureMaxBackoffMs: 2000 },
    regionControl: { ...base.regionControl, workflowId: `${run}-region-control`, targetCacheMs: 500 },
    monitor: { ...base.monitor, workflowId: `${run}-monitor` },
    // A registry of its own; leases short enough that the drill's minutes see session renewals and top-ups.
    caps: {
      ...base.caps,
      registryWorkflowId: `${run}-caps`,
      refreshMs: 1000,
      leaseMs: 10_000,
      leaseMarginMs: 2000,
      reclaimAfterMs: 5000,
    },
  };
  // Before anything starts: a configuration the ingest would refuse must not leave a worker running.
  const credentials = readIngestCredentials(config.ingestAuth ?? {});
  if (credentials.tokens.length === 0)
    throw new Error(
      'ingestAuth: the drill sends with a bearer token and the configuration has none (on the local stack: STORMPROOF_CONFIG=.stack/dev/stormproof.config.json)',
    );
  const faults = new FaultProxyClient(base.faultProxy.controlUrl);
  const aws = createAwsClients(config);
  const { client, close } = await connectClient(config);
  const w = await createWorker({ config, workflowBundle: opts.workflowBundle, shutdownGraceSeconds: 5 });
  const working = w.worker.run();
  // Events archived and delivered by the ingest's fast path (the worker's counters hold the captured ones).
  const fast = { archived: 0, delivered: 0 };
  // The cap: conversions of offer-0, half of what the traffic below sends it (every 70th event of a request).
  const perRequest = Math.max(1, Math.round(opts.rate / 10));
  const cap = {
    id: `${run}-offer-0-conversions`,
    scope: { offerId: 'offer-0' },
    metric: 'conversions' as const,
    window: { kind: 'lifetime' as const },
    limit: Math.max(1, Math.floor((Math.ceil(perRequest / 70) * opts.seconds * 10) / 2)),
    mode: 'hard' as const,
  };
  let caps: CapEnforcer | undefined;
  if (opts.caps !== false) {
    await new CapsClient(client, config).create(cap, 'drill');
    caps = new CapEnforcer(client, config, { region: opts.region });
    await caps.start();
  }
  const sender = new EventSender(client, config, {
    caps,
    observe: {
      batch: (outcome, events) => void (outcome === 'archived' && (fast.archived += events)),
      delivery: (outcome, events) => void (outcome === 'delivered' && (fast.delivered += events)),
    },
  });
  const ingest: FastifyInstance = buildIngestServer({
    sender,
    bodyLimitBytes: config.ingest.bodyLimitBytes,
    logLevel: 'warn',
    credentials,
  });
  const token = credentials.tokens[0]!.value;
  const control = new RegionControlClient(client, config, opts.traffic ? { traffic: opts.traffic } : {});

  const started = Date.now();
  const at = (): number => (Date.now() - started) / 1000;
  const phases: DrillPhase[] = [];
  const begin = (name: string): DrillPhase => {
    const p = { name, start: at() };
    phases.push(p);
    log(`[${p.start.toFixed(1)} s] ${name}`);
    return p;
  };
  const sent: string[] = [];
  const batches: HandOverReceipt[] = [];
  let accepted = 0;
  let refused = 0;
  const samples: TimelineSample[] = [];
  let last = { t: 0, accepted: 0, refused: 0, archived: 0, delivered: 0 };
  let largestBacklog = { batches: 0, at: 0 };
  let backlogDrainedAt: number | undefined;
  const sampler = setInterval(() => {
    void (async () => {
      const t = at();
      const [archived, delivered, backlog] = await Promise.all([
        sum(workerMetrics.eventsArchived).then((n) => n + fast.archived),
        sum(workerMetrics.eventsDelivered).then((n) => n + fast.delivered),
        client.workflow
          .count(
            `TaskQueue = '${run}' AND ExecutionStatus = 'Running' AND ${searchAttributes.batchState.name} = 'captured'`,
          )
          .then((c) => c.count)
          .catch(() => 0),
      ]);
      const dt = Math.max(t - last.t, 0.001);
      samples.push({
        t: Math.round(t * 10) / 10,
        acceptedPerSecond: Math.round((accepted - last.accepted) / dt),
        archivedPerSecond: Math.round((archived - last.archived) / dt),
        deliveredPerSecond: Math.round((delivered - last.delivered) / dt),
        errorsPerSecond: Math.round((refused - last.refused) / dt),
        backlog,
      });
      if (backlog > largestBacklog.batches) largestBacklog = { batches: backlog, at: t };
      if (largestBacklog.batches > 0 && backlog === 0 && backlogDrainedAt === undefined) backlogDrainedAt = t;
      if (backlog > 0) backlogDrainedAt = undefined;
      last = { t, accepted, refused, archived, delivered };
    })();
  }, 1000);

  try {
    const ingestUrl = await ingest.listen({ host: '127.0.0.1', port: 0 });
    await control.handle();
    await ensureMonitor(client, config, {
      policy: 'auto',
      downAfter: 3,
      upAfter: 3,
      intervalMs: 500,
      backlogThreshold: config.notifications.capturedBacklogThreshold,
      failoverTo: { [opts.region]: other },
    });

    // Traffic: a request every 100 ms, two thirds of it from the failing region.
    let seq = 0;
    const inFlight: Promise<void>[] = [];
    // As a tracking service would: resend on 503, only what the answer says was not accepted.
    const send = async (events: TrackingEvent[]): Promise<void> => {
      let pending = events;
      for (;;) {
        const res = await fetch(`${ingestUrl}/v1/events`, {
          method: 'POST',
          headers: {
            'content-type': 'application/x-ndjson',
            authorization: `Bearer ${token}`,
          },
          body: pending.map((e) => JSON.stringify(e)).join('\n'),
          signal: AbortSignal.timeout(60_000),
        });
        const answer = (await res.json()) as {
          accepted?: number;
          batches?: HandOverReceipt[];
          notAccepted?: number[];
        };
        accepted += answer.accepted ?? 0;
        batches.push(...(answer.batches ?? []));
        if (res.ok) return;
        refused++;
        if (res.status !== 503) throw new Error(`ingest answered ${res.status}: ${JSON.stringify(answer)}`);
        if (answer.notAccepted) pending = answer.notAccepted.map((i) => pending[i]!);
        // As a sender should: wait what the ingest asks for (Retry-After, seconds) before resending.
        const retryAfter = Number(res.headers.get('retry-after') ?? 1);
        await new Promise((r) => setTimeout(r, 1000 * (Number.isFinite(retryAfter) ? retryAfter : 1)));
      }
    };
    const traffic = begin('traffic');
    const script: [number, () => Promise<void>][] = [
      [
        0.2,
        async () => {
          begin(`S3 outage ${opts.region}`);
          await faults.setFault(`s3-${opts.region}`, { mode: 'error', status: 503, format: 's3' });
        },
      ],
      [
        0.35,
        async () => {
          begin(`stats API outage ${opts.region}`);
          await faults.setFault(`stats-${opts.region}`, { mode: 'error', status: 503, format: 'json' });
        },
      ],
      [
        0.5,
        async () => {
          await faults.clear(`stats-${opts.region}`);
          end(`stats API outage ${opts.region}`);
        },
      ],
      [
        0.6,
        async () => {
          await faults.clear(`s3-${opts.region}`);
          end(`S3 outage ${opts.region}`);
        },
      ],
    ];
    const end = (name: string): void => {
      const p = phases.find((x) => x.name === name && x.end === undefined);
      if (p) p.end = at();
    };
    while (at() < opts.seconds) {
      while (script.length && at() >= script[0]![0] * opts.seconds) await script.shift()![1]();
      const now = new Date().toISOString();
      const events = Array.from({ length: perRequest }, (_, i): TrackingEvent => {
        const id = `${run}-${seq}-${i}`;
        sent.push(id);
        return {
          id,
          type: i % 10 === 0 ? 'conversion' : 'click',
          timestamp: now,
          region: i % 3 === 2 ? other : opts.region,
          offerId: `offer-${i % 7}`,
          affiliateId: `aff-${i % 3}`,
          attributes: {},
        };
      });
      seq++;
      inFlight.push(send(events));
      await new Promise((r) => setTimeout(r, Math.max(0, started + seq * 100 - Date.now())));
    }
    for (const [, step] of script) await step();
    await Promise.all(inFlight);
    traffic.end = at();

    // Detection and failover, as the monitor and region-control recorded them; a failover still running on a
    // slow machine is waited for, not reported as missing.
    const outage = phases.find((p) => p.name === `S3 outage ${opts.region}`)!;
    const status = await monitorStatus(client, config);
    for (const e of status.events) log(`  monitor ${e.at} ${e.region ?? ''} ${e.what}`);
    const downAt = status.events.find((e) => e.region === opts.region && e.what.startsWith('down'))?.at;
    const failoverOf = async (): Promise<OperationRecord | undefined> => {
      const s = await control.state();
      return [s.current, ...s.history].find(
        (o) => o?.request.kind === 'failover' && o.request.region === opts.region,
      );
    };
    await waitUntil(async () => (await failoverOf())?.outcome !== 'running', 120_000);
    const failover = await failoverOf();
    if (failover) {
      phases.push(phaseOf(`failover`, failover, started));
      log(`  failover ${failover.id}: ${failover.outcome}${failover.error ? ` (${failover.error})` : ''}`);
    }

    // Failback by the operator once the monitor sees the region healthy again.
    await waitUntil(
      async () => (await monitorStatus(client, config)).health[opts.region]?.status === 'up',
      60_000,
    );
    if (failover?.outcome === 'succeeded') {
      const fb = await control.request({
        kind: 'failback',
        region: opts.region,
        to: other,
        reason: 'drill: S3 is back',
        operator: 'drill',
        mode: 'full',
        approved: true,
      });
      await waitUntil(async () => (await control.operation(fb.id))?.outcome !== 'running', 120_000);
      const done = await control.operation(fb.id);
      if (done) phases.push(phaseOf('failback', done, started));
    }

    // Every batch finished: the ingest's deliveries done or captured, then every capture workflow awaited by
    // ID (a visibility count can miss the newest); then reconcile the hours.
    await sender.flush();
    await mapLimit(batches, 16, (b) => captureFinished(client, b));
    const firstHour = hourOf(new Date(started).toISOString());
    const to = new Date(Date.parse(hourOf(new Date().toISOString())) + 3_600_000).toISOString();
    const reconciling = begin('reconciliation');
    const { handle } = await startReconcile(client, config, {
      from: firstHour,
      to,
      options: { settleMs: 500 },
    });
    await handle.result().catch(() => undefined);
    const rec = await reconcileReport(handle);
    reconciling.end = at();

    const hours: string[] = [];
    for (let h = Date.parse(firstHour); h < Date.parse(to); h += 3_600_000)
      hours.push(new Date(h).toISOString());
    const judged = new Map<string, string>();
    const archived = await archivedCounts(aws, config, hours, run, (e) => {
      if (e.capId === cap.id && e.capStatus) judged.set(e.id, e.capStatus);
    });
    const within = [...judged.values()].filter((s) => s === 'within').length;
    const ledger = caps ? await new CapLedgerClient(client, config).status(cap.id, 'lifetime') : undefined;
    const handOver = failover?.steps.find((st) => st.name === 'hand-over-caps');
    const capFigures: Record<string, number | string> = caps
      ? {
          'cap limit (hard)': cap.limit,
          'cap accepted within': within,
          'cap exceeded': judged.size - within,
          'cap overshoot': Math.max(0, within - cap.limit),
          'cap stranded': ledger?.holders.reduce((n, h) => n + h.stranded, 0) ?? 0,
          'cap reclaimed': ledger?.reclaimed ?? 0,
        }
      : {};
    const delivered = await deliveredIds(config, hours, run);
    const lost = sent.filter((id) => !archived.has(id) || !delivered.has(id)).length;
    const duplicated = [...archived.values()].filter((n) => n > 1).length;
    // A hard cap must never overshoot, outage or not.
    const passed = lost === 0 && duplicated === 0 && accepted === sent.length && !capFigures['cap overshoot'];
    return {
      title: `stormproof outage drill ${run}`,
      startedAt: new Date(started).toISOString(),
      passed,
      summary: {
        sent: sent.length,
        accepted,
        archived: archived.size,
        delivered: delivered.size,
        lost,
        duplicated,
        'refused requests (503, resent)': refused,
        'time to detect (s)': downAt
          ? round((Date.parse(downAt) - started) / 1000 - outage.start)
          : 'not detected',
        'time to fail over (s)':
          failover?.recoveryMs !== undefined ? round(failover.recoveryMs / 1000) : 'no failover',
        'failover outcome': failover?.outcome ?? 'none',
        'largest backlog (batches)': largestBacklog.batches,
        'backlog drain time (s)':
          backlogDrainedAt !== undefined ? round(backlogDrainedAt - largestBacklog.at) : 'n/a',
        'reconciliation verdict': rec.verdict,
        'events replayed by reconciliation': rec.eventsReplayed,
        ...capFigures,
        ...(caps && handOver
          ? { 'cap hand-over at failover': `${handOver.state}: ${handOver.detail ?? ''}` }
          : {}),
      },
      samples,
      phases,
    };
  } finally {
    clearInterval(sampler);
    await faults.clear(`s3-${opts.region}`).catch(() => undefined);
    await faults.clear(`stats-${opts.region}`).catch(() => undefined);
    // The drill's own long-running workflows (its lifetime cap's ledger never closes by itself).
    for (const id of [
      config.monitor.workflowId,
      config.caps.registryWorkflowId,
      capLedgerId(cap.id, 'lifetime'),
    ])
      await client.workflow
        .getHandle(id)
        .terminate('drill finished')
        .catch(() => undefined);
    await ingest.close();
    await sender.close();
    w.worker.shutdown();
    await working;
    await w.close();
    await close();
    aws.destroy();
  }
}

const round = (n: number): number => Math.round(n * 10) / 10;

function phaseOf(name: string, op: OperationRecord, started: number): DrillPhase {
  const start = (Date.parse(op.requestedAt) - started) / 1000;
  return { name, start, end: op.finishedAt ? (Date.parse(op.finishedAt) - started) / 1000 : undefined };
}
