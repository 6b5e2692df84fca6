import { batchIdOf, prepareBatch } from '../../src/archive/format';
import { IdDigest } from '../../src/archive/idDigest';
import { readSeal, startSeal } from '../../src/client/seal';
import { captureWorkflowId, hourOf, type CaptureInput } from '../../src/shared/batch';
import { HOUR_MS } from '../../src/shared/reconcile';
import { sealWorkflowId } from '../../src/shared/seal';
import { waitUntil } from '../../src/util/waitUntil';
import { makeEvents } from '../helpers/pipeline';
import { uniqueName } from '../helpers/env';
import { startReconcileWorld, type ReconcileWorld } from '../reconcile/world';

const REGION = 'us-east-1';

/** Events in a closed hour of their own (2001-2020: no other test seals it), minutes as makeEvents spreads them. */
function eventsInPastHour(n: number, hourMs: number, prefix: string) {
  return makeEvents(n, REGION, prefix).map((e) => ({
    ...e,
    timestamp: new Date(hourMs + (Date.parse(e.timestamp) % HOUR_MS)).toISOString(),
  }));
}

describe('a captured batch that lands in an hour already sealed', () => {
  let world: ReconcileWorld;
  beforeAll(async () => {
    world = await startReconcileWorld();
  });
  afterAll(() => world?.stop());

  it('seals the hour again on its own: the next version holds its events, each ID once', async () => {
    const hourMs = Date.UTC(2001, 0, 1) + Math.floor(Math.random() * 20 * 365 * 24) * HOUR_MS;
    const prefix = uniqueName('late');
    const onTime = eventsInPastHour(200, hourMs, `${prefix}-a`);
    const hour = hourOf(onTime[0]!.timestamp);
    await world.archive(onTime, { batchSize: 100 });
    const first = await (
      await startSeal(world.client, world.config, { region: REGION, hour })
    ).handle.result();
    expect(first.summary).toMatchObject({ version: 1, total: { count: 200 } });

    // Captured during an outage, landing now: 50 new events and 10 already sealed (a resend).
    const late = [...eventsInPastHour(50, hourMs, `${prefix}-b`), ...onTime.slice(0, 10)];
    const batchId = batchIdOf(hour, late);
    const { manifest, body } = await prepareBatch({ batchId, region: REGION, hour, events: late });
    const { captureInitialBackoffMs: initialMs, captureMaxBackoffMs: maxMs } = world.config.archive;
    const input: CaptureInput = { manifest, capture: { initialMs, maxMs }, reason: 'S3 was down' };
    const capture = await world.client.workflow.start('captureBatch', {
      workflowId: captureWorkflowId(REGION, batchId),
      taskQueue: world.config.temporal.taskQueue,
      args: [input, body],
    });
    await capture.result();

    // Nobody asked for it: the capture started the hour's seal, which made version 2.
    const resealed = await waitUntil(
      async () => (await readSeal(world.config, { region: REGION, hour }))?.manifest.version === 2,
      90_000,
      250,
    );
    expect(resealed).toBe(true);
    const m = (await readSeal(world.config, { region: REGION, hour }))!.manifest;
    const ids = [...onTime, ...late.slice(0, 50)].map((e) => e.id);
    expect(m.total).toEqual({ count: 250, digest: IdDigest.of(ids).toHex() });
    expect(m.delta).toMatchObject({ sources: 1, eventsRead: 60, added: 50 });
    const seal = await world.client.workflow.getHandle(sealWorkflowId(REGION, hour)).describe();
    expect(await seal.staticSummary()).toMatch(/captured batch landed late/);
  }, 150_000);
});
