import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { DuckDBInstance } from '@duckdb/node-api';
import { WorkflowFailedError } from '@temporalio/client';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { createActivities } from '../../src/activities';
import type { SealPartsResult } from '../../src/activities/seal';
import { archiveKey } from '../../src/archive/format';
import { archiveBreakers } from '../../src/archive/writer';
import { getObject } from '../../src/archive/reader';
import { IdDigest } from '../../src/archive/idDigest';
import { readSeal, startSeal } from '../../src/client/seal';
import { hourOf } from '../../src/shared/batch';
import type { TrackingEvent } from '../../src/shared/event';
import type { SealDraft, SealHourJob, SealResult, SealSummary } from '../../src/shared/seal';
import { makeEvents } from '../helpers/pipeline';
import { uniqueName } from '../helpers/env';
import { statsHour } from '../helpers/verify';
import { waitUntil } from '../../src/util/waitUntil';
import { startReconcileWorld, type ReconcileWorld } from '../reconcile/world';
import { webhookReceiver, type WebhookReceiver } from '../helpers/webhook';
import { searchAttributes } from '../../src/shared/searchAttributes';

jest.setTimeout(180_000);

const REGION = 'us-east-1';

/**
 * The sealed hour on the real stack: raw objects written by the real archive activity, the sealHour
 * workflow run by a real worker, the Parquet files read back by DuckDB (an engine of its own, not the
 * writer's library), the digest compared with the stats API's.
 */
describe('sealHour', () => {
  let world: ReconcileWorld;
  let scratch: string;
  let hook: WebhookReceiver;

  beforeAll(async () => {
    hook = await webhookReceiver();
    world = await startReconcileWorld({ webhookUrl: hook.url });
    scratch = mkdtempSync(join(tmpdir(), 'stormproof-seal-'));
  });
  afterAll(async () => {
    await world?.stop();
    await hook?.close();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  const seal = async (hour: string): Promise<SealResult> => {
    // Files of 200 rows: the hour's 450 events make three, as a large hour makes several.
    const { handle } = await startSeal(world.client, world.config, { region: REGION, hour, partRows: 200 });
    return handle.result();
  };

  /** Downloads the sealed objects of an hour under their keys, as a local mirror of the bucket. */
  async function mirror(bucket: string, prefix: string): Promise<string[]> {
    const s3 = world.aws.s3(REGION);
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
    const keys = (page.Contents ?? []).map((o) => o.Key!);
    for (const key of keys) {
      const body = await getObject(world.aws, { bucket, region: REGION }, key, AbortSignal.timeout(30_000));
      mkdirSync(join(scratch, bucket, dirname(key)), { recursive: true });
      writeFileSync(join(scratch, bucket, key), body);
    }
    return keys;
  }

  it('holds each event ID once, reads back in DuckDB field by field, agrees with the stats API, and seals once', async () => {
    const events = makeEvents(450, REGION);
    const hour = hourOf(events[0]!.timestamp);
    const prefixA = uniqueName('a');
    // Three objects of 150 events; the first 100 events again in an object of another batch (a resend); the
    // first two objects also in the failover bucket under the same keys (one object, two copies).
    await world.archive(events, { batchSize: 150, batchPrefix: prefixA });
    await world.archive(events.slice(0, 100), { batchSize: 100, batchPrefix: uniqueName('resent') });
    await world.archive(events.slice(0, 300), { batchSize: 150, batchPrefix: prefixA, bucket: 'failover' });
    await world.deliver(events);

    const first = await seal(hour);
    expect(first.outcome).toBe('sealed');
    const s = first.summary!;
    const unique = IdDigest.of(events.map((e) => e.id)).toHex();
    expect(s).toMatchObject({
      region: REGION,
      hour,
      version: 1,
      bucket: 'stormproof-archive-us-east-1',
      total: { count: 450, digest: unique },
      sources: 4,
      eventsRead: 550,
      duplicatesDropped: 100,
    });
    expect(await statsHour(world.config, REGION, hour)).toMatchObject({ count: 450, digest: unique });

    const found = (await readSeal(world.config, { region: REGION, hour }))!;
    expect(found.key).toBe(s.manifestKey);
    const m = found.manifest;
    expect(m.sources.keys).toHaveLength(4);
    expect(m.files.map((f) => f.rows)).toEqual([200, 200, 50]);
    const minutes = Object.values(m.minutes);
    expect(minutes.reduce((n, x) => n + x.count, 0)).toBe(450);
    expect(minutes.reduce((d, x) => d.merge(x.digest), new IdDigest()).toHex()).toBe(unique);

    // Every row, every field, read by DuckDB through the documented Hive-partitioned glob.
    const prefix = m.files[0]!.key.replace(/[^/]+$/, '');
    const keys = await mirror(s.bucket, prefix);
    expect(keys.sort()).toEqual([...m.files.map((f) => f.key), s.manifestKey].sort());
    const db = await DuckDBInstance.create(':memory:');
    const conn = await db.connect();
    try {
      const glob = join(scratch, s.bucket, 'sealed/v1/region=*/dt=*/hour=*/*.parquet');
      const reader = await conn.runAndReadAll(
        `SELECT id, type, "timestamp", epoch_ms(eventTime) AS ms, region, offerId, affiliateId,
                CAST(attributes AS VARCHAR) AS attributes,
                CAST(dt AS VARCHAR) AS dt, hour
           FROM read_parquet('${glob}', hive_partitioning = true)`,
      );
      const rows = reader.getRowObjectsJS() as Record<string, unknown>[];
      expect(rows).toHaveLength(events.length);
      const byId = new Map(rows.map((r) => [r.id as string, r]));
      expect(byId.size).toBe(events.length);
      for (const e of events) {
        const r = byId.get(e.id)!;
        const back: TrackingEvent = {
          id: r.id as string,
          type: r.type as TrackingEvent['type'],
          timestamp: r.timestamp as string,
          region: r.region as string,
          offerId: r.offerId as string,
          affiliateId: r.affiliateId as string,
          attributes: JSON.parse(r.attributes as string) as TrackingEvent['attributes'],
        };
        expect(back).toEqual(e);
        expect(Number(r.ms)).toBe(Date.parse(e.timestamp));
        expect(String(r.dt)).toBe(hour.slice(0, 10));
        expect(Number(r.hour)).toBe(Number(hour.slice(11, 13)));
      }
    } finally {
      conn.closeSync();
      db.closeSync();
    }

    // Sealing again changes nothing: the same manifest, no second version, no new file.
    const second = await seal(hour);
    expect(second).toEqual({ outcome: 'already-sealed', summary: s, unsealedSources: 0 });
    expect((await readSeal(world.config, { region: REGION, hour }))!.manifest).toEqual(m);
    expect((await mirror(s.bucket, prefix)).sort()).toEqual(keys.sort());
  });

  /** Every row of the given Parquet files (local paths or a glob), as DuckDB reads them. */
  async function duckRows(glob: string): Promise<{ id: string; type: string }[]> {
    const db = await DuckDBInstance.create(':memory:');
    const conn = await db.connect();
    try {
      const reader = await conn.runAndReadAll(
        `SELECT id, type FROM read_parquet('${glob}', hive_partitioning = true)`,
      );
      return reader.getRowObjectsJS() as { id: string; type: string }[];
    } finally {
      conn.closeSync();
      db.closeSync();
    }
  }

  it('seals a batch that lands after the seal as a new version holding only the new IDs', async () => {
    const events = makeEvents(300, REGION);
    const hour = hourOf(events[0]!.timestamp);
    const sealedFirst = events.slice(0, 200);
    await world.archive(sealedFirst, { batchSize: 100 });
    await world.deliver(events); // the stats API counts every accepted event, late ones included
    const v1 = await seal(hour);
    expect(v1.summary).toMatchObject({ version: 1, total: { count: 200 }, files: 1 });
    const m1 = (await readSeal(world.config, { region: REGION, hour }))!.manifest;

    // A batch captured during an outage lands late: 50 events already sealed, 100 the seal never saw.
    await world.archive(events.slice(150), { batchSize: 150, batchPrefix: uniqueName('captured') });
    const v2 = await seal(hour);
    const unique = IdDigest.of(events.map((e) => e.id)).toHex();
    expect(v2.outcome).toBe('sealed');
    expect(v2.summary).toMatchObject({
      version: 2,
      total: { count: 300, digest: unique },
      sources: 3,
      eventsRead: 350,
      duplicatesDropped: 50,
      files: 2,
      previous: { version: 1, key: v1.summary!.manifestKey },
      delta: { sources: 1, eventsRead: 150, added: 100 },
    });
    expect(await statsHour(world.config, REGION, hour)).toMatchObject({ count: 300, digest: unique });

    // Readers follow the latest manifest: it lists version 1's part and the delta, and the whole hour.
    const found = (await readSeal(world.config, { region: REGION, hour }))!;
    expect(found.key).toBe(v2.summary!.manifestKey);
    const m2 = found.manifest;
    expect(m2.files.slice(0, 1)).toEqual(m1.files);
    expect(m2.files[1]).toMatchObject({
      key: expect.stringMatching(/part-2-000of001-00000\.parquet$/),
      rows: 100,
    });
    expect(m2.sources.keys).toEqual(expect.arrayContaining(m1.sources.keys));
    expect(m2.sources.keys).toHaveLength(3);
    const minutes = Object.values(m2.minutes);
    expect(minutes.reduce((n, x) => n + x.count, 0)).toBe(300);
    expect(minutes.reduce((d, x) => d.merge(x.digest), new IdDigest()).toHex()).toBe(unique);

    // DuckDB: the delta holds exactly the new IDs; every part of the hour together, each accepted ID once.
    const prefix = m2.files[0]!.key.replace(/[^/]+$/, '');
    await mirror(m2.bucket, prefix);
    const delta = await duckRows(join(scratch, m2.bucket, m2.files[1]!.key));
    expect(delta.map((r) => r.id).sort()).toEqual(
      events
        .slice(200)
        .map((e) => e.id)
        .sort(),
    );
    const all = await duckRows(join(scratch, m2.bucket, prefix, '*.parquet'));
    expect(all.map((r) => r.id).sort()).toEqual(events.map((e) => e.id).sort());

    // Sealing again with nothing new changes nothing.
    expect(await seal(hour)).toEqual({ outcome: 'already-sealed', summary: v2.summary, unsealedSources: 0 });

    // A late object of only sealed IDs (a resend) is recorded as a source, adds no file and no event.
    await world.archive(events.slice(0, 20), { batchSize: 20, batchPrefix: uniqueName('resent') });
    const v3 = await seal(hour);
    expect(v3.summary).toMatchObject({
      version: 3,
      total: { count: 300, digest: unique },
      sources: 4,
      files: 2,
      duplicatesDropped: 70,
      delta: { sources: 1, eventsRead: 20, added: 0 },
    });
    expect((await mirror(m2.bucket, prefix)).filter((k) => k.endsWith('.parquet'))).toHaveLength(2);
  });

  it('shows its phase and counts in the Temporal UI, and seals an empty hour as nothing', async () => {
    const hour = hourOf(makeEvents(1, REGION)[0]!.timestamp);
    const { handle } = await startSeal(world.client, world.config, { region: REGION, hour });
    expect(await handle.result()).toEqual({ outcome: 'empty', unsealedSources: 0 });
    const d = await handle.describe();
    expect(await d.staticSummary()).toMatch(/^Seal us-east-1/);
    const listed = await waitUntil(
      async () => {
        for await (const w of world.client.workflow.list({
          query: `WorkflowId = '${handle.workflowId}' AND StormproofPhase = 'empty'`,
        }))
          return w.workflowId === handle.workflowId;
        return false;
      },
      30_000,
      250,
    );
    expect(listed).toBe(true);
    expect(await readSeal(world.config, { region: REGION, hour })).toBeUndefined();
  });

  it('writes no manifest when the files read back differ from the sources, and one when they match', async () => {
    const events = makeEvents(120, REGION);
    const hour = hourOf(events[0]!.timestamp);
    await world.archive(events, { batchSize: 60 });
    const breakers = archiveBreakers();
    const acts = createActivities({ config: world.config, aws: world.aws, breakers });
    const env = () => new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });
    try {
      const parts = await env().run<[SealHourJob], SealPartsResult, typeof acts.sealHourParts>(
        acts.sealHourParts,
        { region: REGION, hour },
      );
      expect(parts.kind).toBe('draft');
      if (parts.kind !== 'draft') throw new Error(`expected a draft, got ${parts.kind}`);
      const { draft } = parts;
      const sealedAt = new Date().toISOString();
      // A draft that claims another set of IDs: what a writer bug would look like.
      const wrong: SealDraft = {
        ...draft,
        total: { ...draft.total, digest: IdDigest.of(['other']).toHex() },
      };
      await expect(env().run(acts.verifySealedHour, { draft: wrong, sealedAt })).rejects.toMatchObject({
        type: 'SealVerifyFailed',
        nonRetryable: true,
      });
      expect(await readSeal(world.config, { region: REGION, hour })).toBeUndefined();

      const summary = await env().run<
        [{ draft: SealDraft; sealedAt: string }],
        SealSummary,
        typeof acts.verifySealedHour
      >(acts.verifySealedHour, { draft, sealedAt });
      expect(summary.total).toEqual({ count: 120, digest: IdDigest.of(events.map((e) => e.id)).toHex() });
      // Verifying again (an answer lost) finds its own manifest: the same bytes.
      expect(await env().run(acts.verifySealedHour, { draft, sealedAt })).toEqual(summary);
      // A concurrent seal of the same sources (the Schedule and an operator) takes the manifest written first.
      const later = new Date(Date.parse(sealedAt) + 60_000).toISOString();
      expect(await env().run(acts.verifySealedHour, { draft, sealedAt: later })).toEqual(summary);
      // A draft of other content for the same version is someone else's seal: refused, nothing overwritten.
      await expect(
        env().run(acts.verifySealedHour, { draft: { ...draft, eventsRead: draft.eventsRead + 1 }, sealedAt }),
      ).rejects.toMatchObject({ type: 'SealConflict', nonRetryable: true });
      expect((await readSeal(world.config, { region: REGION, hour }))!.key).toBe(summary.manifestKey);
    } finally {
      breakers.shutdown();
    }
  });

  /** The seal-failed notifications the webhook received for an hour. */
  const alertsFor = (hour: string) =>
    hook.got.filter((g) => g.body.text.includes('Seal of') && g.body.text.includes(hour));

  it('refuses to seal an hour with a raw object no bucket holds readable, says so in its phase, and alerts once', async () => {
    const events = makeEvents(50, REGION);
    const hour = hourOf(events[0]!.timestamp);
    await world.archive(events);
    const home = world.config.regions.find((r) => r.name === REGION)!.archive[0]!;
    await world.aws.s3(home.region).send(
      new PutObjectCommand({
        Bucket: home.bucket,
        Key: archiveKey(REGION, hour, uniqueName('corrupt')),
        Body: 'not gzip',
      }),
    );
    const { handle } = await startSeal(world.client, world.config, { region: REGION, hour });
    const err: unknown = await handle.result().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect(
      String(((err as WorkflowFailedError).cause as { cause?: Error } | undefined)?.cause?.message),
    ).toMatch(/no readable copy/);
    const phase = await waitUntil(
      async () => {
        for await (const w of world.client.workflow.list({
          query: `WorkflowId = '${handle.workflowId}' AND StormproofPhase = 'failed'`,
        }))
          return w.workflowId === handle.workflowId;
        return false;
      },
      30_000,
      250,
    );
    expect(phase).toBe(true);
    expect(await readSeal(world.config, { region: REGION, hour })).toBeUndefined();
    // The alert is sent before the workflow fails, so it is here already: one, naming what an operator needs.
    const alerts = alertsFor(hour);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]!.body.text).toContain(
      `Seal of ${REGION} ${hour} failed while writing: SealCorruptSource`,
    );
    expect(alerts[0]!.body.text).toMatch(/phase writing: no readable copy of events\/v1\/region=us-east-1/);
    expect(JSON.stringify(alerts[0]!.body.blocks)).toContain('seal-failed');
    expect(alerts[0]!.headers['idempotency-key']).toMatch(new RegExp(`^${handle.workflowId}/`));
  });

  it('alerts once, naming the verifying phase, when a planned raw object disappears while the seal verifies', async () => {
    const events = makeEvents(100, REGION);
    const hour = hourOf(events[0]!.timestamp);
    const [gone] = await world.archive(events.slice(0, 80));
    await world.archive(events.slice(80), { batchPrefix: uniqueName('second') });
    // Reading the written part back fails until the raw object is deleted: the seal waits in `verifying`.
    // (A batch that lands meanwhile is no failure any more: the next version takes it, test/seal/converge.)
    const sealedPath = `sealed/v1/region(=|%3D)${REGION}/dt(=|%3D)${hour.slice(0, 10)}/hour(=|%3D)${hour.slice(11, 13)}/part-`;
    await world.faults.setFault('s3-us-east-1', {
      mode: 'error',
      status: 503,
      format: 's3',
      methods: ['GET'],
      pathRegex: sealedPath,
    });
    const faulted = async () =>
      (await world.faults.list()).find((l) => l.name === 's3-us-east-1')!.counters.faulted;
    const before = await faulted();
    try {
      const { handle } = await startSeal(world.client, world.config, { region: REGION, hour });
      const verifying = await waitUntil(
        async () =>
          (await handle.describe()).typedSearchAttributes.get(searchAttributes.phase) === 'verifying' &&
          (await faulted()) > before,
        60_000,
        200,
      );
      expect(verifying).toBe(true);
      await world.aws.s3(REGION).send(new DeleteObjectCommand({ Bucket: gone!.bucket, Key: gone!.key }));
      await world.faults.clearAll();
      const err: unknown = await handle.result().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WorkflowFailedError);
      const alerts = alertsFor(hour);
      expect(alerts).toHaveLength(1);
      expect(alerts[0]!.body.text).toContain(`failed while verifying: SealSourcesChanged`);
      expect(alerts[0]!.body.text).toContain(`Region ${REGION}, hour ${hour}, phase verifying`);
      expect(await readSeal(world.config, { region: REGION, hour })).toBeUndefined();
    } finally {
      await world.faults.clearAll();
    }
  });

  it('seals each event once when S3 loses the answers to its PUTs (the retry finds its own objects)', async () => {
    const events = makeEvents(300, REGION);
    const hour = hourOf(events[0]!.timestamp);
    await world.archive(events, { batchSize: 100 });
    await world.archive(events.slice(0, 50), { batchSize: 50, batchPrefix: uniqueName('resent') });
    // Each sealed object lands in S3 but its answer is lost, more than once: every retry meets a 412.
    await world.faults.setFault('s3-us-east-1', {
      mode: 'lose-answer',
      methods: ['PUT'],
      pathRegex: `sealed/v1/region(=|%3D)${REGION}/dt(=|%3D)${hour.slice(0, 10)}/`,
      count: 6,
    });
    try {
      const result = await seal(hour);
      expect(result.outcome).toBe('sealed');
      const unique = IdDigest.of(events.map((e) => e.id)).toHex();
      expect(result.summary).toMatchObject({ total: { count: 300, digest: unique }, duplicatesDropped: 50 });
      const lost = (await world.faults.list()).find((l) => l.name === 's3-us-east-1')!;
      expect(lost.counters.faulted).toBeGreaterThan(0);
      const m = (await readSeal(world.config, { region: REGION, hour }))!.manifest;
      const keys = await mirror(m.bucket, m.files[0]!.key.replace(/[^/]+$/, ''));
      expect(keys.sort()).toEqual([...m.files.map((f) => f.key), result.summary!.manifestKey].sort());
    } finally {
      await world.faults.clearAll();
    }
  });
});
