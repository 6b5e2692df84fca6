import { StormproofClient } from '../../src/client';
import { CapLedgerClient } from '../../src/client/capLedgerClient';
import { CapsClient } from '../../src/client/caps';
import { createAwsClients } from '../../src/aws/clients';
import { hourOf } from '../../src/shared/batch';
import { capLedgerId } from '../../src/shared/capLedger';
import type { CapDefinition } from '../../src/shared/caps';
import { waitUntil } from '../../src/util/waitUntil';
import { uniqueName } from '../helpers/env';
import { makeEvents } from '../helpers/pipeline';
import { archivedEvents } from '../helpers/verify';
import { startCapsWorld, type CapsWorld } from './world';

jest.setTimeout(180_000);

/**
 * Issue 15 on the real stack, for the in-process sender and a payout cap: `StormproofClient.send` judges
 * each conversion against a hard cap on the summed `payout` attribute, as the ingest does. What is within
 * never sums past the limit, the rest is archived as exceeded, and the client gives back what it did not
 * spend when idle and when it closes, so the ledger's spend is the archive's.
 */
describe('StormproofClient enforces a hard payout cap', () => {
  const LIMIT = 100;
  const PAYOUT = 3.5;
  const cap: CapDefinition = {
    id: uniqueName('payout'),
    scope: { offerId: uniqueName('offer') },
    metric: 'payout',
    payoutAttribute: 'payout',
    window: { kind: 'lifetime' },
    limit: LIMIT,
    mode: 'hard',
  };
  let w: CapsWorld;

  beforeAll(async () => {
    w = await startCapsWorld();
    await new CapsClient(w.client, w.config).create(cap, 'test');
  }, 120_000);
  afterAll(async () => {
    await w?.client.workflow
      .getHandle(capLedgerId(cap.id, 'lifetime'))
      .terminate('test done')
      .catch(() => undefined);
    await w?.stop();
  });

  it('sums within to the limit at most, marks the rest exceeded, and settles the ledger on close', async () => {
    const events = makeEvents(60, 'us-east-1').map((e, i) => ({
      ...e,
      // Every third event is a click: a payout cap does not judge it.
      type: i % 3 === 2 ? ('click' as const) : ('conversion' as const),
      offerId: cap.scope.offerId,
      attributes: { payout: PAYOUT },
    }));
    // Grants of a fifth of the limit: several top-ups before the cap runs dry. A usable lease of 5 s: idle
    // for 2.5 s, the client gives its allowance back.
    const client = await StormproofClient.connect(
      {
        ...w.config,
        caps: { ...w.config.caps, grantFraction: 0.2, leaseMs: 6_000, leaseMarginMs: 1_000 },
      },
      { region: 'us-east-1' },
    );
    const ledgers = new CapLedgerClient(w.client, w.config);
    try {
      for (let i = 0; i < events.length; i += 6) {
        const result = await client.send(events.slice(i, i + 6));
        expect(result).toMatchObject({ accepted: 6, rejected: [] });
        if (i === 18) {
          // Halfway, a pause: the idle client gives back what it holds (the ledger has it returned while the
          // client is open), and the next send is granted again.
          const returned = async () =>
            (await ledgers.status(cap.id, 'lifetime'))?.holders[0]?.state === 'returned';
          expect(await waitUntil(returned, 60_000, 100)).toBe(true);
          const s = (await ledgers.status(cap.id, 'lifetime'))!;
          expect(s.committed).toBe(s.spent);
        }
      }
      // A resend is judged as before and spends nothing more.
      expect((await client.send(events.slice(0, 6))).accepted).toBe(6);
    } finally {
      await client.close();
    }

    const reader = createAwsClients(w.config);
    const archived = (
      await archivedEvents(reader, w.config, 'us-east-1', hourOf(events[0]!.timestamp))
    ).flatMap((o) => o.events);
    reader.destroy();
    const byId = new Map(archived.map((e) => [e.id, e]));
    const conversions = events.filter((e) => e.type === 'conversion');
    const judged = conversions.map((e) => byId.get(e.id));
    expect(judged.every((e) => e?.capId === cap.id && e.capHolder?.startsWith('us-east-1/client-'))).toBe(
      true,
    );
    const within = judged.filter((e) => e?.capStatus === 'within').length;
    // One holder sending in order: within up to the last whole payout under the limit, then exceeded.
    expect(within).toBe(Math.floor(LIMIT / PAYOUT));
    expect(judged.filter((e) => e?.capStatus === 'exceeded')).toHaveLength(conversions.length - within);
    for (const click of events.filter((e) => e.type === 'click'))
      expect(byId.get(click.id)?.capStatus).toBeUndefined();

    const status = await ledgers.status(cap.id, 'lifetime');
    expect(status).toMatchObject({ spent: within * PAYOUT, committed: within * PAYOUT, overshoot: 0 });
    expect(status!.holders).toEqual([expect.objectContaining({ state: 'returned' })]);
  });
});
