import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { batchIdOf, prepareBatch } from '../../src/archive/format';
import { IdDigest } from '../../src/archive/idDigest';
import { readSeal, startSeal } from '../../src/client/seal';
import { batchStatusQuery, retryNowSignal } from '../../src/shared/messages';
import { captureWorkflowId, hourOf, type CaptureInput } from '../../src/shared/batch';
import type { TrackingEvent } from '../../src/shared/event';
import { sealWorkflowId } from '../../src/shared/seal';
import { waitUntil } from '../../src/util/waitUntil';
import { makeEventsInHour, randomPastHourMs } from '../helpers/pipeline';
import { uniqueName } from '../helpers/env';
import { startReconcileWorld, type ReconcileWorld } from '../reconcile/world';

const REGION = 'us-east-1';

describe('a captured batch that lands in an hour already sealed', () => {
  let world: ReconcileWorld;
  beforeAll(async () => {
    world = await startReconcileWorld();
  });
  afterAll(() => world?.stop());

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
  const versionOf = async (hour: string) =>
    (await readSeal(world.config, { region: REGION, hour }))?.manifest.version;

  it('seals the hour again on its own: the next version holds its events, each ID once', async () => {
    const hourMs = randomPastHourMs();
    const prefix = uniqueName('late');
    const onTime = makeEventsInHour(200, hourMs, REGION, `${prefix}-a`);
    const hour = hourOf(onTime[0]!.timestamp);
    await world.archive(onTime, { batchSize: 100 });
    const first = await (
      await startSeal(world.client, world.config, { region: REGION, hour })
    ).handle.result();
    expect(first.summary).toMatchObject({ version: 1, total: { count: 200 } });

    // Captured during an outage, landing now: 50 new events and 10 already sealed (a resend).
    const late = [...makeEventsInHour(50, hourMs, REGION, `${prefix}-b`), ...onTime.slice(0, 10)];
    await (await startCapture(late, hour)).result();

    // Nobody asked for it: the capture started the hour's seal, which made version 2.
    expect(await waitUntil(async () => (await versionOf(hour)) === 2, 90_000, 250)).toBe(true);
    const m = (await readSeal(world.config, { region: REGION, hour }))!.manifest;
    const ids = [...onTime, ...late.slice(0, 50)].map((e) => e.id);
    expect(m.total).toEqual({ count: 250, digest: IdDigest.of(ids).toHex() });
    expect(m.delta).toMatchObject({ sources: 1, eventsRead: 60, added: 50 });
    const seal = world.client.workflow.getHandle(sealWorkflowId(REGION, hour));
    expect(await (await seal.describe()).staticSummary()).toMatch(/captured batch landed late/);
    await seal.result(); // it lists the hour once more after version 2: let it end before the worker stops
  }, 150_000);

  it("stormproof seal lists the hour's captures still pending; each seals the hour again when it lands", async () => {
    const hourMs = randomPastHourMs();
    const prefix = uniqueName('pending');
    const onTime = makeEventsInHour(100, hourMs, REGION, `${prefix}-a`);
    const hour = hourOf(onTime[0]!.timestamp);
    await world.archive(onTime, { batchSize: 100 });

    // Every bucket of the region refuses this hour's raw objects: the batch stays captured.
    const pathRegex = `events/v1/region(=|%3D)${REGION}/dt(=|%3D)${hour.slice(0, 10)}/hour(=|%3D)${hour.slice(11, 13)}/`;
    const s3 = ['s3-us-east-1', 's3-us-west-2'];
    const dir = mkdtempSync(join(tmpdir(), 'stormproof-seal-cli-'));
    try {
      for (const l of s3)
        await world.faults.setFault(l, {
          mode: 'error',
          status: 503,
          format: 's3',
          methods: ['PUT'],
          pathRegex,
        });
      const capture = await startCapture(makeEventsInHour(30, hourMs, REGION, `${prefix}-b`), hour);
      const captured = await waitUntil(
        async () => (await capture.query(batchStatusQuery)).state === 'captured',
        60_000,
        100,
      );
      expect(captured).toBe(true);

      const configPath = join(dir, 'config.json');
      writeFileSync(configPath, JSON.stringify(world.config));
      const { stdout } = await promisify(execFile)(
        'node_modules/.bin/tsx',
        ['src/cli/main.ts', 'seal', '--region', REGION, '--hour', hour.slice(0, 13)],
        { env: { ...process.env, STORMPROOF_CONFIG: configPath } },
      );
      expect(stdout).toMatch(/sealed, version 1/);
      expect(stdout).toMatch(/100 events/);
      expect(stdout).toContain('captured batches still pending: 1, not in this seal');
      expect(stdout).toContain(`    ${capture.workflowId}`);

      for (const l of s3) await world.faults.clear(l);
      await capture.signal(retryNowSignal);
      await capture.result();
      expect(await waitUntil(async () => (await versionOf(hour)) === 2, 90_000, 250)).toBe(true);
      const m = (await readSeal(world.config, { region: REGION, hour }))!.manifest;
      expect(m.total.count).toBe(130);
      // The re-seal lists the hour once more after version 2: let it end before the worker stops.
      await world.client.workflow.getHandle(sealWorkflowId(REGION, hour)).result();
    } finally {
      for (const l of s3) await world.faults.clear(l);
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);
});
