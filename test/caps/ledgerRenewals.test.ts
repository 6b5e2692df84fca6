import { temporal } from '@temporalio/proto';
import { uniqueName } from '../helpers/env';
import { startCapsWorld, startLifetimeLedger, storedLifetimeCap, type CapsWorld } from './world';

jest.setTimeout(120_000);

const EventType = temporal.api.enums.v1.EventType;

/**
 * Renewals are most of a ledger's Updates (one per cap and holder about every 20 s): each leaves the loop's
 * lease timer running, so a renewal is one Update in the history, not also a cancelled and a started timer
 * (a billed action). The details still show every renewal's spend, and a lease that ends earlier, or an
 * alert due, still wakes the loop.
 */
describe('capLedger renewals', () => {
  let world: CapsWorld;
  beforeAll(async () => {
    world = await startCapsWorld();
  });
  afterAll(() => world?.stop());

  it('leave the lease timer running and the details current', async () => {
    const { ask, handle } = await startLifetimeLedger(
      world,
      storedLifetimeCap(uniqueName('renew'), 100, 'test'),
      {
        reclaimAfterMs: 1000,
      },
    );
    const count = async (type: temporal.api.enums.v1.EventType): Promise<number> =>
      ((await handle.fetchHistory()).events ?? []).filter((e) => e.eventType === type).length;

    await ask('us-east-1/a', 0, 10, 600_000);
    // The first grant arms the timer for its lease; renewals, each ending later, leave it running.
    for (let spent = 1; spent <= 5; spent++) await ask('us-east-1/a', spent, 10, 600_000);
    expect(await count(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED)).toBe(6);
    expect(await count(EventType.EVENT_TYPE_TIMER_STARTED)).toBe(1);
    expect(await count(EventType.EVENT_TYPE_TIMER_CANCELED)).toBe(0);
    const meta = await handle.query<{ currentDetails: string }>('__temporal_workflow_metadata');
    expect(meta.currentDetails).toContain('| us-east-1/a | us-east-1 | active | 10 | 5 |');

    // A lease that ends before the timer does wakes the loop: its timer is for the earlier end.
    await ask('us-east-1/b', 0, 10, 30_000);
    expect(await count(EventType.EVENT_TYPE_TIMER_STARTED)).toBe(2);
    expect(await count(EventType.EVENT_TYPE_TIMER_CANCELED)).toBe(1);
    await handle.terminate('test done');
  });
});
