import { prepareBatch, readBatchLines } from '../../src/archive/format';
import { Batcher, type SealedBatch } from '../../src/client/batcher';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { CapEnforcer, type HolderLedgers } from '../../src/client/capEnforcer';
import type { AllowanceRequest, RegionRevocation } from '../../src/shared/capLedger';
import { holderSessionId } from '../../src/shared/holderSession';
import type { StoredCap } from '../../src/shared/caps';
import type { TrackingEvent } from '../../src/shared/event';
import { waitUntil } from '../../src/util/waitUntil';
import { fakeHolder } from '../helpers/fakeHolder';

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

/** `count` caps like `cap`, each of an offer of its own (`offer-<prefix><i>`). */
const capsOfOffers = (prefix: string, count: number, overrides: Partial<StoredCap> = {}): StoredCap[] =>
  Array.from({ length: count }, (_, i) => ({
    ...cap,
    id: `offer-${prefix}${i}-lifetime`,
    scope: { offerId: `offer-${prefix}${i}` },
    ...overrides,
  }));

/** An event of `c`'s offer and metric, now. */
const event = (c: StoredCap, attributes: TrackingEvent['attributes'] = {}): TrackingEvent => ({
  id: `edge-${Math.random()}`,
  type: c.metric === 'clicks' ? 'click' : 'conversion',
  timestamp: new Date().toISOString(),
  region: 'us-east-1',
  offerId: c.scope.offerId,
  affiliateId: 'aff-1',
  attributes,
});

/**
 * How long a request waits for its allowance when the ledger is slow (issue 15): the ledger here answers
 * every request after 400 ms, granting what is asked and learning the hours announced. The real ledger's
 * grants and leases are proven on the real stack (test/caps); this is about the holder's waiting alone.
 */
describe('CapEnforcer waiting for a slow ledger', () => {
  let enforcer: CapEnforcer;
  let requests: AllowanceRequest[];
  let answersAfterMs = LEDGER_ANSWERS_AFTER_MS;

  beforeEach(async () => {
    answersAfterMs = LEDGER_ANSWERS_AFTER_MS;
    ({ enforcer, requests } = fakeHolder({
      caps: () => [cap],
      settings: { waitForAllowanceMs: 1_000 },
      answersAfterMs: () => answersAfterMs,
    }));
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
    const judged = await enforcer.judge(events);
    const took = Date.now() - startedAt;
    expect(judged.map((j) => j?.capStatus)).toEqual(events.map(() => 'within'));
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
    const judged = await enforcer.judge(events);
    const took = Date.now() - startedAt;
    // Without an answer they are exceeded (not paid, still recorded), after one bound, not one per event.
    expect(judged.map((j) => j?.capStatus)).toEqual(events.map(() => 'exceeded'));
    expect(took).toBeGreaterThanOrEqual(1_000);
    expect(took).toBeLessThan(8 * 1_000);
  });
});

/**
 * An idle allowance is given back (a cap idle for a period costs one Update, and holds nothing another
 * holder could spend), and the cap's next event asks again. One that spends costs no Update at all: the
 * session renews its lease.
 */
describe('CapEnforcer and an idle cap', () => {
  it('gives back when nothing was spent since the last answer, and is granted again by the next event', async () => {
    const returns: number[] = [];
    // Usable lease 5.4 s: renewals (or returns) every 2.4-2.7 s, long after the first event is judged.
    const { enforcer, requests } = fakeHolder({
      caps: () => [cap],
      settings: { leaseMs: 6_000, leaseMarginMs: 600 },
      giveBack: (_cap, _window, _holder, spent) => {
        returns.push(spent);
        return Promise.resolve();
      },
    });
    await enforcer.start();
    try {
      const conversion = (): TrackingEvent => event(cap);
      expect((await enforcer.judge([conversion()]))[0]?.capStatus).toBe('within');
      // Spent since the first grant: the next look leaves it held; the one after finds it idle and gives
      // back with its spend, holding nothing. No request to the ledger in between.
      expect(await waitUntil(() => Promise.resolve(returns.length > 0), 20_000, 50)).toBe(true);
      expect(returns).toEqual([1]);
      expect(requests).toHaveLength(1);
      expect(enforcer.holdings()).toEqual([expect.objectContaining({ capId: cap.id, granted: 1, spent: 1 })]);
      const asked = requests.length;
      expect((await enforcer.judge([conversion()]))[0]?.capStatus).toBe('within');
      expect(requests.length).toBe(asked + 1);
      expect(requests.at(-1)).toMatchObject({ spent: 1 });
    } finally {
      await enforcer.close();
    }
    // Closing gives back only what it held since (the second grant), not the idle return again.
    expect(returns).toEqual([1, 2]);
  });
});

describe('CapEnforcer starting with many caps', () => {
  it('keeps a first grant its traffic has not reached yet for a whole period, then gives it back', async () => {
    // Simulated time. The first looks fall anywhere in the first period: each found its grant unspent and gave
    // it back, so an ingest's first events, arriving after its prefetch, each waited for a grant again.
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
    const many = capsOfOffers('idle', 40);
    const given: string[] = [];
    const { enforcer, requests } = fakeHolder({
      caps: () => many,
      settings: { leaseMs: 60_000, leaseMarginMs: 5_000 },
      giveBack: (capId) => {
        given.push(capId);
        return Promise.resolve();
      },
    });
    const period = 27_500;
    try {
      await enforcer.start();
      const started = Date.now();
      expect(requests).toHaveLength(40);
      await jest.advanceTimersByTimeAsync(period - 2_000);
      expect(given).toEqual([]);
      // Traffic reaches a quarter of the caps late in the first period, and they spend every 5 s from then on.
      const busy = many.slice(0, 10);
      while (Date.now() < started + 2 * period + 2_000) {
        for (const c of busy) expect((await enforcer.judge([event(c)]))[0]?.capStatus).toBe('within');
        await jest.advanceTimersByTimeAsync(5_000);
      }
      // The rest, idle a whole period since their grant, are each given back once; no ledger was asked again.
      expect([...given].sort()).toEqual(
        many
          .slice(10)
          .map((c) => c.id)
          .sort(),
      );
      expect(requests).toHaveLength(40);
    } finally {
      await enforcer.close();
      jest.useRealTimers();
    }
  });

  it('asks for every first grant before it starts, a few at a time, not all at once', async () => {
    // All at once, 194 first grants on a busy two-core stack kept some ledgers past the Update timeout.
    const many = capsOfOffers('m', 40);
    const { enforcer, requests, peakInFlight } = fakeHolder({ caps: () => many, answersAfterMs: () => 20 });
    await enforcer.start();
    try {
      expect(requests.map((r) => r.cap.id).sort()).toEqual(many.map((c) => c.id).sort());
      expect(enforcer.holdings().every((h) => h.granted > 0)).toBe(true);
      expect(peakInFlight()).toBeLessThanOrEqual(8);
      expect(peakInFlight()).toBeGreaterThan(1);
    } finally {
      await enforcer.close();
    }
  });
});

describe("CapEnforcer's session", () => {
  it('renews one lease for all its caps once per period, and asks no ledger while they spend from what they hold', async () => {
    const caps = capsOfOffers('s', 48, { limit: 1_000_000 });
    // Usable lease 1.8 s: the session renewed every 0.9 s; grants of 50,000 need no top-up.
    const { enforcer, requests, renewals } = fakeHolder({
      caps: () => caps,
      settings: { leaseMs: 2_000, leaseMarginMs: 200 },
    });
    await enforcer.start();
    try {
      // Every cap spends (an idle one would be given back) while the session renews five times.
      const deadline = Date.now() + 60_000;
      while (renewals.length < 6 && Date.now() < deadline) {
        const judged = await enforcer.judge(caps.map((c) => event(c)));
        expect(judged.every((j) => j?.capStatus === 'within')).toBe(true);
        await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      await enforcer.close();
    }
    expect(renewals.length).toBeGreaterThanOrEqual(6);
    // The first grants only: 48 Updates, not 48 more per period.
    expect(requests).toHaveLength(caps.length);
    expect(requests.every((r) => r.session === holderSessionId(enforcer.holder, 1))).toBe(true);
    // A whole period apart (a slow machine only makes the gaps longer).
    const gaps = renewals.slice(1, 6).map((r, i) => r.at - renewals[i]!.at);
    for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(900 - 20);
  });

  it('spends nothing past its lease while the session is not renewed, and again once it is', async () => {
    let answering = true;
    const { enforcer } = fakeHolder({
      caps: () => [cap],
      settings: { leaseMs: 2_000, leaseMarginMs: 200, waitForAllowanceMs: 0 },
      renew: (_ref, leaseMs) =>
        answering
          ? Promise.resolve({ leaseEndsAt: new Date(Date.now() + leaseMs).toISOString() })
          : Promise.reject(new Error('unreachable')),
    });
    await enforcer.start();
    try {
      expect((await enforcer.judge([event(cap)]))[0]?.capStatus).toBe('within');
      answering = false;
      const until = Date.parse(enforcer.holdings()[0]!.spendableUntil);
      expect(await waitUntil(() => Promise.resolve(Date.now() > until), 10_000, 20)).toBe(true);
      expect((await enforcer.judge([event(cap)]))[0]?.capStatus).toBe('exceeded');
      answering = true;
      const renewed = await waitUntil(
        async () => (await enforcer.judge([event(cap)]))[0]?.capStatus === 'within',
        30_000,
        100,
      );
      expect(renewed).toBe(true);
    } finally {
      await enforcer.close();
    }
  });

  it('starts another session when its own ended, and asks for every grant again under it', async () => {
    const caps = capsOfOffers('l', 3);
    let lost = false;
    const { enforcer, requests, renewals } = fakeHolder({
      caps: () => caps,
      settings: { leaseMs: 2_000, leaseMarginMs: 200 },
      renew: (ref, leaseMs) =>
        lost && ref.id === holderSessionId(ref.holder, 1)
          ? Promise.reject(new WorkflowExecutionAlreadyStartedError('ended', ref.id, 'capHolderSession'))
          : Promise.resolve({ leaseEndsAt: new Date(Date.now() + leaseMs).toISOString() }),
    });
    await enforcer.start();
    try {
      expect(requests).toHaveLength(3);
      // Cut off past its lease, the holder finds its session ended at its next renewal (every 0.9 s).
      lost = true;
      const second = holderSessionId(enforcer.holder, 2);
      // Its caps spend meanwhile (an idle one would be given back, not asked again).
      const again = await waitUntil(
        async () => {
          await enforcer.judge(caps.map((c) => event(c)));
          return new Set(requests.filter((r) => r.session === second).map((r) => r.cap.id)).size === 3;
        },
        10_000,
        50,
      );
      expect(again).toBe(true);
      expect(renewals.map((r) => r.session)).toContain(second);
      expect(enforcer.sessionId()).toBe(second);
      expect(enforcer.holdings().every((h) => h.session === second)).toBe(true);
      expect((await enforcer.judge([event(caps[0]!)]))[0]?.capStatus).toBe('within');
    } finally {
      await enforcer.close();
    }
  });

  it("announces the next hour with one top-up a period before it turns, so no event waits at the hour's turn", async () => {
    // Simulated time: a busy cap spends every 10 s (an idle one is given back) from half past an hour until
    // after the second hour turn.
    const h0 = Math.floor(Date.now() / HOUR_MS) * HOUR_MS;
    jest.useFakeTimers({ now: h0 + HOUR_MS / 2, doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
    const busy = capsOfOffers('h', 1, { limit: 1_000_000 })[0]!;
    const { enforcer, requests, requestedAt } = fakeHolder({ caps: () => [busy] });
    try {
      await enforcer.start();
      const iso = (ms: number) => new Date(ms).toISOString();
      // The first grant knows this hour and the next.
      expect(requests.map((r) => r.hours)).toEqual([[iso(h0), iso(h0 + HOUR_MS)]]);
      while (Date.now() < h0 + 2 * HOUR_MS + 60_000) {
        expect((await enforcer.judge([event(busy)]))[0]?.capStatus).toBe('within');
        await jest.advanceTimersByTimeAsync(10_000);
      }
      // One more Update in 91 minutes: the top-up that announced the hour after next, sent before it began.
      expect(requests).toHaveLength(2);
      expect(requests[1]!.hours).toContain(iso(h0 + 2 * HOUR_MS));
      expect(requestedAt[1]).toBeLessThan(h0 + 2 * HOUR_MS);
    } finally {
      await enforcer.close();
      jest.useRealTimers();
    }
  });

  it('gives back at once when a failover revokes its region, without waiting for a top-up, once per failover', async () => {
    let revoked: RegionRevocation[] = [];
    let reads = 0;
    const returns: string[] = [];
    const { enforcer, requests } = fakeHolder({
      caps: () => [cap],
      settings: { refreshMs: 200 },
      revocations: () => {
        reads++;
        return revoked;
      },
      giveBack: (capId) => {
        returns.push(capId);
        return Promise.resolve();
      },
    });
    await enforcer.start();
    try {
      expect((await enforcer.judge([event(cap)]))[0]?.capStatus).toBe('within');
      revoked = [{ region: 'us-east-1', operationId: 'op-1' }];
      expect(await waitUntil(() => Promise.resolve(returns.length === 1), 10_000, 20)).toBe(true);
      expect(requests).toHaveLength(1);
      expect(enforcer.holdings()[0]).toMatchObject({ granted: 1, spent: 1 });
      // Its next event asks again (this fake ledger does not know of the failover and grants); later reads of
      // the same revocation give nothing back again.
      expect((await enforcer.judge([event(cap)]))[0]?.capStatus).toBe('within');
      const readsThen = reads;
      expect(await waitUntil(() => Promise.resolve(reads >= readsThen + 3), 10_000, 20)).toBe(true);
      expect(returns).toHaveLength(1);
    } finally {
      await enforcer.close();
    }
  });
});

describe("CapEnforcer's edges", () => {
  const payoutCap: StoredCap = {
    ...cap,
    id: 'offer-p-payout',
    scope: { offerId: 'offer-p' },
    metric: 'payout',
    limit: 100,
  };
  const clickCap: StoredCap = {
    ...cap,
    id: 'offer-c-clicks',
    scope: { offerId: 'offer-c' },
    metric: 'clicks',
    fallbackUrl: 'https://example.com/fallback',
  };
  /** Leases of 6 s (5.4 usable); the give-back is what the test makes it. */
  const world = (c: StoredCap, giveBack: HolderLedgers['giveBack']) =>
    fakeHolder({ caps: () => [c], settings: { leaseMs: 6_000, leaseMarginMs: 600 }, giveBack });

  it("closes a judged event's archive line with its judgement: the line of the event with the cap fields set", async () => {
    const { enforcer } = world(cap, () => Promise.resolve());
    await enforcer.start();
    try {
      const events = [event(cap, { note: 'naïve ✓' }), { ...event(cap), offerId: 'no-cap-here' }];
      const judged = await enforcer.judge(events);
      expect(judged[1]).toBeUndefined();
      const sealed: SealedBatch[] = [];
      const batcher = new Batcher<void>(
        { maxEvents: 10, maxBytes: 1_000_000, lingerMs: 0, sealWhenIdle: true, maxPendingEvents: 10 },
        (batch, ack) => {
          sealed.push(batch);
          ack();
          return Promise.resolve();
        },
      );
      await batcher.add(events, undefined, judged);
      const [within] = judged;
      // The archived object's lines: the event's JSON with the cap fields, as if they had been set on it.
      const archived = await Promise.all(
        sealed.map(async (b) => readBatchLines((await prepareBatch({ batchId: 'b', ...b })).body)),
      );
      expect(archived.flat()).toEqual([
        JSON.stringify({ ...events[0], capStatus: 'within', capId: cap.id, capHolder: enforcer.holder }),
        JSON.stringify(events[1]),
      ]);
      expect(within).toMatchObject({ capStatus: 'within', capId: cap.id, capHolder: enforcer.holder });
    } finally {
      await enforcer.close();
    }
  });

  it('asks for a payout larger than a grant whole', async () => {
    const { enforcer, requests } = world(payoutCap, () => Promise.resolve());
    await enforcer.start();
    try {
      const asked = requests.length;
      const big = [event(payoutCap, { payout: 30 })]; // a grant is 5% of 100
      expect((await enforcer.judge(big))[0]?.capStatus).toBe('within');
      // The request it waited for asked for all of it (then one refill at the low-water mark), not a
      // grant's worth at a time until the wait ran out.
      expect(requests[asked]).toMatchObject({ spent: 0, wantGranted: 30 });
      expect(requests.length - asked).toBeLessThanOrEqual(2);
    } finally {
      await enforcer.close();
    }
  });

  it('spends nothing once closing: an event judged during close is exceeded, and the give-back is final', async () => {
    const returns: number[] = [];
    const { enforcer } = world(cap, async (_c, _w, _h, spent) => {
      returns.push(spent);
      await new Promise((r) => setTimeout(r, 300));
    });
    await enforcer.start();
    expect((await enforcer.judge([event(cap)]))[0]?.capStatus).toBe('within');
    const closing = enforcer.close();
    const during = await enforcer.judge([event(cap)]);
    await closing;
    expect(during[0]?.capStatus).toBe('exceeded');
    expect(returns).toEqual([1]);
  });

  it('says fallback for a click while an idle give-back has failed, and allow once it went through', async () => {
    let failures = 1;
    const returned: number[] = [];
    const { enforcer } = world(clickCap, (_c, _w, _h, spent) => {
      if (failures-- > 0) return Promise.reject(new Error('the ledger does not answer'));
      returned.push(spent);
      return Promise.resolve();
    });
    await enforcer.start();
    try {
      expect(enforcer.decide(clickCap.scope.offerId, 'aff-1')).toEqual({ decision: 'allow' });
      // Idle: given back, which fails; the holder stopped spending and knows nothing better, so: fallback.
      const failed = () => Promise.resolve(failures === 0);
      expect(await waitUntil(failed, 20_000, 50)).toBe(true);
      expect(enforcer.decide(clickCap.scope.offerId, 'aff-1')).toMatchObject({ decision: 'fallback' });
      // Tried again: given back; the cap has room as far as it knows: allow.
      expect(await waitUntil(() => Promise.resolve(returned.length === 1), 20_000, 50)).toBe(true);
      expect(enforcer.decide(clickCap.scope.offerId, 'aff-1')).toEqual({ decision: 'allow' });
    } finally {
      await enforcer.close();
    }
  });

  it('says allow for a click while an idle give-back is still on its way', async () => {
    let giveBackStarted = false;
    let answerGiveBack = (): void => undefined;
    const { enforcer } = world(clickCap, () => {
      giveBackStarted = true;
      return new Promise<void>((resolve) => (answerGiveBack = resolve));
    });
    await enforcer.start();
    try {
      expect(await waitUntil(() => Promise.resolve(giveBackStarted), 20_000, 50)).toBe(true);
      // Spending stopped, but the cap has room as far as the holder knows: its next click asks again.
      expect(enforcer.decide(clickCap.scope.offerId, 'aff-1')).toEqual({ decision: 'allow' });
      answerGiveBack();
    } finally {
      answerGiveBack();
      await enforcer.close();
    }
  });

  it('moves to the new window when a cap changes from per day to per month', async () => {
    const daily: StoredCap = {
      ...cap,
      id: 'offer-d-daily',
      scope: { offerId: 'offer-d' },
      window: { kind: 'day', timeZone: 'UTC' },
    };
    let defined = [daily];
    const { enforcer, requests } = fakeHolder({ caps: () => defined, settings: { refreshMs: 200 } });
    await enforcer.start();
    try {
      const day = new Date().toISOString().slice(0, 10);
      await enforcer.judge([event(daily)]);
      expect(enforcer.holdings()).toEqual([expect.objectContaining({ window: day, spent: 1 })]);
      defined = [{ ...daily, window: { kind: 'month', timeZone: 'UTC' }, revision: 2 }];
      const monthly = () =>
        Promise.resolve(requests.some((r) => r.window.key === day.slice(0, 7) && r.cap.revision === 2));
      expect(await waitUntil(monthly, 10_000, 50)).toBe(true);
      await enforcer.judge([event(daily)]);
      expect(enforcer.holdings()).toEqual(
        expect.arrayContaining([expect.objectContaining({ window: day.slice(0, 7), spent: 1 })]),
      );
    } finally {
      await enforcer.close();
    }
  });
});
