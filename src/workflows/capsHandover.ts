import { proxyActivities, sleep } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { RegionHolding, RegionRevocation } from '../shared/capLedger';
import type { CapsHandoverSettings } from '../shared/regionControl';

/**
 * Patch of the saga: a failover that moves traffic hands the failing region's cap allowance over
 * (hand-over-caps), a failback that moves it back restores it (restore-caps). Histories before it have neither.
 */
export const CAPS_HANDOVER = 'caps-handover';
/**
 * Patch: a hand-over that fails (the ledgers do not answer its few retries) no longer rolls the failover back.
 * Histories before it undid traffic and archive for it.
 */
export const CAPS_HANDOVER_BEST_EFFORT = 'caps-handover-best-effort';

// A Temporal Update or query per running ledger: a few paced retries, then the step fails (with patch
// caps-handover-best-effort it ends "not handed over"; before it, the failover rolled back).
const forward = proxyActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  retry: { maximumAttempts: 5, initialInterval: '1 second', backoffCoefficient: 2 },
});
// Compensations are retried until they succeed (as the saga's other compensations).
const undo = proxyActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
});

/** As a step (a few retries) or as a compensation (until it succeeds). */
export const revokeCaps = (r: RegionRevocation, compensating: boolean): Promise<number> =>
  (compensating ? undo : forward).revokeCapRegion(r);
export const restoreCaps = (r: RegionRevocation, compensating: boolean): Promise<number> =>
  (compensating ? undo : forward).restoreCapRegion(r);

const sum = (held: RegionHolding[], f: (h: RegionHolding) => number): number =>
  held.reduce((n, h) => n + f(h), 0);

/**
 * Revokes the region on every running ledger, then waits (a durable timer between looks) until none of its
 * holders holds unspent allowance: one that answers gives back at once, a silent one loses its grant when its
 * lease ends and its spend was counted. The wait is bounded: past it the step still succeeds (the ledgers
 * reclaim the rest on their own), saying what was still held. The caller registers the compensation first.
 */
export async function handOverCaps(
  r: RegionRevocation,
  settings: CapsHandoverSettings,
  progress: (detail: string) => void,
): Promise<string> {
  const ledgers = await forward.revokeCapRegion(r);
  const deadline = Date.now() + settings.withinMs;
  for (;;) {
    const held = await forward.capRegionHoldings(r);
    const back = `${sum(held, (h) => h.returned)} given back by holders that answered, ${sum(held, (h) => h.reclaimed)} reclaimed after a lease ended`;
    const holding = held.flatMap((h) => h.holding);
    const of = `${r.region} revoked on ${held.length || ledgers} ledger(s)`;
    if (holding.length === 0) return `${of}: ${back}`;
    const still = `${sum(held, (h) => h.unspent)} still held by ${holding.length} holder(s)`;
    const left = deadline - Date.now();
    if (left <= 0)
      return `${of}: ${back}; ${still} after ${settings.withinMs} ms: the ledgers reclaim it when those leases end`;
    progress(`${of}: ${back}; waiting for ${still}`);
    await sleep(Math.min(settings.checkEveryMs, left));
  }
}
