import { batchIdOf, prepareBatch } from '../../src/archive/format';
import { IdDigest } from '../../src/archive/idDigest';
import { getObject } from '../../src/archive/reader';
import { parseManifest, sealManifestKey } from '../../src/archive/sealed';
import { readSeal, startSeal } from '../../src/client/seal';
import { captureWorkflowId, hourOf, type CaptureInput } from '../../src/shared/batch';
import type { TrackingEvent } from '../../src/shared/event';
import { batchStatusQuery, retryNowSignal } from '../../src/shared/messages';
import { sealWorkflowId } from '../../src/shared/seal';
import { waitUntil } from '../../src/util/waitUntil';
import { uniqueName } from '../helpers/env';
import { makeEventsInHour, randomPastHourMs } from '../helpers/pipeline';
import { startReconcileWorld, type ReconcileWorld } from '../reconcile/world';

const REGION = 'us-east-1';
const S3 = ['s3-us-east-1', 's3-us-west-2'];

/** The hour's raw objects in requests (a GET of one, or a LIST of the hour: the prefix is in the query). */
const rawPathRegex = (hour: string): string =>
  [
    'events',
    'v1',
    `region(=|%3D)${REGION}`,
    `dt(=|%3D)${hour.slice(0, 10)}`,
    `hour(=|%3D)${hour.slice(11, 13)}`,
  ]
    .join('(/|%2F)')
    .concat('(/|%2F)');

describe('sealHour converges on the sources that land while it runs (patch seal-converge)', () => {
  let world: ReconcileWorld;
  beforeAll(async () => {
    world = await startReconcileWorld();
  });
  afterAll(() => world?.stop());

  const manifestOf = async (hour: string, version: number) => {
    const home = world.config.regions.find((r) => r.name === REGION)!.archive[0]!;
    return parseManifest(
      await getObject(world.aws, home, sealManifestKey(REGION, hour, version), AbortSignal.timeout(30_000)),
    );
  };

  it('a batch archived while the shards read is sealed as the next version by the same run', async () => {
    const hourMs = randomPastHourMs();
    const prefix = uniqueName('converge');
    const onTime = makeEventsInHour(100, hourMs, REGION, `${prefix}-a`);
    const hour = hourOf(onTime[0]!.timestamp);
    await world.archive(onTime, { batchSize: 50 });
    // Every read of the hour's raw objects is slow, so the shards are still reading when the batch lands.
    try {
      for (const l of S3)
        await world.faults.setFault(l, {
          mode: 'latency',
          latencyMs: 3000,
          methods: ['GET'],
          pathRegex: rawPathRegex(hour),
        });
      const { handle } = await startSeal(world.client, world.config, { region: REGION, hour, shards: 2 });
      const shardsRunning = await waitUntil(
        async () =>
          ((await handle.describe()).raw.pendingActivities ?? []).some(
            (a) => a.activityType?.name === 'sealShard',
          ),
        60_000,
        100,
      );
      expect(shardsRunning).toBe(true);
      const late = makeEventsInHour(30, hourMs, REGION, `${prefix}-b`);
      await world.archive([...late, ...onTime.slice(0, 5)], { batchSize: 100 });
      for (const l of S3) await world.faults.clear(l);

      const result = await handle.result();
      const all = [...onTime, ...late].map((e) => e.id);
      // Before the patch this run failed with SealSourcesChanged; now it wrote version 1, listed again, and
      // wrote version 2 with the batch that landed meanwhile.
      expect(result).toMatchObject({
        outcome: 'sealed',
        summary: { version: 2, total: { count: 130, digest: IdDigest.of(all).toHex() } },
      });
      const v1 = await manifestOf(hour, 1);
      expect(v1.sources.count).toBe(2);
      expect(v1.total.count).toBe(100);
      expect(v1.pending).toEqual({ count: 0, workflowIds: [] });
      const v2 = await manifestOf(hour, 2);
      expect(v2.delta).toEqual({ sources: 1, eventsRead: 35, added: 30 });
      expect(v2.sources.count).toBe(3);
    } finally {
      for (const l of S3) await world.faults.clear(l);
    }
  }, 240_000);

  it("records the hour's still pending captured batches in the manifest", async () => {
    const hourMs = randomPastHourMs();
    const prefix = uniqueName('pending-manifest');
    const onTime = makeEventsInHour(40, hourMs, REGION, `${prefix}-a`);
    const hour = hourOf(onTime[0]!.timestamp);
    await world.archive(onTime, { batchSize: 40 });
    const pathRegex = rawPathRegex(hour);
    try {
      // Every bucket refuses the hour's raw objects: the batch stays captured while the hour is sealed.
      for (const l of S3)
        await world.faults.setFault(l, {
          mode: 'error',
          status: 503,
          format: 's3',
          methods: ['PUT'],
          pathRegex,
        });
      const capture = await startCapture(makeEventsInHour(10, hourMs, REGION, `${prefix}-b`), hour);
      expect(
        await waitUntil(
          async () => (await capture.query(batchStatusQuery)).state === 'captured',
          60_000,
          100,
        ),
      ).toBe(true);
      const sealed = await (
        await startSeal(world.client, world.config, { region: REGION, hour })
      ).handle.result();
      expect(sealed.summary).toMatchObject({
        version: 1,
        pending: { count: 1, workflowIds: [capture.workflowId] },
      });
      expect((await manifestOf(hour, 1)).pending).toEqual({ count: 1, workflowIds: [capture.workflowId] });

      for (const l of S3) await world.faults.clear(l);
      await capture.signal(retryNowSignal);
      await capture.result();
      // It lands in the sealed hour and seals it again (reseal-late-capture): nothing is pending any more.
      expect(
        await waitUntil(
          async () => (await readSeal(world.config, { region: REGION, hour }))?.manifest.version === 2,
          90_000,
          250,
        ),
      ).toBe(true);
      expect((await manifestOf(hour, 2)).total.count).toBe(50);
      // The re-seal lists the hour once more after version 2: let it end before the worker stops.
      await world.client.workflow.getHandle(sealWorkflowId(REGION, hour)).result();
    } finally {
      for (const l of S3) await world.faults.clear(l);
    }
  }, 240_000);

  /** Starts a captureBatch holding `events`' object, as the fast path does when no bucket took it. */
  async function startCapture(events: TrackingEvent[], hour: string) {
    const batchId = batchIdOf(hour, events);
    const { manifest, body } = await prepareBatch({ batchId, region: REGION, hour, events });
    const { captureInitialBackoffMs: initialMs, captureMaxBackoffMs: maxMs } = world.config.archive;
    const input: CaptureInput = { manifest, capture: { initialMs, maxMs }, reason: 'S3 was down' };
    return world.client.workflow.start('captureBatch', {
      workflowId: captureWorkflowId(REGION, batchId),
      taskQueue: world.config.temporal.taskQueue,
      args: [input, body],
    });
  }
});
