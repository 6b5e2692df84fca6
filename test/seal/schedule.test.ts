import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { prepareBatch } from '../../src/archive/format';
import { IdDigest } from '../../src/archive/idDigest';
import { configuredTargets } from '../../src/archive/targets';
import { archiveBreakers, createArchiveWriter } from '../../src/archive/writer';
import { createAwsClients } from '../../src/aws/clients';
import { connectClient } from '../../src/client/connect';
import { ensureSealSchedules, readSeal } from '../../src/client/seal';
import type { AppConfig } from '../../src/config/schema';
import type { TrackingEvent } from '../../src/shared/event';
import { HOUR_MS } from '../../src/shared/reconcile';
import type { SealHourInput, SealResult } from '../../src/shared/seal';
import { waitUntil } from '../../src/util/waitUntil';
import { createWorker } from '../../src/worker';
import { testConfig, uniqueName } from '../helpers/env';
import { makeEvents } from '../helpers/pipeline';
import { workflowBundle } from '../helpers/temporal';

jest.setTimeout(180_000);

const REGION = 'us-east-1';

/** Start of the last hour that had been closed `lagMinutes` at `at`: what a scheduled run seals. */
const closedHourAt = (at: number, lagMinutes: number): number => {
  const closed = at - lagMinutes * 60_000;
  return closed - (closed % HOUR_MS) - HOUR_MS;
};

/**
 * The hourly seal Schedule on the real stack. A scheduled run seals a real, recent hour, which on the shared
 * test stack other tests write to; so the region's archive here is a bucket of this test's own.
 */
describe('sealHour: the hourly Schedule', () => {
  const base = testConfig();
  const bucket = uniqueName('seal-schedule');
  const east = base.regions.find((r) => r.name === REGION)!;
  const config: AppConfig = {
    ...base,
    temporal: { ...base.temporal, taskQueue: uniqueName('seal-schedule') },
    seal: { ...base.seal, lagMinutes: 20, scheduleIdPrefix: uniqueName('seal-hourly') },
    regions: [{ ...east, archive: [{ bucket, region: REGION }] }],
  };

  /** Archives `n` events stamped inside the hour starting at `hourMs`, in one raw object. */
  async function archiveInHour(hourMs: number, n: number): Promise<TrackingEvent[]> {
    const events = makeEvents(n, REGION).map((e, i) => ({
      ...e,
      timestamp: new Date(hourMs + 1000 + i * 1000).toISOString(),
    }));
    const aws = createAwsClients(config);
    const breakers = archiveBreakers();
    try {
      const writer = createArchiveWriter({ aws, targets: configuredTargets(config), breakers });
      const hour = new Date(hourMs).toISOString();
      const { manifest, body } = await prepareBatch({
        batchId: uniqueName('scheduled'),
        region: REGION,
        hour,
        events,
      });
      await writer.archive(manifest, body, AbortSignal.timeout(30_000));
      return events;
    } finally {
      breakers.shutdown();
      aws.destroy();
    }
  }

  it('is created per region, updated on the next call, and a triggered run seals the hour closed `lag` minutes before', async () => {
    const aws = createAwsClients(config);
    try {
      await aws.s3(REGION).send(new CreateBucketCommand({ Bucket: bucket }));
    } finally {
      aws.destroy();
    }
    const lag = 25;
    // The hour the triggered run will seal, and the next one in case the trigger lands past hh:25.
    const expected = closedHourAt(Date.now(), lag);
    const byHour = new Map<number, TrackingEvent[]>([
      [expected, await archiveInHour(expected, 30)],
      [expected + HOUR_MS, await archiveInHour(expected + HOUR_MS, 20)],
    ]);

    const w = await createWorker({ config, workflowBundle: await workflowBundle(), shutdownGraceSeconds: 0 });
    const running = w.worker.run();
    const { client, close } = await connectClient(config);
    const scheduleId = `${config.seal.scheduleIdPrefix}-${REGION}`;
    const schedule = client.schedule.getHandle(scheduleId);
    try {
      expect(await ensureSealSchedules(client, config)).toEqual([
        { scheduleId, region: REGION, outcome: 'created' },
      ]);
      expect(
        await ensureSealSchedules(client, { ...config, seal: { ...config.seal, lagMinutes: lag } }),
      ).toEqual([{ scheduleId, region: REGION, outcome: 'updated' }]);
      const described = await schedule.describe();
      expect(described.spec.intervals).toEqual([{ every: HOUR_MS, offset: lag * 60_000 }]);
      expect(described.action.type).toBe('startWorkflow');
      const args = (described.action as { args: SealHourInput[] }).args;
      expect(args).toEqual([{ region: REGION, closedHourLagMinutes: lag }]);

      await schedule.trigger();
      expect(
        await waitUntil(async () => (await schedule.describe()).info.recentActions.length > 0, 60_000, 200),
      ).toBe(true);
      const action = (await schedule.describe()).info.recentActions[0]!;
      expect(action.action.workflow.workflowId).toMatch(new RegExp(`^seal-${REGION}-hourly-`));
      const run = client.workflow.getHandle(
        action.action.workflow.workflowId,
        action.action.workflow.firstExecutionRunId,
      );
      const result = (await run.result()) as SealResult;
      const hour = closedHourAt(action.scheduledAt.getTime(), lag);
      const events = byHour.get(hour)!;
      expect(events).toBeDefined();
      expect(result).toMatchObject({
        outcome: 'sealed',
        summary: {
          region: REGION,
          hour: new Date(hour).toISOString(),
          bucket,
          version: 1,
          total: { count: events.length, digest: IdDigest.of(events.map((e) => e.id)).toHex() },
        },
      });
      const found = await readSeal(config, { region: REGION, hour: new Date(hour).toISOString() });
      expect(found?.key).toBe(result.summary!.manifestKey);
    } finally {
      await schedule.delete().catch(() => undefined); // not created when the first call failed
      await close();
      w.worker.shutdown();
      await running;
      await w.close();
    }
  });
});
