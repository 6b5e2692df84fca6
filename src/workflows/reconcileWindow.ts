import {
  ApplicationFailure,
  continueAsNew,
  log,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import { mapLimit } from '../shared/mapLimit';
import { reconcileReportQuery } from '../shared/messages';
import {
  HOUR_MS,
  hoursBetween,
  REPORT_LIST_LIMIT,
  sidesEqual,
  withoutExtra,
  type BucketSide,
  type CorruptObject,
  type HourComparison,
  type ReconcileInput,
  type ReconcilePhase,
  type ReconcileReport,
  type ReconcileVerdict,
} from '../shared/reconcile';
import { searchAttributes } from '../shared/searchAttributes';
import { closedHourOfRun } from './closedHour';

// Comparing and repairing are reads plus idempotent replays: retried without limit, so a stats API or S3
// outage in the middle of a run is waited out and the run finishes once they answer again. Heartbeats
// let a dead worker's share move on within seconds, however large the hour.
const { compareHours, repairHour } = proxyActivities<Activities>({
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds', backoffCoefficient: 2 },
});
const { listRegions, raiseReconcileAlert } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumAttempts: 10 },
});

/** Slices per run before continuing as new: each slice adds at most a few hundred history events. */
const SLICES_PER_RUN = 20;

/**
 * Replay until correct: compares each (region, hour) of the window by count and ID digest, archive manifests
 * against the stats API; repairs only the buckets that differ (read their objects, replay what the stats
 * API lacks), lets the pipeline settle and compares again, until equal or the attempt budget is spent.
 * Ends with a report; fails (after an alert) when buckets stay unequal or archive objects are corrupt.
 */
export async function reconcileWindow(input: ReconcileInput): Promise<ReconcileReport> {
  const { from, to } = windowOf(input);
  const regions = input.regions?.length ? input.regions : (await listRegions()).map((r) => r.name);
  const report: ReconcileReport = input.carry?.report ?? {
    from,
    to,
    regions,
    phase: 'comparing',
    hoursDone: 0,
    hoursTotal: hoursBetween(from, to).length,
    bucketsCompared: 0,
    bucketsDiffered: 0,
    minuteBucketsDiffered: 0,
    objectsRead: 0,
    eventsRead: 0,
    eventsReplayed: 0,
    archiveDuplicates: 0,
    iterations: 0,
    extraEvents: 0,
    extraSamples: [],
    corruptObjects: [],
    unresolved: [],
    verdict: 'running',
  };
  setHandler(reconcileReportQuery, () => report);

  let shownPhase: ReconcilePhase | undefined;
  const show = (phase: ReconcilePhase): void => {
    report.phase = phase;
    if (phase !== shownPhase) {
      upsertSearchAttributes([
        { key: searchAttributes.phase, value: phase },
        { key: searchAttributes.eventCount, value: report.eventsReplayed },
        ...(regions.length === 1 ? [{ key: searchAttributes.region, value: regions[0]! }] : []),
      ]);
      shownPhase = phase;
    }
    setCurrentDetails(details(report));
  };
  show(report.phase === 'done' || report.phase === 'failed' ? 'comparing' : report.phase);

  const corruptSeen = new Set(report.corruptObjects.map((c) => `${c.bucket}/${c.key}`));
  const addCorrupt = (list: CorruptObject[]): void => {
    for (const c of list) {
      const id = `${c.bucket}/${c.key}`;
      if (corruptSeen.has(id) || report.corruptObjects.length >= REPORT_LIST_LIMIT) continue;
      corruptSeen.add(id);
      report.corruptObjects.push(c);
    }
  };

  /** Compare, repair what differs, settle, compare again: one region's hours of one slice. */
  async function reconcileSlice(region: string, hours: string[]): Promise<void> {
    const extras = new Map<string, BucketSide & { sample: string[] }>();
    // The archive side as read, for hours whose manifests over-count (an event in two objects); used while
    // the manifests stay what they were when the hour was read.
    const read = new Map<string, { manifest: BucketSide; read: BucketSide }>();
    const archiveSide = (c: HourComparison): BucketSide => {
      const r = read.get(c.hour);
      return r && sidesEqual(r.manifest, c.archive) ? r.read : c.archive;
    };
    const duplicates = new Map<string, number>();
    let pending = hours;
    for (let round = 0; ; round++) {
      show('comparing');
      const compared = await compareHours({ region, hours: pending });
      addCorrupt(compared.corrupt);
      const differing = compared.hours.filter(
        (c) => !sidesEqual(archiveSide(c), withoutExtra(c.stats, extras.get(c.hour))),
      );
      if (round === 0) {
        report.bucketsCompared += compared.hours.length;
        report.bucketsDiffered += differing.length;
      }
      if (differing.length === 0) break;
      if (round >= input.attemptBudget) {
        report.unresolved.push(...differing.slice(0, REPORT_LIST_LIMIT - report.unresolved.length));
        break;
      }
      report.iterations = Math.max(report.iterations, round + 1);
      show('replaying');
      await mapLimit(differing, input.concurrency, async (c: HourComparison) => {
        const r = await repairHour({ region, hour: c.hour });
        report.objectsRead += r.objectsRead;
        report.eventsRead += r.eventsRead;
        report.eventsReplayed += r.replayed;
        duplicates.set(c.hour, r.duplicates);
        if (r.archiveRead) read.set(c.hour, { manifest: c.archive, read: r.archiveRead });
        report.minuteBucketsDiffered += r.minutesDiffered;
        addCorrupt(r.corrupt);
        if (r.extraKnown) extras.set(c.hour, r.extra);
        setCurrentDetails(details(report));
      });
      show('settling');
      await sleep(input.settleMs);
      pending = differing.map((c) => c.hour);
    }
    for (const n of duplicates.values()) report.archiveDuplicates += n;
    for (const [hour, extra] of extras) {
      if (extra.count === 0) continue;
      report.extraEvents += extra.count;
      if (report.extraSamples.length < REPORT_LIST_LIMIT)
        report.extraSamples.push({ region, hour, ids: extra.sample });
    }
  }

  let cursor = input.carry?.cursor ?? from;
  for (let slices = 0; Date.parse(cursor) < Date.parse(to); slices++) {
    if (
      slices > 0 &&
      (slices >= (input.slicesPerRun ?? SLICES_PER_RUN) || workflowInfo().continueAsNewSuggested)
    ) {
      await continueAsNew<typeof reconcileWindow>({
        ...input,
        from,
        to,
        closedHourLagMinutes: undefined,
        regions,
        carry: { cursor, report },
      });
    }
    const end = Math.min(Date.parse(cursor) + input.hoursPerSlice * HOUR_MS, Date.parse(to));
    const hours = hoursBetween(cursor, new Date(end).toISOString());
    await Promise.all(regions.map((r) => reconcileSlice(r, hours)));
    report.hoursDone += hours.length;
    cursor = new Date(end).toISOString();
  }

  report.verdict = verdictOf(report);
  const failed = report.verdict === 'unresolved' || report.verdict === 'corrupt-objects';
  show(failed ? 'failed' : 'done');
  if (report.verdict !== 'equal') {
    log.warn('reconciliation did not end equal', { verdict: report.verdict });
    // A webhook that stays down must not turn the run's own verdict into a different failure.
    await raiseReconcileAlert(report).catch((err: Error) =>
      log.warn('the reconciliation alert could not be sent', { error: err.message }),
    );
  }
  if (failed) {
    throw ApplicationFailure.create({
      type: report.verdict === 'unresolved' ? 'ReconcileUnresolved' : 'ReconcileCorruptArchive',
      nonRetryable: true,
      message: failureMessage(report),
      details: [report],
    });
  }
  return report;
}

/** The window given, or for scheduled runs the last hour closed `closedHourLagMinutes` before the run. */
function windowOf(input: ReconcileInput): { from: string; to: string } {
  if (input.from && input.to) return { from: input.from, to: input.to };
  if (input.closedHourLagMinutes === undefined) {
    throw ApplicationFailure.create({
      type: 'InvalidReconcileInput',
      nonRetryable: true,
      message: 'reconcileWindow needs from and to, or closedHourLagMinutes',
    });
  }
  const from = closedHourOfRun(input.closedHourLagMinutes);
  return { from, to: new Date(Date.parse(from) + HOUR_MS).toISOString() };
}

function verdictOf(r: ReconcileReport): ReconcileVerdict {
  if (r.unresolved.length > 0) return 'unresolved';
  if (r.corruptObjects.length > 0) return 'corrupt-objects';
  if (r.extraEvents > 0) return 'extra-events';
  return 'equal';
}

function failureMessage(r: ReconcileReport): string {
  const parts: string[] = [];
  if (r.unresolved.length > 0) {
    parts.push(
      `${r.unresolved.length} bucket(s) still differ after ${r.iterations} replay round(s): ` +
        r.unresolved
          .slice(0, 5)
          .map((u) => `${u.region} ${u.hour} (archive ${u.archive.count}, stats ${u.stats.count})`)
          .join(', '),
    );
  }
  if (r.corruptObjects.length > 0) {
    parts.push(
      `${r.corruptObjects.length} corrupt archive object(s): ` +
        r.corruptObjects
          .slice(0, 5)
          .map((c) => `s3://${c.bucket}/${c.key} (${c.error})`)
          .join(', '),
    );
  }
  return `reconciliation ${r.from}..${r.to} ended ${r.verdict}: ${parts.join('; ')}`;
}

function details(r: ReconcileReport): string {
  const rows = [
    `**${r.phase}** — ${r.regions.join(', ')}, ${r.from} .. ${r.to} (${r.hoursDone}/${r.hoursTotal} hours done)`,
    '',
    '| | |',
    '| --- | --- |',
    `| buckets compared | ${r.bucketsCompared} |`,
    `| buckets differed | ${r.bucketsDiffered} (${r.minuteBucketsDiffered} minutes) |`,
    `| objects read | ${r.objectsRead} |`,
    `| events replayed | ${r.eventsReplayed} |`,
    `| events archived twice (counted once) | ${r.archiveDuplicates} |`,
    `| replay rounds | ${r.iterations} |`,
    `| extra events in stats | ${r.extraEvents} |`,
    `| corrupt objects | ${r.corruptObjects.length} |`,
    `| verdict | ${r.verdict} |`,
  ];
  for (const c of r.corruptObjects.slice(0, 10))
    rows.push('', `corrupt: s3://${c.bucket}/${c.key}: ${c.error}`);
  return rows.join('\n');
}
