import { uniqueName } from '../helpers/env';
import { startCapsWorld, startLifetimeLedger, storedLifetimeCap, type CapsWorld } from './world';

jest.setTimeout(120_000);

/**
 * A lifetime ledger runs for ever: past `maxHistoryEvents` it continues as new with no Update in flight,
 * carrying its holders, grants, spend and alerts, so a holder's totals stay right across runs.
 */
describe('capLedger continues as new, carrying its state', () => {
  let world: CapsWorld;
  beforeAll(async () => {
    world = await startCapsWorld();
  });
  afterAll(() => world?.stop());

  it('keeps every holder and never grants past the limit across runs', async () => {
    const { cap, ask, ledgers, window, firstExecutionRunId, handle } = await startLifetimeLedger(
      world,
      storedLifetimeCap(uniqueName('can'), 100, 'test'),
      { reclaimAfterMs: 1000, maxHistoryEvents: 30 },
    );
    // Two holders top up in turns, each having spent all it held and asking for 10 more, past the limit.
    let ga = 0;
    let gb = 0;
    for (let round = 0; round < 8; round++) {
      ga = (await ask('a', ga, ga + 10, 600_000)).granted;
      gb = (await ask('b', gb, gb + 10, 600_000)).granted;
    }
    const { runId } = await handle.describe();
    expect(runId).not.toBe(firstExecutionRunId);
    // Carried across runs: each holder's totals, and grants that add up to the limit and no more.
    expect([ga, gb]).toEqual([50, 50]);
    const status = await ledgers.status(cap.id, window.key);
    expect(status!.holders.map((h) => [h.holder, h.state, h.granted, h.spent])).toEqual([
      ['a', 'active', 50, 50],
      ['b', 'active', 50, 50],
    ]);
    expect(status).toMatchObject({ committed: 100, available: 0, spent: 100, overshoot: 0 });
    await handle.terminate('test done');
  });
});
