import type { ChildProcess } from 'node:child_process';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { IdDigest } from '../../src/archive/idDigest';
import { getObject } from '../../src/archive/reader';
import { sealedHourPrefix } from '../../src/archive/sealed';
import { sha256Hex } from '../../src/archive/format';
import { readSeal, startSeal } from '../../src/client/seal';
import type { AppConfig } from '../../src/config/schema';
import { hourOf } from '../../src/shared/batch';
import { stopProcess } from '../../src/stack/nodeProcess';
import { waitUntil } from '../../src/util/waitUntil';
import { uniqueName } from '../helpers/env';
import { makeEvents } from '../helpers/pipeline';
import { startWorkerProcess, workerConfigFile } from '../helpers/workerProcess';
import { startReconcileWorld, type ReconcileWorld } from '../reconcile/world';

// A killed worker's activity moves on after its heartbeat timeout (1 minute), then seals again.
jest.setTimeout(240_000);

const REGION = 'us-east-1';

describe('a worker killed with SIGKILL in the middle of a seal', () => {
  let world: ReconcileWorld;
  const workers: ChildProcess[] = [];

  beforeAll(async () => {
    world = await startReconcileWorld();
  });
  afterAll(async () => {
    await Promise.all(workers.map((w) => stopProcess(w)));
    await world?.stop();
  });

  it('resumes its shards on another worker and seals the same files, each event once', async () => {
    // The seal runs on a task queue only the worker processes poll (not the world's in-process worker).
    const config: AppConfig = {
      ...world.config,
      temporal: { ...world.config.temporal, taskQueue: uniqueName('seal-crash') },
    };
    const configPath = workerConfigFile(config);

    const events = makeEvents(8000, REGION);
    const hour = hourOf(events[0]!.timestamp);
    await world.archive(events, { batchSize: 200 });
    // Slow reads: the seal is still writing its files when the worker dies.
    await world.faults.setFault('s3-us-east-1', { mode: 'latency', latencyMs: 400, methods: ['GET'] });

    const first = (await startWorkerProcess(configPath)).child;
    workers.push(first);
    // Three shards: they run at once on the first worker, and each resumes on the second.
    const { handle } = await startSeal(world.client, config, {
      region: REGION,
      hour,
      partRows: 1000,
      shards: 3,
    });
    const home = config.regions.find((r) => r.name === REGION)!.archive[0]!;
    const sealedKeys = async (): Promise<string[]> => {
      const page = await world.aws
        .s3(home.region)
        .send(new ListObjectsV2Command({ Bucket: home.bucket, Prefix: sealedHourPrefix(REGION, hour) }));
      return (page.Contents ?? []).map((o) => o.Key!).sort();
    };
    expect(await waitUntil(async () => (await sealedKeys()).length > 0, 60_000, 100)).toBe(true);
    first.kill('SIGKILL');
    await stopProcess(first);
    expect(first.signalCode).toBe('SIGKILL');
    const atKill = await sealedKeys();
    expect(atKill.some((k) => k.endsWith('.json'))).toBe(false); // no manifest yet: the kill interrupted it

    await world.faults.clearAll();
    workers.push((await startWorkerProcess(configPath)).child);
    const result = await handle.result();
    expect(result.outcome).toBe('sealed');
    expect(result.summary!.total).toEqual({
      count: 8000,
      digest: IdDigest.of(events.map((e) => e.id)).toHex(),
    });
    const m = (await readSeal(config, { region: REGION, hour }))!.manifest;
    // Every shard wrote its files of at most 1,000 rows; together they hold the 8,000 events.
    const shardsWritten = new Set(m.files.map((f) => /part-1-(\d{3})of003-\d{5}\.parquet$/.exec(f.key)?.[1]));
    expect([...shardsWritten].sort()).toEqual(['000', '001', '002']);
    expect(m.files.every((f) => f.rows <= 1000)).toBe(true);
    expect(m.files.reduce((n, f) => n + f.rows, 0)).toBe(8000);
    // The files written before the kill were written again byte for byte (the conditional PUT found them),
    // and nothing else is under the hour.
    expect(await sealedKeys()).toEqual([...m.files.map((f) => f.key), result.summary!.manifestKey].sort());
    for (const f of m.files) {
      const body = await getObject(world.aws, home, f.key, AbortSignal.timeout(30_000));
      expect(sha256Hex(body)).toBe(f.sha256);
    }
  });
});
