import { hourOf } from '../../src/shared/batch';
import { makeEvents } from '../helpers/pipeline';
import { statsHour } from '../helpers/verify';
import { sideOf, startReconcileWorld, type ReconcileWorld } from './world';

describe('reconcile: events in the stats API that the archive does not hold', () => {
  let w: ReconcileWorld;
  beforeAll(async () => {
    w = await startReconcileWorld();
  });
  afterAll(() => w.stop());

  it('reports the extra events, leaves them in the stats and still replays what is missing', async () => {
    const events = makeEvents(1200);
    const hour = hourOf(events[0]!.timestamp);
    const archived = events.slice(0, 1000);
    const extra = events.slice(1000, 1005);
    await w.archive(archived, { batchSize: 500 });
    await w.deliver([...archived.slice(10), ...extra]);

    const report = await w.reconcile(hour);
    expect(report).toMatchObject({
      verdict: 'extra-events',
      bucketsDiffered: 1,
      eventsReplayed: 10,
      extraEvents: 5,
      iterations: 1,
      unresolved: [],
    });
    expect(new Set(report.extraSamples.flatMap((s) => s.ids))).toEqual(new Set(extra.map((e) => e.id)));
    // Nothing deleted: the stats hold every archived event plus the extras.
    expect(await statsHour(w.config, 'us-east-1', hour)).toMatchObject(sideOf([...archived, ...extra]));
  });
});
