import { CapLedgerClient } from '../../src/client/capLedgerClient';
import { capLedgerId, type CapLedgerInput } from '../../src/shared/capLedger';
import { hourOf } from '../../src/shared/batch';
import { uniqueName } from '../helpers/env';
import { startCapsWorld, storedLifetimeCap, type CapsWorld } from './world';

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
    const now = new Date().toISOString();
    const cap = storedLifetimeCap(uniqueName('can'), 100, 'test');
    const window = { key: 'lifetime', startMs: 0 };
    const workflowId = capLedgerId(cap.id, window.key);
    const input: CapLedgerInput = { capId: cap.id, window, reclaimAfterMs: 1000, maxHistoryEvents: 30 };
    const first = await world.client.workflow.start('capLedger', {
      workflowId,
      taskQueue: world.config.temporal.taskQueue,
      args: [input],
    });
    const ledgers = new CapLedgerClient(world.client, world.config);
    const ask = (holder: string, spent: number, wantGranted: number) =>
      ledgers.request({
        holder,
        region: 'us-east-1',
        cap,
        window,
        spent,
        wantGranted,
        leaseMs: 600_000,
        hours: [hourOf(now)],
      });
    // Two holders top up in turns, each having spent all it held and asking for 10 more, past the limit.
    let ga = 0;
    let gb = 0;
    for (let round = 0; round < 8; round++) {
      ga = (await ask('a', ga, ga + 10)).granted;
      gb = (await ask('b', gb, gb + 10)).granted;
    }
    const { runId } = await world.client.workflow.getHandle(workflowId).describe();
    expect(runId).not.toBe(first.firstExecutionRunId);
    // Carried across runs: each holder's totals, and grants that add up to the limit and no more.
    expect([ga, gb]).toEqual([50, 50]);
    const status = await ledgers.status(cap.id, window.key);
    expect(status!.holders.map((h) => [h.holder, h.state, h.granted, h.spent])).toEqual([
      ['a', 'active', 50, 50],
      ['b', 'active', 50, 50],
    ]);
    expect(status).toMatchObject({ committed: 100, available: 0, spent: 100, overshoot: 0 });
    await world.client.workflow.getHandle(workflowId).terminate('test done');
  });
});
