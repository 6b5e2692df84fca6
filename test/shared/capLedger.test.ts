import { capAmountOf, capCovers, capWindowOf } from '../../src/shared/capLedger';
import type { CapDefinition } from '../../src/shared/caps';

const base: CapDefinition = {
  id: 'c',
  scope: { offerId: 'o-1' },
  metric: 'conversions',
  window: { kind: 'day', timeZone: 'Europe/Berlin' },
  limit: 10,
  mode: 'hard',
};
const event = (
  over: Partial<{ type: string; offerId: string; affiliateId: string; attributes: Record<string, unknown> }>,
) => ({
  type: 'conversion',
  timestamp: '2026-12-04T12:00:00.000Z',
  offerId: 'o-1',
  affiliateId: 'a-1',
  attributes: {},
  ...over,
});

describe('cap windows, coverage and amounts (the escrow arithmetic every holder and ledger shares)', () => {
  it('starts a day at midnight in the cap’s zone, DST days included', () => {
    // 2026-03-29 in Berlin has 23 hours (clocks go 02:00 → 03:00): it starts at 23:00Z the day before.
    expect(capWindowOf(base, Date.parse('2026-03-29T12:00:00Z'))).toEqual({
      key: '2026-03-29',
      startMs: Date.parse('2026-03-28T23:00:00Z'),
      endMs: Date.parse('2026-03-29T22:00:00Z'),
    });
    // An instant just before local midnight belongs to the day before, in the zone's terms, not UTC's.
    expect(capWindowOf(base, Date.parse('2026-12-04T22:59:59Z')).key).toBe('2026-12-04');
    expect(capWindowOf(base, Date.parse('2026-12-04T23:00:00Z')).key).toBe('2026-12-05');
  });

  it('spans a month in the zone, and lifetime is one window', () => {
    const month = { ...base, window: { kind: 'month' as const, timeZone: 'America/New_York' } };
    expect(capWindowOf(month, Date.parse('2026-12-01T04:59:59Z')).key).toBe('2026-11');
    expect(capWindowOf(month, Date.parse('2026-12-31T12:00:00Z'))).toEqual({
      key: '2026-12',
      startMs: Date.parse('2026-12-01T05:00:00Z'),
      endMs: Date.parse('2027-01-01T05:00:00Z'),
    });
    expect(capWindowOf({ ...base, window: { kind: 'lifetime' } }, 0)).toEqual({
      key: 'lifetime',
      startMs: 0,
    });
  });

  it('covers its offer (and affiliate) and the event type its metric counts', () => {
    expect(capCovers(base, event({}))).toBe(true);
    expect(capCovers(base, event({ type: 'click' }))).toBe(false);
    expect(capCovers(base, event({ offerId: 'o-2' }))).toBe(false);
    const clicks = { ...base, metric: 'clicks' as const, scope: { offerId: 'o-1', affiliateId: 'a-7' } };
    expect(capCovers(clicks, event({ type: 'click', affiliateId: 'a-7' }))).toBe(true);
    expect(capCovers(clicks, event({ type: 'click', affiliateId: 'a-1' }))).toBe(false);
    expect(capCovers({ ...base, metric: 'payout' }, event({}))).toBe(true);
  });

  it('spends one per event, or the payout attribute (nothing when it is absent or not a positive number)', () => {
    expect(capAmountOf(base, event({ attributes: { payout: 5 } }))).toBe(1);
    const payout = { ...base, metric: 'payout' as const, payoutAttribute: 'commission' };
    expect(capAmountOf(payout, event({ attributes: { commission: 2.5 } }))).toBe(2.5);
    expect(capAmountOf(payout, event({ attributes: { payout: 2.5 } }))).toBe(0);
    expect(capAmountOf(payout, event({ attributes: { commission: '2.5' } }))).toBe(0);
    expect(capAmountOf(payout, event({ attributes: { commission: -1 } }))).toBe(0);
    expect(capAmountOf({ ...base, metric: 'payout' }, event({ attributes: { payout: 7 } }))).toBe(7);
  });
});
