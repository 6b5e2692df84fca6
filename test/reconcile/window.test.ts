import { hourOf } from '../../src/shared/batch';
import { makeEvents } from '../helpers/pipeline';
import { statsHour } from '../helpers/verify';
import { nextHour, sideOf, startReconcileWorld, type ReconcileWorld } from './world';

describe('reconcile: a window of several slices', () => {
  let w: ReconcileWorld;
  beforeAll(async () => {
    w = await startReconcileWorld();
  });
  afterAll(() => w.stop());

  it('continues as new between slices and reports the whole window', async () => {
    const h0 = makeEvents(1500);
    const h1 = nextHour(h0, 'h1');
    const h2 = nextHour(h1, 'h2');
    const hour = hourOf(h0[0]!.timestamp);
    for (const events of [h0, h1, h2]) await w.archive(events, { batchSize: 500 });
    await w.deliver([...h0.slice(7), ...h1, ...h2.slice(0, 1000)]);

    const handle = await w.start(hour, 3, { options: { settleMs: 100, hoursPerSlice: 1, slicesPerRun: 1 } });
    const report = await handle.result();
    expect(report).toMatchObject({
      verdict: 'equal',
      hoursDone: 3,
      hoursTotal: 3,
      bucketsCompared: 3,
      bucketsDiffered: 2,
      objectsRead: 6, // the 3 objects of each differing hour, none of the equal one
      eventsReplayed: 7 + 500,
    });
    // One run per slice: the history of each stays small however long the window.
    const runs = await w.client.workflow.count(`WorkflowId = '${handle.workflowId}'`);
    expect(runs.count).toBe(3);
    for (const events of [h0, h1, h2]) {
      expect(await statsHour(w.config, 'us-east-1', events[0]!.timestamp)).toMatchObject(sideOf(events));
    }
  });
});
