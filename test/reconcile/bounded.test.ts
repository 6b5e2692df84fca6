import { startSeal } from '../../src/client/seal';
import { hourOf } from '../../src/shared/batch';
import { testConfig, uniqueName } from '../helpers/env';
import { makeEvents } from '../helpers/pipeline';
import { statsHour } from '../helpers/verify';
import { sideOf, startReconcileWorld, type ReconcileWorld } from './world';

const REGION = 'us-east-1';

/**
 * repairHour holds at most reconcile.repairMaxEvents decoded events: a larger hour is repaired a group of
 * minutes at a time (here 300 of 3,000 events: about a dozen groups), and a sealed hour reads only the
 * minutes whose seal differs from the stats. Before, the whole hour was held: a 1,000,000-event hour ran the
 * worker's 256 MB heap out (bench/seal-hour.ts --reconcile).
 */
describe('reconcile: repairing an hour larger than one activity may hold', () => {
  let w: ReconcileWorld;
  beforeAll(async () => {
    const base = testConfig();
    w = await startReconcileWorld({
      base: { ...base, reconcile: { ...base.reconcile, repairMaxEvents: 300 } },
    });
  });
  afterAll(() => w?.stop());

  it('an unsealed hour: every minute read, group by group; replays exactly what is missing', async () => {
    const events = makeEvents(3000);
    const hour = hourOf(events[0]!.timestamp);
    await w.archive(events, { batchPrefix: uniqueName('batch') });
    await w.archive(events.slice(0, 500), { batchPrefix: uniqueName('resent') }); // duplicates across objects
    const delivered = events.filter((_, i) => i % 37 !== 0);
    await w.deliver(delivered);

    const report = await w.reconcile(hour);
    expect(report).toMatchObject({
      verdict: 'equal',
      eventsRead: 3000,
      eventsReplayed: events.length - delivered.length,
      archiveDuplicates: 500,
      extraEvents: 0,
    });
    expect(await statsHour(w.config, REGION, hour)).toMatchObject(sideOf(events));
  });

  it('a sealed hour: only the minutes that differ are read', async () => {
    const events = makeEvents(3000);
    const hour = hourOf(events[0]!.timestamp);
    await w.archive(events, { batchPrefix: uniqueName('batch') });
    const { handle } = await startSeal(w.client, w.config, { region: REGION, hour });
    expect((await handle.result()).outcome).toBe('sealed');
    // The stats API misses three events, all in the hour's first minutes.
    const byTime = [...events].sort((a, b) => Date.parse(a.timestamp) - Date.parse(b.timestamp));
    const missing = new Set(byTime.slice(0, 3).map((e) => e.id));
    await w.deliver(events.filter((e) => !missing.has(e.id)));

    const report = await w.reconcile(hour);
    expect(report).toMatchObject({ verdict: 'equal', eventsReplayed: 3, extraEvents: 0 });
    expect(report.eventsRead).toBeGreaterThan(0);
    expect(report.eventsRead).toBeLessThan(300); // the differing minute(s), not the hour
    expect(await statsHour(w.config, REGION, hour)).toMatchObject(sideOf(events));
  });
});
