import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { DuckDBInstance } from '@duckdb/node-api';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { createActivities } from '../../src/activities';
import { IdDigest } from '../../src/archive/idDigest';
import { getObject } from '../../src/archive/reader';
import { sealedHourPrefix, shardOf } from '../../src/archive/sealed';
import { archiveBreakers } from '../../src/archive/writer';
import { readSeal, startSeal } from '../../src/client/seal';
import { hourOf } from '../../src/shared/batch';
import type { TrackingEvent } from '../../src/shared/event';
import {
  sealWorkflowId,
  type SealHourJob,
  type SealManifest,
  type SealPlan,
  type SealPlanResult,
  type SealShardDraft,
  type SealSummary,
} from '../../src/shared/seal';
import { waitUntil } from '../../src/util/waitUntil';
import { uniqueName } from '../helpers/env';
import { makeEvents } from '../helpers/pipeline';
import { startReconcileWorld, type ReconcileWorld } from '../reconcile/world';

jest.setTimeout(180_000);

const REGION = 'us-east-1';
const HOUR_MS = 3_600_000;

/**
 * The sealed hour split by a hash of the event ID (patch `seal-shards`), on the real stack: every accepted
 * ID sealed exactly once over all shards (read back by DuckDB, not the writer's library), every part holding
 * only its shard's IDs, and the same hour as one shard seals it.
 */
describe('sealHour in shards', () => {
  let world: ReconcileWorld;
  let scratch: string;

  beforeAll(async () => {
    world = await startReconcileWorld();
    scratch = mkdtempSync(join(tmpdir(), 'stormproof-shards-'));
  });
  afterAll(async () => {
    await world?.stop();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  const home = () => world.config.regions.find((r) => r.name === REGION)!.archive[0]!;

  const seal = async (hour: string, shards: number) => {
    const { handle } = await startSeal(world.client, world.config, {
      region: REGION,
      hour,
      partRows: 40,
      shards,
    });
    return handle.result();
  };

  /** Every key under the hour's sealed prefix in a bucket (the home bucket by default). */
  async function sealedKeys(hour: string, target = home()): Promise<string[]> {
    const page = await world.aws
      .s3(target.region)
      .send(new ListObjectsV2Command({ Bucket: target.bucket, Prefix: sealedHourPrefix(REGION, hour) }));
    return (page.Contents ?? []).map((o) => o.Key!).sort();
  }

  /** The manifest's files downloaded, then every row's ID and key as DuckDB reads them. */
  async function duckIds(m: SealManifest): Promise<{ id: string; file: string }[]> {
    const dir = mkdtempSync(join(scratch, 'hour-'));
    for (const f of m.files) {
      const body = await getObject(world.aws, home(), f.key, AbortSignal.timeout(30_000));
      mkdirSync(join(dir, dirname(f.key)), { recursive: true });
      writeFileSync(join(dir, f.key), body);
    }
    const db = await DuckDBInstance.create(':memory:');
    const conn = await db.connect();
    try {
      const reader = await conn.runAndReadAll(
        `SELECT id, filename AS file FROM read_parquet('${join(dir, 'sealed/v1/*/*/*/*.parquet')}', filename = true)`,
      );
      return (reader.getRowObjectsJS() as { id: string; file: string }[]).map((r) => ({
        id: r.id,
        file: r.file.slice(dir.length + 1),
      }));
    } finally {
      conn.closeSync();
      db.closeSync();
    }
  }

  /** Checks each part holds only IDs of the shard its key names, among `of` shards. */
  function expectPartsOfTheirShard(rows: { id: string; file: string }[], version: number, of: number): void {
    const pattern = new RegExp(`part-${version}-(\\d{3})of${String(of).padStart(3, '0')}-\\d{5}\\.parquet$`);
    for (const r of rows.filter((x) => x.file.includes(`/part-${version}-`))) {
      const shard = pattern.exec(r.file);
      expect(shard).not.toBeNull();
      expect(shardOf(r.id, of)).toBe(Number(shard![1]));
    }
  }

  it('holds each accepted ID exactly once over five shards, as one shard seals the same events', async () => {
    // The same events in two hours (the second an hour later, so same IDs, same minutes): one sealed in one
    // shard, the other in five. Resent events and failover copies, as in production.
    const events = makeEvents(600, REGION);
    const later = events.map((e) => ({
      ...e,
      timestamp: new Date(Date.parse(e.timestamp) + HOUR_MS).toISOString(),
    }));
    const archiveHour = async (evs: TrackingEvent[]): Promise<string> => {
      const prefix = uniqueName('a');
      await world.archive(evs, { batchSize: 100, batchPrefix: prefix });
      await world.archive(evs.slice(0, 130), { batchSize: 65, batchPrefix: uniqueName('resent') });
      await world.archive(evs.slice(0, 200), { batchSize: 100, batchPrefix: prefix, bucket: 'failover' });
      return hourOf(evs[0]!.timestamp);
    };
    const one = await seal(await archiveHour(events), 1);
    const hour = await archiveHour(later);
    const five = await seal(hour, 5);
    // The UI's details name the shards the seal ran in.
    const meta = await world.client.workflow
      .getHandle(sealWorkflowId(REGION, hour))
      .query<{ currentDetails: string }>('__temporal_workflow_metadata');
    expect(meta.currentDetails).toMatch(/^\*\*sealed\*\*/);
    expect(meta.currentDetails).toContain('| shards | 5 |');

    const unique = IdDigest.of(events.map((e) => e.id)).toHex();
    for (const r of [one, five]) {
      expect(r.outcome).toBe('sealed');
      expect(r.summary).toMatchObject({
        version: 1,
        total: { count: 600, digest: unique },
        sources: 8,
        eventsRead: 730,
        duplicatesDropped: 130,
      });
    }
    const m1 = (await readSeal(world.config, { region: REGION, hour: one.summary!.hour }))!.manifest;
    const m5 = (await readSeal(world.config, { region: REGION, hour }))!.manifest;
    // The shards' per-minute digests combine into the single shard's (same minutes, an hour apart).
    const byMinute = (m: SealManifest) => Object.entries(m.minutes).map(([k, v]) => [k.slice(3), v]);
    expect(byMinute(m5)).toEqual(byMinute(m1));

    // DuckDB: every accepted ID once over all parts (an ID in two shards, or in none, fails here), and each
    // part holds only IDs of the shard its key names; every shard wrote; nothing but the parts and manifest.
    const rows = await duckIds(m5);
    expect(rows.map((r) => r.id).sort()).toEqual(events.map((e) => e.id).sort());
    expectPartsOfTheirShard(rows, 1, 5);
    expect(new Set(m5.files.map((f) => /-(\d{3})of005-/.exec(f.key)![1])).size).toBe(5);
    expect(m5.files.every((f) => f.rows <= 40)).toBe(true);
    expect(await sealedKeys(hour)).toEqual([...m5.files.map((f) => f.key), five.summary!.manifestKey].sort());

    // Sealing again changes nothing.
    expect(await seal(hour, 5)).toEqual({
      outcome: 'already-sealed',
      summary: five.summary,
      unsealedSources: 0,
    });
  });

  it('seals late events in shards: each shard keeps only its IDs of the earlier version', async () => {
    const events = makeEvents(400, REGION);
    const hour = hourOf(events[0]!.timestamp);
    await world.archive(events.slice(0, 250), { batchSize: 50 });
    const v1 = await seal(hour, 3);
    expect(v1.summary).toMatchObject({ version: 1, total: { count: 250 } });
    const m1 = (await readSeal(world.config, { region: REGION, hour }))!.manifest;

    // A captured batch lands late: 50 events already sealed, 150 new. Version 2 in four shards (another
    // count than version 1's: a shard filters the earlier parts by its own hash).
    await world.archive(events.slice(200), { batchSize: 200, batchPrefix: uniqueName('captured') });
    const v2 = await seal(hour, 4);
    const unique = IdDigest.of(events.map((e) => e.id)).toHex();
    expect(v2.outcome).toBe('sealed');
    expect(v2.summary).toMatchObject({
      version: 2,
      total: { count: 400, digest: unique },
      sources: 6,
      eventsRead: 450,
      duplicatesDropped: 50,
      previous: { version: 1, key: v1.summary!.manifestKey },
      delta: { sources: 1, eventsRead: 200, added: 150 },
    });
    const m2 = (await readSeal(world.config, { region: REGION, hour }))!.manifest;
    expect(m2.files.slice(0, m1.files.length)).toEqual(m1.files);
    const rows = await duckIds(m2);
    expect(rows.map((r) => r.id).sort()).toEqual(events.map((e) => e.id).sort());
    expectPartsOfTheirShard(rows, 1, 3);
    expectPartsOfTheirShard(rows, 2, 4);
    const delta = rows.filter((r) => r.file.includes('/part-2-')).map((r) => r.id);
    expect(delta.sort()).toEqual(
      events
        .slice(250)
        .map((e) => e.id)
        .sort(),
    );
  });

  it('writes a shard the home bucket refused alone again beside the others, so one bucket holds the hour', async () => {
    const events = makeEvents(300, REGION);
    const hour = hourOf(events[0]!.timestamp);
    await world.archive(events, { batchSize: 100 });
    const failover = world.config.regions.find((r) => r.name === REGION)!.archive[1]!;
    // The home bucket refuses shard 1's files alone, until that shard has written them to the failover bucket.
    await world.faults.setFault('s3-us-east-1', {
      mode: 'error',
      status: 403,
      format: 's3',
      methods: ['PUT'],
      pathRegex: 'part-1-001of003-',
    });
    try {
      const { handle } = await startSeal(world.client, world.config, {
        region: REGION,
        hour,
        partRows: 40,
        shards: 3,
      });
      const landed = await waitUntil(
        async () => (await sealedKeys(hour, failover)).some((k) => k.includes('part-1-001of003-')),
        60_000,
        200,
      );
      expect(landed).toBe(true);
      await world.faults.clearAll();
      const result = await handle.result();
      expect(result.summary).toMatchObject({
        bucket: home().bucket,
        total: { count: 300, digest: IdDigest.of(events.map((e) => e.id)).toHex() },
      });
      const m = (await readSeal(world.config, { region: REGION, hour }))!.manifest;
      expect(new Set(m.files.map((f) => /-(\d{3})of003-/.exec(f.key)![1]))).toEqual(
        new Set(['000', '001', '002']),
      );
      expect(await sealedKeys(hour)).toEqual(
        [...m.files.map((f) => f.key), result.summary!.manifestKey].sort(),
      );
      const rows = await duckIds(m);
      expect(rows.map((r) => r.id).sort()).toEqual(events.map((e) => e.id).sort());
      // The refused shard's first files stay where they landed, listed by no manifest.
      expect((await sealedKeys(hour, failover)).every((k) => k.includes('part-1-001of003-'))).toBe(true);
    } finally {
      await world.faults.clearAll();
    }
  });

  it("refuses a shard whose parts hold another shard's IDs, and commits nothing", async () => {
    const events = makeEvents(90, REGION);
    const hour = hourOf(events[0]!.timestamp);
    await world.archive(events, { batchSize: 30 });
    const breakers = archiveBreakers();
    const acts = createActivities({ config: world.config, aws: world.aws, breakers });
    const env = () => new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });
    try {
      const planned = await env().run<[SealHourJob], SealPlanResult, typeof acts.planSeal>(acts.planSeal, {
        region: REGION,
        hour,
        shards: 2,
      });
      if (planned.kind !== 'plan') throw new Error(`expected a plan, got ${planned.kind}`);
      const { plan } = planned;
      const write = (shard: number) =>
        env().run<[{ plan: SealPlan; shard: number }], SealShardDraft, typeof acts.sealShard>(
          acts.sealShard,
          {
            plan,
            shard,
          },
        );
      const [s0, s1] = [await write(0), await write(1)];
      expect(s0.total.count + s1.total.count).toBe(90);
      // Shard 0 claiming shard 1's parts (what routing an ID to the wrong shard would look like).
      const misrouted: SealShardDraft = { ...s1, shard: 0 };
      await expect(env().run(acts.verifySealShard, { plan, draft: misrouted })).rejects.toMatchObject({
        type: 'SealVerifyFailed',
        nonRetryable: true,
        message: expect.stringMatching(/of another shard/),
      });
      // A commit missing a shard is refused too.
      const sealedAt = new Date().toISOString();
      await expect(env().run(acts.commitSeal, { plan, shards: [s0], sealedAt })).rejects.toMatchObject({
        type: 'SealVerifyFailed',
      });
      expect(await readSeal(world.config, { region: REGION, hour })).toBeUndefined();
      await env().run(acts.verifySealShard, { plan, draft: s0 });
      await env().run(acts.verifySealShard, { plan, draft: s1 });
      const summary = await env().run<
        [{ plan: SealPlan; shards: SealShardDraft[]; sealedAt: string }],
        SealSummary,
        typeof acts.commitSeal
      >(acts.commitSeal, { plan, shards: [s0, s1], sealedAt });
      expect(summary.total).toEqual({ count: 90, digest: IdDigest.of(events.map((e) => e.id)).toHex() });
    } finally {
      breakers.shutdown();
    }
  });
});
