import { CapLedgerClient } from '../../src/client/capLedgerClient';
import {
  capLedgerId,
  capWindowOf,
  type CapLedgerInput,
  type CapLedgerStatus,
} from '../../src/shared/capLedger';
import type { CapDefinition } from '../../src/shared/caps';
import type { TrackingEvent } from '../../src/shared/event';
import { waitUntil } from '../../src/util/waitUntil';
import { uniqueName } from '../helpers/env';
import { makeEventsInHour, randomPastHourMs } from '../helpers/pipeline';
import { startEnforcementWorld, type EnforcementWorld, type Ingest } from './enforcementWorld';

jest.setTimeout(300_000);

/**
 * Issue 15, window close on the real stack: a day cap's ledger closes (here 20 s after it starts, instead of
 * the window's end plus the accepted lateness), settles its holder, recounts the window's spend from the
 * archive, compares it with its own and reports it: as its result, in its details and through the webhook.
 */
describe('a cap window closes: its spend recounted from the archive and reported', () => {
  const LIMIT = 20;
  const cap: CapDefinition = {
    id: uniqueName('daily'),
    scope: { offerId: uniqueName('offer') },
    metric: 'conversions',
    window: { kind: 'day', timeZone: 'UTC' },
    limit: LIMIT,
    mode: 'hard',
  };
  let w: EnforcementWorld;
  let A: Ingest;

  beforeAll(async () => {
    w = await startEnforcementWorld([cap], [{ name: 'A', region: 'us-east-1' }]);
    A = w.ingests.A!;
  }, 180_000);
  afterAll(() => w?.stop());

  it('closes with the archive count equal to the ledger, within the limit, and says so', async () => {
    const hourMs = randomPastHourMs();
    const window = capWindowOf(cap, hourMs);
    const input: CapLedgerInput = {
      capId: cap.id,
      window,
      closesAtMs: Date.now() + 20_000,
      reclaimAfterMs: 2000,
    };
    // Started ahead of its first holder, so it closes soon; the holder's update-with-start finds it.
    const handle = await w.temporal.client.workflow.start('capLedger', {
      workflowId: capLedgerId(cap.id, window.key),
      taskQueue: w.config.temporal.taskQueue,
      args: [input],
    });
    const events: TrackingEvent[] = makeEventsInHour(30, hourMs).map((e) => ({
      ...e,
      type: 'conversion',
      offerId: cap.scope.offerId,
    }));
    await w.send(A, events);

    const result = (await handle.result()) as CapLedgerStatus;
    expect(result).toMatchObject({ closed: true, limit: LIMIT, spent: LIMIT, overshoot: 0 });
    expect(result.archived).toEqual({ spent: LIMIT, overshoot: 0, ledgerSpent: LIMIT });
    expect(result.holders.every((h) => h.state === 'returned' || h.state === 'reclaimed')).toBe(true);
    const closedAlert = () =>
      w.hook.got.some((g) => JSON.stringify(g.body).includes(`window ${window.key} closed`));
    expect(await waitUntil(closedAlert, 30_000, 200)).toBe(true);

    // A closed window is never opened again: a later holder's update-with-start is refused.
    const now = new Date().toISOString();
    const ledgers = new CapLedgerClient(w.temporal.client, w.config);
    const late = {
      holder: 'us-east-1/late',
      region: 'us-east-1',
      cap: { ...cap, revision: 1, createdAt: now, updatedAt: now, updatedBy: 'test' },
      window,
      spent: 0,
      wantGranted: 5,
      leaseMs: 5000,
      hours: [],
    };
    const refused = { name: 'WorkflowExecutionAlreadyStartedError' };
    await expect(ledgers.request(late)).rejects.toMatchObject(refused);
    // So is a renewal (a plain Update first, for a holder the ledger answered): it finds the ledger gone.
    await expect(ledgers.request(late, { answeredBefore: true })).rejects.toMatchObject(refused);
  });
});
