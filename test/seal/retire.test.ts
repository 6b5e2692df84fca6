import { PutObjectCommand } from '@aws-sdk/client-s3';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { createActivities } from '../../src/activities';
import { IdDigest } from '../../src/archive/idDigest';
import { archiveBreakers } from '../../src/archive/writer';
import { getObject, listHourObjects } from '../../src/archive/reader';
import { encodeManifest, parseManifest, sealManifestKey } from '../../src/archive/sealed';
import { readSeal, startSeal } from '../../src/client/seal';
import { batchIdOf, prepareBatch } from '../../src/archive/format';
import { captureWorkflowId, hourOf, type CaptureInput } from '../../src/shared/batch';
import type { TrackingEvent } from '../../src/shared/event';
import { batchStatusQuery, retryNowSignal } from '../../src/shared/messages';
import {
  retireWorkflowId,
  sealWorkflowId,
  type RetireResult,
  type SealHourJob,
  type SealManifest,
  type SealPlan,
  type SealPlanResult,
  type SealShardDraft,
  type SealSummary,
} from '../../src/shared/seal';
import { waitUntil } from '../../src/util/waitUntil';
import { testConfig, uniqueName } from '../helpers/env';
import { makeEventsInHour, randomPastHourMs } from '../helpers/pipeline';
import { startReconcileWorld, type ReconcileWorld } from '../reconcile/world';

const REGION = 'us-east-1';

/**
 * Raw retirement on the real stack, with `seal.retainRawHours` 0: the seal starts `retire-<region>-<hour>`,
 * which is due at once.
 */
describe('retireRawHour: raw objects deleted after a verified seal, and the manifest says so', () => {
  let world: ReconcileWorld;
  beforeAll(async () => {
    const base = testConfig();
    world = await startReconcileWorld({ base: { ...base, seal: { ...base.seal, retainRawHours: 0 } } });
  });
  afterAll(() => world?.stop());

  const latest = async (hour: string): Promise<SealManifest | undefined> =>
    (await readSeal(world.config, { region: REGION, hour }))?.manifest;
  const home = () => world.config.regions.find((r) => r.name === REGION)!.archive[0]!;
  const rawObjects = async (hour: string) =>
    listHourObjects(
      world.aws,
      world.config.regions.find((r) => r.name === REGION)!.archive,
      REGION,
      hour,
      AbortSignal.timeout(30_000),
    );
  /** The retirement the seal started: its latest run once it finished with a version above `after`. */
  async function retired(hour: string, after: number): Promise<SealManifest> {
    const done = await waitUntil(
      async () => {
        const m = await latest(hour);
        return m !== undefined && m.version > after && m.retired !== undefined;
      },
      120_000,
      250,
    );
    expect(done).toBe(true);
    const r = (await world.client.workflow
      .getHandle(retireWorkflowId(REGION, hour))
      .result()) as RetireResult;
    expect(r.outcome).toBe('retired');
    return (await latest(hour))!;
  }

  it('retires the raw objects; reconcile still agrees; a late event after it makes a correct new version', async () => {
    const hourMs = randomPastHourMs();
    const prefix = uniqueName('retire');
    const events = makeEventsInHour(90, hourMs, REGION, `${prefix}-a`);
    const hour = hourOf(events[0]!.timestamp);
    await world.archive(events, { batchSize: 30 });
    await world.archive(events.slice(0, 10), { batchSize: 10 }); // a resend: 4 raw objects, 10 IDs twice
    await world.deliver(events);

    const { handle } = await startSeal(world.client, world.config, { region: REGION, hour });
    expect((await handle.result()).summary).toMatchObject({ version: 1, total: { count: 90 } });

    const v2 = await retired(hour, 1);
    expect(v2).toMatchObject({
      version: 2,
      previous: { version: 1 },
      total: { count: 90, digest: IdDigest.of(events.map((e) => e.id)).toHex() },
      sources: { count: 4 },
      retired: { objects: 4, verifiedVersion: 1 },
    });
    expect(v2.delta).toBeUndefined();
    expect(await rawObjects(hour)).toEqual([]);
    // Readers take the hour from its seal: the stats agree without a raw object left.
    expect(await world.reconcile(hour)).toMatchObject({
      verdict: 'equal',
      bucketsDiffered: 0,
      eventsReplayed: 0,
    });

    // An event after retirement, beside a resend of two sealed ones: version 3 keeps every sealed row.
    const late = makeEventsInHour(10, hourMs, REGION, `${prefix}-b`);
    await world.archive([...late, ...events.slice(0, 2)], { batchSize: 100 });
    const again = await (
      await startSeal(world.client, world.config, { region: REGION, hour })
    ).handle.result();
    const all = [...events, ...late].map((e) => e.id);
    expect(again).toMatchObject({
      outcome: 'sealed',
      summary: { version: 3, total: { count: 100, digest: IdDigest.of(all).toHex() } },
    });
    const m3 = parseManifest(
      await getObject(world.aws, home(), sealManifestKey(REGION, hour, 3), AbortSignal.timeout(30_000)),
    );
    expect(m3.delta).toEqual({ sources: 1, eventsRead: 12, added: 10 });
    expect(m3.sources.count).toBe(5);
    expect(m3.retired).toEqual(v2.retired); // the earlier retirement stays said
    // Its retirement runs again: the late object goes too, and the manifest counts it.
    const v4 = await retired(hour, 3);
    expect(v4).toMatchObject({
      version: 4,
      total: { count: 100 },
      sources: { count: 5 },
      retired: { objects: 5, verifiedVersion: 3 },
    });
    expect(await rawObjects(hour)).toEqual([]);
    await world.deliver(late);
    expect(await world.reconcile(hour)).toMatchObject({ verdict: 'equal', eventsReplayed: 0 });
  }, 400_000);

  it('retires nothing while a captured batch of the hour is pending; once it lands, the re-seal retires both', async () => {
    const hourMs = randomPastHourMs();
    const prefix = uniqueName('retire-pending');
    const onTime = makeEventsInHour(20, hourMs, REGION, `${prefix}-a`);
    const hour = hourOf(onTime[0]!.timestamp);
    await world.archive(onTime, { batchSize: 20 });
    const s3 = ['s3-us-east-1', 's3-us-west-2'];
    const pathRegex = `events/v1/region(=|%3D)${REGION}/dt(=|%3D)${hour.slice(0, 10)}/hour(=|%3D)${hour.slice(11, 13)}/`;
    try {
      // Every bucket refuses the hour's raw objects: the batch stays captured.
      for (const l of s3)
        await world.faults.setFault(l, {
          mode: 'error',
          status: 503,
          format: 's3',
          methods: ['PUT'],
          pathRegex,
        });
      const captured = makeEventsInHour(5, hourMs, REGION, `${prefix}-b`);
      const capture = await startCapture(captured, hour);
      expect(
        await waitUntil(
          async () => (await capture.query(batchStatusQuery)).state === 'captured',
          60_000,
          100,
        ),
      ).toBe(true);

      await (await startSeal(world.client, world.config, { region: REGION, hour })).handle.result();
      const retire = world.client.workflow.getHandle(retireWorkflowId(REGION, hour));
      expect((await retire.result()) as RetireResult).toMatchObject({
        outcome: 'pending-captures',
        deleted: 0,
        pending: { count: 1, workflowIds: [capture.workflowId] },
      });
      expect((await latest(hour))?.retired).toBeUndefined();
      expect(await rawObjects(hour)).toHaveLength(1);

      for (const l of s3) await world.faults.clear(l);
      await capture.signal(retryNowSignal);
      await capture.result();
      // The capture re-seals the hour (version 2), whose retirement now finds nothing pending.
      const m = await retired(hour, 2);
      expect(m).toMatchObject({ total: { count: 25 }, retired: { objects: 2, verifiedVersion: 2 } });
      expect(await rawObjects(hour)).toEqual([]);
      await world.client.workflow.getHandle(sealWorkflowId(REGION, hour)).result();
    } finally {
      for (const l of s3) await world.faults.clear(l);
    }
  }, 400_000);

  it('a seal whose version a retirement took meanwhile commits as the next version and carries the retirement', async () => {
    const hourMs = randomPastHourMs();
    const prefix = uniqueName('retire-race');
    const onTime = makeEventsInHour(30, hourMs, REGION, `${prefix}-a`);
    const hour = hourOf(onTime[0]!.timestamp);
    await world.archive(onTime, { batchSize: 30 });
    // The activities alone (no workflow, so no retirement is started by itself).
    const breakers = archiveBreakers();
    const acts = createActivities({ config: world.config, aws: world.aws, breakers });
    const env = () => new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });
    const seal = async (): Promise<{ plan: SealPlan; shards: SealShardDraft[] }> => {
      const planned = await env().run<[SealHourJob], SealPlanResult, typeof acts.planSeal>(acts.planSeal, {
        region: REGION,
        hour,
      });
      if (planned.kind !== 'plan') throw new Error(`expected a plan, got ${planned.kind}`);
      const { plan } = planned;
      const shards = await Promise.all(
        Array.from({ length: plan.shards }, (_, shard) =>
          env().run<[{ plan: SealPlan; shard: number }], SealShardDraft, typeof acts.sealShard>(
            acts.sealShard,
            { plan, shard },
          ),
        ),
      );
      return { plan, shards };
    };
    const commit = (s: { plan: SealPlan; shards: SealShardDraft[] }) =>
      env().run<
        [{ plan: SealPlan; shards: SealShardDraft[]; sealedAt: string }],
        SealSummary,
        typeof acts.commitSeal
      >(acts.commitSeal, { ...s, sealedAt: new Date().toISOString() });
    try {
      expect((await commit(await seal())).version).toBe(1);
      const late = makeEventsInHour(5, hourMs, REGION, `${prefix}-b`);
      await world.archive(late, { batchSize: 5 });
      const v2 = await seal(); // planned as version 2 on top of version 1
      // Meanwhile the retirement writes version 2 (as retireRaw does: version 1 plus `retired`).
      const m1 = (await latest(hour))!;
      const retirement: SealManifest = {
        ...m1,
        version: 2,
        previous: { version: 1, key: sealManifestKey(REGION, hour, 1) },
        retired: { at: new Date().toISOString(), objects: 1, verifiedVersion: 1 },
      };
      const key = sealManifestKey(REGION, hour, 2);
      await world.aws
        .s3(REGION)
        .send(new PutObjectCommand({ Bucket: home().bucket, Key: key, Body: encodeManifest(retirement) }));

      const summary = await commit(v2);
      expect(summary).toMatchObject({
        version: 3,
        previous: { version: 2 },
        retired: retirement.retired,
        total: { count: 35, digest: IdDigest.of([...onTime, ...late].map((e) => e.id)).toHex() },
      });
      expect((await latest(hour))?.version).toBe(3);
    } finally {
      breakers.shutdown();
    }
  }, 200_000);

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
