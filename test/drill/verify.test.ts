import { archivedCounts } from '../../src/drill/verify';
import { startSeal } from '../../src/client/seal';
import { hourOf } from '../../src/shared/batch';
import { makeEvents } from '../helpers/pipeline';
import { uniqueName } from '../helpers/env';
import { startReconcileWorld, type ReconcileWorld } from '../reconcile/world';

/** The drill's archive check reads an hour as every reader does: the sealed hour where one exists. */
describe('drill: archivedCounts', () => {
  let world: ReconcileWorld;
  beforeAll(async () => {
    world = await startReconcileWorld();
  });
  afterAll(() => world?.stop());

  it('counts raw duplicates before the seal, each ID once after it, and what lands late on top', async () => {
    const prefix = uniqueName('drill');
    const events = makeEvents(300, 'us-east-1', prefix);
    const hour = hourOf(events[0]!.timestamp);
    const counts = () => archivedCounts(world.aws, world.config, [hour], prefix);
    const histogram = async (): Promise<Record<number, number>> => {
      const h: Record<number, number> = {};
      for (const n of (await counts()).values()) h[n] = (h[n] ?? 0) + 1;
      return h;
    };
    await world.archive(events, { batchSize: 100 });
    // A sender's resend of the first 50 under another batch ID: a second raw object holds them.
    await world.archive(events.slice(0, 50), { batchSize: 50 });
    expect(await histogram()).toEqual({ 1: 250, 2: 50 });

    const seal = async () =>
      (await startSeal(world.client, world.config, { region: 'us-east-1', hour })).handle.result();
    expect((await seal()).outcome).toBe('sealed');
    expect(await histogram()).toEqual({ 1: 300 });

    // Late: 20 new events and 10 sealed ones again, in one raw object the seal does not hold yet.
    const late = makeEvents(20, 'us-east-1', `${prefix}-late`).map((e) => ({
      ...e,
      timestamp: events[0]!.timestamp,
    }));
    await world.archive([...late, ...events.slice(100, 110)], { batchSize: 30 });
    expect(await histogram()).toEqual({ 1: 310, 2: 10 });

    // The next version holds the late object: each ID once again.
    expect((await seal()).outcome).toBe('sealed');
    expect(await histogram()).toEqual({ 1: 320 });
  });
});
