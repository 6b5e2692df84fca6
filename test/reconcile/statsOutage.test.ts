import { reconcileReport } from '../../src/client/reconcile';
import { FaultProxyClient } from '../../src/fault-proxy';
import { hourOf } from '../../src/shared/batch';
import { waitUntil } from '../../src/util/waitUntil';
import { makeEvents } from '../helpers/pipeline';
import { statsHour } from '../helpers/verify';
import { sideOf, startReconcileWorld, type ReconcileWorld } from './world';

const LISTENER = 'stats-us-east-1';

describe('reconcile: the stats API fails during a run', () => {
  let w: ReconcileWorld;
  let faults: FaultProxyClient;
  beforeAll(async () => {
    w = await startReconcileWorld();
    faults = new FaultProxyClient(w.config.faultProxy!.controlUrl);
  });
  afterAll(() => w.stop());

  it('waits while the stats API answers 503 and finishes equal once it is back', async () => {
    const events = makeEvents(2000);
    const hour = hourOf(events[0]!.timestamp);
    await w.archive(events);
    await w.deliver(events);
    await w.forget(events.slice(0, 40).map((e) => e.id));

    // Only requests about this test's hour fail (bucket lists and ID pages name it in their query or path).
    const pathRegex = hour.slice(0, 13);
    const faultedOf = async () => (await faults.list()).find((l) => l.name === LISTENER)!.counters.faulted;
    const before = await faultedOf();
    await faults.setFault(LISTENER, { mode: 'error', status: 503, format: 'json', pathRegex });
    try {
      const handle = await w.start(hour);
      expect(await waitUntil(async () => (await faultedOf()) >= before + 3, 30_000, 200)).toBe(true);
      // Still running, its activity retrying: the run waits rather than failing.
      const described = await handle.describe();
      expect(described.status.name).toBe('RUNNING');
      expect(described.raw.pendingActivities?.[0]?.attempt).toBeGreaterThanOrEqual(2);
      expect((await reconcileReport(handle)).phase).toBe('comparing');
      await faults.clear(LISTENER);
      const report = await handle.result();
      expect(report).toMatchObject({ verdict: 'equal', eventsReplayed: 40, bucketsDiffered: 1 });
    } finally {
      await faults.clear(LISTENER);
    }
    expect(await statsHour(w.config, 'us-east-1', hour)).toMatchObject(sideOf(events));
  });
});
