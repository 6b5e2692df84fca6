import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Activities } from '../../src/activities';
import type { Notification } from '../../src/activities/notify/webhook';
import type { RegionControlInput, WeightedRecord } from '../../src/shared/regionControl';

/*
 * The outside world of each workflow as plain memory, for the time-skipping tests (test/workflows) and the
 * history recorder (test/replay/record.ts): what a workflow wrote, read and told, and knobs that make the
 * world answer as it would in an outage.
 */

/** Notifications told, as the webhook would have received them. */
export function notifier(): { told: Notification[]; notify: Activities['notify'] } {
  const told: Notification[] = [];
  return {
    told,
    notify: (n) => {
      told.push(n);
      return Promise.resolve({ delivered: true, detail: 'stub' });
    },
  };
}

const target = (region: string, kind: string) => ({ region, bucket: `stormproof-${kind}-${region}` });

/** regionControl's input for two regions, each failing over to the other's failover bucket. */
export function regionControlInput(over: Partial<RegionControlInput> = {}): RegionControlInput {
  return {
    regions: ['us-east-1', 'us-west-2'].map((name) => {
      const other = name === 'us-east-1' ? 'us-west-2' : 'us-east-1';
      const archive = [target(name, 'archive'), target(other, 'failover')];
      return { name, archive, homeArchive: archive, statsUrl: `http://stats-${name}.test` };
    }),
    traffic: { hostedZoneName: 'stormproof.test', recordName: 'track.stormproof.test' },
    approvalTimeoutMs: 15 * 60_000,
    verifyWithinMs: 1000,
    ...over,
  };
}

export const EQUAL_WEIGHTS: WeightedRecord[] = ['us-east-1', 'us-west-2'].map((r) => ({
  setIdentifier: r,
  weight: 100,
  value: `${r}.track.test`,
  ttl: 60,
}));

/** Route 53, S3 and the webhook of a failover. */
export function regionWorld() {
  const { told, notify } = notifier();
  const w = {
    records: EQUAL_WEIGHTS.map((r) => ({ ...r })),
    /** Every change batch that reached "Route 53", in order, marked forward or rollback by its comment. */
    changes: [] as { records: WeightedRecord[]; rollback: boolean }[],
    told,
    /** The next forward change is refused for good, as Route 53 refusing the batch. */
    refuseChange: false,
    /** The next forward change hangs until it is cancelled (a request held in flight). */
    holdChange: false,
    /** What reached or left "Route 53", in order: a held change stopping, a change landing. */
    log: [] as string[],
    /** Read-backs after a rollback that still show other records (as a change landing after it would). */
    staleReads: 0,
    rehomed: 0,
  };
  const activities: Partial<Activities> = {
    notify,
    requireStatsHealthy: () => Promise.resolve(),
    probeArchiveTarget: (t) => Promise.resolve({ ...t, writable: true, latencyMs: 1 }),
    readWeights: () => {
      if (w.staleReads > 0 && w.changes.some((c) => c.rollback)) {
        w.staleReads--;
        return Promise.resolve(EQUAL_WEIGHTS.map((r) => ({ ...r, weight: 7 })));
      }
      return Promise.resolve(w.records.map((r) => ({ ...r })));
    },
    applyWeights: async ({ records, comment }) => {
      const rollback = comment.endsWith('roll back');
      if (!rollback && w.refuseChange) {
        w.refuseChange = false;
        throw ApplicationFailure.create({
          type: 'InvalidChangeBatch',
          message: 'Route 53 refused the change batch',
        });
      }
      if (!rollback && w.holdChange) {
        w.holdChange = false;
        const ctx = Context.current();
        const beat = setInterval(() => ctx.heartbeat(), 100);
        try {
          await ctx.cancelled;
        } finally {
          clearInterval(beat);
          w.log.push('held forward change stopped');
        }
      }
      w.changes.push({ records, rollback });
      w.log.push(rollback ? 'rollback landed' : 'forward change landed');
      w.records = records.map((r) => ({ ...r }));
      return `/change/${w.changes.length}`;
    },
    waitInsync: () => Promise.resolve(),
    verifyArchiveTarget: () => Promise.resolve(),
    routingHealthIs: () => Promise.resolve(),
    rehomeObjects: () => {
      w.rehomed++;
      return Promise.resolve({ copied: 3, alreadyPresent: 1 });
    },
  };
  return { w, activities };
}
