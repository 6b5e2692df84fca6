import type { Client } from '@temporalio/client';
import { CapEnforcer, type HolderLedgers } from '../../src/client/capEnforcer';
import type { AllowanceGrant, AllowanceRequest } from '../../src/shared/capLedger';
import type { StoredCap } from '../../src/shared/caps';
import type { TrackingEvent } from '../../src/shared/event';
import { testConfig } from '../helpers/env';

const HOUR_MS = 3_600_000;
const LEDGER_ANSWERS_AFTER_MS = 400;

const cap: StoredCap = {
  id: 'offer-w-lifetime',
  scope: { offerId: 'offer-w' },
  metric: 'conversions',
  window: { kind: 'lifetime' },
  limit: 1_000,
  mode: 'hard',
  revision: 1,
  createdAt: '2026-12-04T00:00:00.000Z',
  updatedAt: '2026-12-04T00:00:00.000Z',
  updatedBy: 'test',
};

/**
 * How long a request waits for its allowance when the ledger is slow (issue 15): the ledger here answers
 * every request after 400 ms, granting what is asked and learning the hours announced. The real ledger's
 * grants and leases are proven on the real stack (test/caps); this is about the holder's waiting alone.
 */
describe('CapEnforcer waiting for a slow ledger', () => {
  let enforcer: CapEnforcer;
  const requests: AllowanceRequest[] = [];
  let answersAfterMs = LEDGER_ANSWERS_AFTER_MS;

  beforeEach(async () => {
    requests.length = 0;
    answersAfterMs = LEDGER_ANSWERS_AFTER_MS;
    const ledgers: HolderLedgers = {
      request: async (req) => {
        requests.push(req);
        await new Promise((r) => setTimeout(r, answersAfterMs));
        const grant: AllowanceGrant = {
          granted: req.wantGranted,
          leaseEndsAt: new Date(Date.now() + req.leaseMs).toISOString(),
          overdraft: 0,
          closed: false,
        };
        return grant;
      },
      giveBack: () => Promise.resolve(),
    };
    const config = testConfig();
    enforcer = new CapEnforcer(
      {} as Client,
      { ...config, caps: { ...config.caps, waitForAllowanceMs: 1_000 } },
      {
        region: 'us-east-1',
        ledgers,
        registry: { peek: () => Promise.resolve([cap]), peekRevocations: () => Promise.resolve([]) },
      },
    );
    await enforcer.start();
  });
  afterEach(() => enforcer.close());

  const lateConversions = (hours: number): TrackingEvent[] => {
    const thisHour = Date.now() - (Date.now() % HOUR_MS);
    return Array.from({ length: hours }, (_, i) => ({
      id: `late-${i}-${Math.random()}`,
      type: 'conversion',
      // Late postbacks: one conversion in each of the last `hours` hours before the two announced ahead.
      timestamp: new Date(thisHour - (i + 1) * HOUR_MS + 1_000).toISOString(),
      region: 'us-east-1',
      offerId: cap.scope.offerId,
      affiliateId: 'aff-1',
      attributes: {},
    }));
  };

  it('announces every new hour of a request in one top-up, so all of it is judged within', async () => {
    const events = lateConversions(12);
    const before = requests.length;
    const startedAt = Date.now();
    await enforcer.judge(events);
    const took = Date.now() - startedAt;
    expect(events.map((e) => e.capStatus)).toEqual(events.map(() => 'within'));
    // One round trip for the twelve hours, not one per hour (which took 12 × 400 ms).
    expect(requests.length - before).toBe(1);
    expect(requests.at(-1)!.hours).toEqual(
      expect.arrayContaining(events.map((e) => new Date(Date.parse(e.timestamp) - 1_000).toISOString())),
    );
    expect(took).toBeLessThan(12 * LEDGER_ANSWERS_AFTER_MS);
  });

  it('bounds the wait of a whole request by waitForAllowanceMs, however many of its events are short', async () => {
    // The ledger cannot keep up: its answer comes after the request's bound.
    const events = lateConversions(8);
    answersAfterMs = 3_000;
    const startedAt = Date.now();
    await enforcer.judge(events);
    const took = Date.now() - startedAt;
    // Without an answer they are exceeded (not paid, still recorded), after one bound, not one per event.
    expect(events.map((e) => e.capStatus)).toEqual(events.map(() => 'exceeded'));
    expect(took).toBeGreaterThanOrEqual(1_000);
    expect(took).toBeLessThan(8 * 1_000);
  });
});
