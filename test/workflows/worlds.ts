import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Activities } from '../../src/activities';
import type { Notification } from '../../src/activities/notify/webhook';
import { DEFAULT_CAPTURE_BACKOFF, type ArchiveBatchInput } from '../../src/shared/batch';
import type { OperationRequest, RegionControlInput, WeightedRecord } from '../../src/shared/regionControl';

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
      return {
        name,
        archive,
        homeArchive: archive,
        statsUrl: `http://stats-${name}.test`,
        routingHealthUrl: `http://ingest-${name}.test/v1/routing-health`,
      };
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
    /** The next verification of the new archive bucket fails for good. */
    verifyFails: false,
    /** Checks for "serving" after a drain that still answer "draining" (an ingest slow to see the flag). */
    stillDraining: 0,
    /** Every routing-health check: the state it waited for. */
    healthChecks: [] as ('draining' | 'serving')[],
    /** Cap ledger calls of the hand-over, in order: `revoke <region> <operation>`, `restore …`, `holdings …`. */
    caps: [] as string[],
    /** Looks at the region's holdings that still find a holder holding 5 (a lease not ended yet). */
    capsHeldFor: 0,
    /** The ledgers do not answer the revocation (every attempt fails, retryably). */
    capsUnreachable: false,
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
    verifyArchiveTarget: () => {
      if (!w.verifyFails) return Promise.resolve();
      w.verifyFails = false;
      throw ApplicationFailure.create({
        type: 'VerifyFailed',
        nonRetryable: true,
        message: 'bucket unwritable',
      });
    },
    routingHealthIs: ({ draining }) => {
      w.healthChecks.push(draining ? 'draining' : 'serving');
      if (!draining && w.stillDraining > 0 && w.healthChecks.includes('draining')) {
        w.stillDraining--;
        throw ApplicationFailure.create({ type: 'Unhealthy', nonRetryable: true, message: 'answers 503' });
      }
      return Promise.resolve();
    },
    revokeCapRegion: ({ region, operationId }) => {
      w.caps.push(`revoke ${region} ${operationId}`);
      if (w.capsUnreachable)
        return Promise.reject(
          ApplicationFailure.create({ type: 'LedgerTimeout', message: 'the ledgers do not answer' }),
        );
      return Promise.resolve(1);
    },
    restoreCapRegion: ({ region, operationId }) => {
      w.caps.push(`restore ${region} ${operationId}`);
      return Promise.resolve(1);
    },
    capRegionHoldings: ({ region }) => {
      w.caps.push(`holdings ${region}`);
      const holding = w.capsHeldFor > 0;
      if (holding) w.capsHeldFor--;
      return Promise.resolve([
        {
          ledger: 'cap-ledger-offer-1-lifetime',
          unspent: holding ? 5 : 0,
          holding: holding ? [`${region}/ingest-1-abc`] : [],
          returned: 3,
          reclaimed: holding ? 0 : 5,
        },
      ]);
    },
    rehomeObjects: () => {
      w.rehomed++;
      return Promise.resolve({ copied: 3, alreadyPresent: 1 });
    },
  };
  return { w, activities };
}

const REGIONS = ['us-east-1', 'us-west-2'];

/**
 * The regions as the health monitor probes them. `failing(region, round)` says whether that region's probes
 * fail in a probe round (1-based); `refusals` failover requests are refused at preflight before one starts.
 */
export function monitorWorld(failing: (region: string, round: number) => boolean, refusals = 0) {
  const { told, notify } = notifier();
  const w = { round: 0, told, asked: [] as OperationRequest[], refusals };
  const activities: Partial<Activities> = {
    notify,
    listRegions: () => {
      w.round++;
      return Promise.resolve(
        REGIONS.map((name) => ({
          name,
          archive: [
            target(name, 'archive'),
            target(
              REGIONS.find((r) => r !== name)!,
              'failover',
            ),
          ],
        })),
      );
    },
    probeArchiveTarget: (t) =>
      Promise.resolve(
        failing(t.region, w.round)
          ? { ...t, writable: false, latencyMs: 1, error: 'SlowDown' }
          : { ...t, writable: true, latencyMs: 1 },
      ),
    checkStatsHealth: ({ region }) => Promise.resolve({ healthy: !failing(region, w.round), detail: 'ok' }),
    capturedBacklog: () => Promise.resolve(0),
    requestFailover: (req) => {
      w.asked.push(req);
      if (w.refusals > 0) {
        w.refusals--;
        return Promise.resolve({
          started: false,
          retryable: true,
          detail: 'preflight: stats API unreachable',
        });
      }
      return Promise.resolve({ started: true, operationId: 'op-1', detail: 'operation op-1 running' });
    },
  };
  return { w, activities };
}

/**
 * An archive whose hours hold 5 events each, and a stats API that has 3 of them until an hour is repaired
 * (or, with `repairsHold` false, loses what is replayed, so the hours stay unequal).
 */
export function reconcileWorld(repairsHold = true) {
  const { told, notify } = notifier();
  // 128-bit hex digests as the real ones (an empty extra side XORs away to nothing).
  const side = (count: number) => ({ count, digest: count.toString(16).padStart(32, '0') });
  const w = { repaired: new Set<string>(), compared: 0, told };
  const activities: Partial<Activities> = {
    notify,
    listRegions: () => Promise.resolve(REGIONS.map((name) => ({ name, archive: [target(name, 'archive')] }))),
    compareHours: ({ region, hours }) => {
      w.compared++;
      return Promise.resolve({
        hours: hours.map((hour) => ({
          region,
          hour,
          archive: side(5),
          stats: side(w.repaired.has(`${region} ${hour}`) ? 5 : 3),
          objects: 1,
        })),
        corrupt: [],
      });
    },
    repairHour: ({ region, hour }) => {
      if (repairsHold) w.repaired.add(`${region} ${hour}`);
      return Promise.resolve({
        region,
        hour,
        objectsRead: 1,
        eventsRead: 5,
        duplicates: 0,
        minutesDiffered: 1,
        replayed: 2,
        extra: { ...side(0), sample: [] },
        extraKnown: true,
        corrupt: [],
      });
    },
    raiseReconcileAlert: (report) =>
      notify({ kind: 'reconcile-alert', key: report.from, title: report.verdict, text: '' }),
  };
  return { w, activities };
}

/** S3 refusing a batch's first `refusals` archive attempts; the stats API taking it at once. */
export function archiveWorld(refusals: number) {
  const w = { archiveCalls: 0, deliverCalls: 0 };
  const activities: Partial<Activities> = {
    archiveEvents: (batch) => {
      w.archiveCalls++;
      // Failed for good within the round, so each capture round is one call: the local retries inside a
      // round are the SDK's, and would take real seconds.
      if (w.archiveCalls <= refusals)
        throw ApplicationFailure.create({ nonRetryable: true, type: 'SlowDown', message: 'S3 answered 503' });
      return Promise.resolve({
        bucket: `stormproof-archive-${batch.region}`,
        bucketRegion: batch.region,
        key: `region=${batch.region}/${batch.batchId}.ndjson.gz`,
        alreadyPresent: false,
        skipped: [],
      });
    },
    deliverArchiveObject: () => {
      w.deliverCalls++;
      return Promise.resolve({ accepted: 3, duplicates: 0 });
    },
  };
  return { w, activities };
}

/** An archiveBatch input of 3 events of us-east-1 with the production capture backoff (5 s doubling to 5 min). */
export function archiveBatchInput(batchId: string): ArchiveBatchInput {
  return {
    batchId,
    region: 'us-east-1',
    hour: '2026-11-28T03:00:00.000Z',
    count: 3,
    digest: 'digest',
    sha256: '0'.repeat(64),
    acceptedAt: '2026-11-28T03:12:00.000Z',
    capture: DEFAULT_CAPTURE_BACKOFF,
  };
}
