import { forgetStatsEvents } from '../../src/stats-service/forget';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import type { Client } from '@temporalio/client';
import { createActivities, type Activities } from '../../src/activities';
import { createStatsApi, statsOptionsOf, toEventJson } from '../../src/activities/stats';
import { archiveBreakers } from '../../src/archive/writer';
import { createAwsClients, type AwsClients } from '../../src/aws/clients';
import { connectClient } from '../../src/client/connect';
import { startReconcile, type ReconcileHandle, type ReconcileRequest } from '../../src/client/reconcile';
import type { AppConfig } from '../../src/config/schema';
import { hourOf, type BatchManifest, type ArchivedObject } from '../../src/shared/batch';
import { prepareBatch } from '../../src/archive/format';
import type { TrackingEvent } from '../../src/shared/event';
import { IdDigest } from '../../src/archive/idDigest';
import { HOUR_MS, type ReconcileReport } from '../../src/shared/reconcile';
import { createWorker } from '../../src/worker';
import { testConfig, uniqueName } from '../helpers/env';
import { privateFaults } from '../helpers/privateFaults';
import type { FaultProxyClient } from '../../src/fault-proxy';
import { workflowBundle } from '../helpers/temporal';

/**
 * A worker of the real code on a task queue of the test's own, plus the real archive and stats activities
 * (run in a mock activity context) to build fixtures fast: archive objects written by archiveEvents,
 * events delivered by deliverEvents.
 */
export interface ReconcileWorld {
  config: AppConfig;
  client: Client;
  aws: AwsClients;
  /** The world's own fault proxy, in front of S3 and the stats API of its config. */
  faults: FaultProxyClient;
  /**
   * Archives each slice of `batchSize` events as one object, as archiveBatch would; returns the objects.
   * Batch IDs are `<batchPrefix>-<i>`, so the same prefix writes the same keys (a failover copy).
   */
  archive(
    events: TrackingEvent[],
    opts?: { batchSize?: number; bucket?: 'home' | 'failover'; batchPrefix?: string },
  ): Promise<ArchivedObject[]>;
  deliver(events: TrackingEvent[]): Promise<void>;
  /** Forgets events in the stats service (its admin route): a pipeline that lost them. */
  forget(ids: string[]): Promise<void>;
  /** Runs reconciliation of [hour, hour + hours) in one region with a short settle time. */
  reconcile(hour: string, hours?: number, extra?: Partial<ReconcileRequest>): Promise<ReconcileReport>;
  /** Starts the same run without waiting for it. */
  start(hour: string, hours?: number, extra?: Partial<ReconcileRequest>): Promise<ReconcileHandle>;
  stop(): Promise<void>;
}

const REGION = 'us-east-1';
const quiet = () => new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });

export async function startReconcileWorld(
  opts: {
    webhookUrl?: string;
    /** another stack's configuration than the test stack's */ base?: AppConfig;
  } = {},
): Promise<ReconcileWorld> {
  // Behind a fault proxy of its own, so a file that fails the stats API cannot undo another's fault.
  const faults = await privateFaults(opts.base ?? testConfig());
  const base = faults.config;
  const config: AppConfig = {
    ...base,
    temporal: { ...base.temporal, taskQueue: uniqueName('reconcile-test') },
    notifications: { ...base.notifications, webhookUrl: opts.webhookUrl ?? base.notifications.webhookUrl },
  };
  const aws = createAwsClients(config);
  const breakers = archiveBreakers();
  const acts = createActivities({ config, aws, breakers });
  // The same activities with the region's failover bucket first: writes the copy a failover would have.
  const region = config.regions.find((r) => r.name === REGION)!;
  const failoverActs = createActivities({
    config: { ...config, regions: [{ ...region, archive: [...region.archive].reverse() }] },
    aws,
    breakers,
  });
  const w = await createWorker({ config, workflowBundle: await workflowBundle(), shutdownGraceSeconds: 0 });
  const running = w.worker.run();
  const { client, close } = await connectClient(config);
  const statsUrl = region.statsUrl;

  const archiveWith = async (
    a: Activities,
    batchId: string,
    events: TrackingEvent[],
  ): Promise<ArchivedObject> => {
    const { manifest, body } = await prepareBatch({
      batchId,
      region: REGION,
      hour: hourOf(events[0]!.timestamp),
      events,
    });
    return quiet().run((m: BatchManifest, b: Uint8Array) => a.archiveEvents(m, b), manifest, body);
  };

  async function start(
    hour: string,
    hours = 1,
    extra: Partial<ReconcileRequest> = {},
  ): Promise<ReconcileHandle> {
    const { handle } = await startReconcile(client, config, {
      from: hour,
      to: new Date(Date.parse(hour) + hours * HOUR_MS).toISOString(),
      regions: [REGION],
      options: { settleMs: 200, attemptBudget: 3 },
      ...extra,
    });
    return handle;
  }

  return {
    config,
    client,
    aws,
    faults: faults.proxy,
    async archive(events, { batchSize = 1000, bucket = 'home', batchPrefix = uniqueName('batch') } = {}) {
      const out: ArchivedObject[] = [];
      for (let i = 0; i < events.length; i += batchSize) {
        const a = bucket === 'home' ? acts : failoverActs;
        out.push(await archiveWith(a, `${batchPrefix}-${i / batchSize}`, events.slice(i, i + batchSize)));
      }
      return out;
    },
    async deliver(events) {
      await createStatsApi(statsOptionsOf(config), () => new AbortController().signal).deliverLines(
        REGION,
        events.map(toEventJson),
      );
    },
    async forget(ids) {
      await forgetStatsEvents(statsUrl, ids);
    },
    start,
    async reconcile(hour, hours = 1, extra = {}) {
      return (await start(hour, hours, extra)).result();
    },
    async stop() {
      await close();
      w.worker.shutdown();
      await running;
      await w.close();
      aws.destroy();
      breakers.shutdown();
      await faults.close();
    },
  };
}

/** The count and digest a set of events must have in the stats API. */
export const sideOf = (events: TrackingEvent[]) => ({
  count: events.length,
  digest: IdDigest.of(events.map((e) => e.id)).toHex(),
});

/** The same events, an hour later (for windows of more than one hour). */
export const nextHour = (events: TrackingEvent[], prefix: string): TrackingEvent[] =>
  events.map((e) => ({
    ...e,
    id: `${prefix}-${e.id}`,
    timestamp: new Date(Date.parse(e.timestamp) + HOUR_MS).toISOString(),
  }));
