import type { TrackingEvent } from '../../src/shared/event';

/** mulberry32: a seeded generator, so every run measures the compression of the same bytes. */
function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const USER_AGENTS = [
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36',
  'Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0.6312.118 Mobile Safari/537.36',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4_1) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Safari/605.1.15',
];
const COUNTRIES = ['US', 'CA', 'GB', 'DE', 'FR', 'BR', 'IN', 'JP'];

/**
 * Tracking events as ingest hands them over (~300-600 bytes of JSON each), with the randomness real traffic
 * has: unique hex IDs, IPs and timestamps, which compress far worse than the repeated field names.
 */
export function trackingEvents(count: number, seed = 42): TrackingEvent[] {
  const random = seededRandom(seed);
  const int = (n: number): number => Math.floor(random() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
  const hex = (length: number): string => Array.from({ length }, () => int(16).toString(16)).join('');
  const start = Date.parse('2026-11-28T05:00:00.000Z');
  return Array.from({ length: count }, (_, i) => {
    const type = random() < 0.8 ? 'click' : 'conversion';
    const offerId = `offer-${1000 + int(40)}`;
    return {
      id: `evt-${hex(8)}-${hex(4)}-${hex(4)}-${hex(12)}`,
      type,
      timestamp: new Date(start + i * 1_500 + int(1_000)).toISOString(),
      region: 'us-east-1',
      offerId,
      affiliateId: `aff-${100 + int(25)}`,
      attributes: {
        clickId: hex(24),
        ip: `${int(223) + 1}.${int(256)}.${int(256)}.${int(256)}`,
        userAgent: pick(USER_AGENTS),
        country: pick(COUNTRIES),
        landingUrl: `https://shop.example.com/landing/${offerId}?utm_source=aff&utm_campaign=c${int(50)}`,
        subId: `sub-${int(10_000)}`,
        ...(type === 'conversion' ? { payoutUsd: Math.round(random() * 5_000) / 100, orderId: hex(16) } : {}),
      },
    };
  });
}
