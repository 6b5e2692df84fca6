import { Context } from '@temporalio/activity';
import { CapsClient } from '../../client/caps';
import { CapLedgerClient } from '../../client/capLedgerClient';
import type { AppConfig } from '../../config/schema';
import { regionHolding, type RegionHolding, type RegionRevocation } from '../../shared/capLedger';
import { mapLimit } from '../../shared/mapLimit';

/** Ledgers asked at once: enough to hand over hundreds of caps in seconds, few enough not to flood Temporal. */
const PARALLEL = 8;

/**
 * The failover saga's side of the cap ledgers (issue 15): take a failing region's allowance back on every
 * running ledger of this deployment, give it back on rollback or failback, and tell how much its holders
 * still hold. Every call is an idempotent Update or a query, each bounded by `caps.updateTimeoutMs`.
 */
export function createCapRegionActivities(config: AppConfig) {
  const ledgers = (): CapLedgerClient => new CapLedgerClient(Context.current().client, config);
  const registry = (): CapsClient => new CapsClient(Context.current().client, config);
  return {
    /**
     * Revokes the region on every running ledger; answers how many ledgers it reached. The registry records
     * it first, so a ledger started meanwhile or later (a new window, a new cap) starts with it revoked. That
     * record is best effort: a registry that does not answer does not hold the failover up (the running
     * ledgers are what stop the spending; a later one would grant the region as before this record existed).
     */
    async revokeCapRegion(r: RegionRevocation): Promise<number> {
      await registry()
        .recordRevocation(r)
        .catch((err: unknown) => {
          Context.current().log.warn('revocation not recorded in the cap registry', {
            region: r.region,
            err,
          });
        });
      const l = ledgers();
      const done = await mapLimit(await l.running(), PARALLEL, (id) => l.revokeRegion(id, r));
      return done.filter(Boolean).length;
    },

    /**
     * Lifts the region's revocation on every running ledger; answers how many had one. The registry's record
     * is lifted first and must be (else every later window would grant the region nothing): its failure
     * fails the call, which is retried. A holder may still start a ledger with the revocation it read before
     * the lift (up to caps.refreshMs old, plus its request's bound), so the ledgers are looked at again once
     * no holder can hold that stale read any more.
     */
    async restoreCapRegion(r: RegionRevocation): Promise<number> {
      // No registry: no caps, so no holder can start a ledger from a stale read.
      const hasRegistry = await registry().liftRevocation(r);
      const l = ledgers();
      const restore = async (): Promise<number> =>
        (await mapLimit(await l.running(), PARALLEL, (id) => l.restoreRegion(id, r))).filter(Boolean).length;
      const lifted = await restore();
      if (!hasRegistry) return lifted;
      await Context.current().sleep(config.caps.refreshMs + config.caps.updateTimeoutMs);
      return lifted + (await restore());
    },

    /**
     * What the region's holders hold on every running ledger. It revokes again first (idempotent), so a
     * ledger started since the step began is covered too.
     */
    async capRegionHoldings(r: RegionRevocation): Promise<RegionHolding[]> {
      const l = ledgers();
      const held = await mapLimit(await l.running(), PARALLEL, async (id) => {
        await l.revokeRegion(id, r);
        const s = await l.statusOf(id);
        return s && regionHolding(id, s, r.region);
      });
      return held.filter((h): h is RegionHolding => h !== undefined);
    },
  };
}
