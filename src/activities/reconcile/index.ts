import { Context } from '@temporalio/activity';
import type { AwsClients } from '../../aws/clients';
import type { AppConfig } from '../../config/schema';
import type { TrackingEvent } from '../../shared/event';
import { IdDigest } from '../../archive/idDigest';
import { mapLimit } from '../../shared/mapLimit';
import { fanOutSignal } from '../fanOutSignal';
import {
  EMPTY_SIDE,
  HOUR_MS,
  REPORT_LIST_LIMIT,
  sidesEqual,
  type BucketSide,
  type CorruptObject,
  type HourComparison,
  type HourRepair,
  type ReconcileReport,
} from '../../shared/reconcile';
import type { ArchiveTargetRef } from '../../shared/regions';
import { withHeartbeat } from '../heartbeat';
import type { Notification, NotifyResult } from '../notify/webhook';
import { toEventJson, type StatsApi } from '../stats';
import { getObject, headManifest, ManifestMissing, readCopy, type ArchiveObject } from '../../archive/reader';
import { readableHour } from '../../archive/hour';
import { readSealedEvents } from '../../archive/sealed';

export interface ReconcileDeps {
  config: AppConfig;
  aws: AwsClients;
  stats: StatsApi;
  /** Where alerts go: the operators' webhook (the notify activity's sender). */
  notify: (n: Notification) => Promise<NotifyResult>;
}

/** S3 calls in flight per activity: enough to hide moto's/S3's latency, few enough to stay polite. */
const S3_CONCURRENCY = 16;
/** IDs per page when listing a stats bucket (the API's maximum). */
const ID_PAGE = 10_000;
const MINUTE_MS = 60_000;

export interface CompareHoursInput {
  region: string;
  hours: string[];
}

export interface CompareHoursResult {
  hours: HourComparison[];
  /** Objects without a manifest in their metadata: reported, and left out of the archive side. */
  corrupt: CorruptObject[];
}

/**
 * Reconciliation's side effects: comparing manifests with stats buckets, and repairing one hour by reading
 * its archive objects and replaying what the stats API lacks. Both are idempotent (reads, and replays the
 * stats API dedupes by event ID) and heartbeat while they work.
 */
export function createReconcileActivities({ config, aws, stats, notify }: ReconcileDeps) {
  const targetsOf = (region: string): ArchiveTargetRef[] => {
    const r = config.regions.find((x) => x.name === region);
    if (!r) throw new Error(`region ${region} is not configured`);
    return r.archive;
  };

  const hourArchive = (region: string, hour: string, signal: AbortSignal) =>
    readableHour(aws, targetsOf(region), region, hour, signal);

  /**
   * Per hour: the archive side from the sealed manifest (each ID once) and the metadata of the raw objects
   * it does not hold (HEAD, no body read), against the stats API's hour bucket.
   */
  async function compareHours(input: CompareHoursInput): Promise<CompareHoursResult> {
    const signal = fanOutSignal(S3_CONCURRENCY);
    const starts = input.hours.map((h) => Date.parse(h));
    const statsBuckets = await stats.buckets({
      region: input.region,
      granularity: 'hour',
      from: new Date(Math.min(...starts)).toISOString(),
      to: new Date(Math.max(...starts) + HOUR_MS).toISOString(),
    });
    const statsByHour = new Map(statsBuckets.map((b) => [Date.parse(b.start), b]));
    const corrupt: CorruptObject[] = [];
    const hours: HourComparison[] = [];
    for (const hour of input.hours) {
      const { objects, sealed, unsealed } = await hourArchive(input.region, hour, signal);
      const digest = sealed ? IdDigest.fromHex(sealed.manifest.total.digest) : new IdDigest();
      let count = sealed?.manifest.total.count ?? 0;
      await mapLimit(unsealed, S3_CONCURRENCY, async (obj) => {
        const manifest = await firstManifest(obj, signal);
        if ('error' in manifest) return void corrupt.push(manifest);
        count += manifest.count;
        digest.merge(manifest.digest);
      });
      const s = statsByHour.get(Date.parse(hour));
      hours.push({
        region: input.region,
        hour,
        archive: { count, digest: digest.toHex() },
        stats: s ? { count: s.count, digest: s.digest } : EMPTY_SIDE,
        objects: objects.length,
        ...(sealed && { sealedVersion: sealed.manifest.version }),
      });
      Context.current().heartbeat();
    }
    return { hours, corrupt };
  }

  async function firstManifest(obj: ArchiveObject, signal: AbortSignal): Promise<BucketSide | CorruptObject> {
    for (const copy of obj.copies) {
      try {
        return await headManifest(aws, copy, obj.key, signal);
      } catch (err) {
        if (!(err instanceof ManifestMissing)) throw err;
      }
    }
    return { bucket: obj.copies[0]!.bucket, key: obj.key, error: 'no valid manifest metadata in any copy' };
  }

  /**
   * Reads the hour's events: its sealed files, if it is sealed, and the raw objects the seal does not hold
   * (a corrupt copy falls back to the other bucket's copy, else is reported). Compares minute by minute with
   * the stats API, lists the stats IDs of the differing minutes only, and replays the archived events the
   * stats API lacks. Extra stats events are reported, never deleted.
   */
  async function repairHour(input: { region: string; hour: string }): Promise<HourRepair> {
    const signal = fanOutSignal(S3_CONCURRENCY);
    const { sealed, unsealed } = await hourArchive(input.region, input.hour, signal);
    const corrupt: CorruptObject[] = [];
    const events = new Map<string, TrackingEvent>();
    let eventsInObjects = 0;
    // One file at a time: a file is up to 50,000 rows decoded at once.
    for (const file of sealed?.manifest.files ?? []) {
      try {
        const read = await readSealedEvents(await getObject(aws, sealed!.target, file.key, signal));
        for (const e of read) events.set(e.id, e);
        eventsInObjects += read.length;
      } catch (err) {
        if (signal.aborted) throw err;
        corrupt.push({ bucket: sealed!.target.bucket, key: file.key, error: (err as Error).message });
      }
      Context.current().heartbeat();
    }
    await mapLimit(unsealed, S3_CONCURRENCY, async (obj) => {
      let firstError: CorruptObject | undefined;
      for (const copy of obj.copies) {
        const read = await readCopy(aws, copy, obj.key, signal);
        if ('events' in read) {
          for (const e of read.events) events.set(e.id, e);
          eventsInObjects += read.events.length;
          return;
        }
        firstError ??= { bucket: copy.bucket, key: obj.key, error: read.error };
      }
      corrupt.push(firstError!);
    });

    const archiveMinutes = new Map<number, { side: IdDigest; count: number; events: TrackingEvent[] }>();
    for (const e of events.values()) {
      const ms = Date.parse(e.timestamp);
      const minute = ms - (((ms % MINUTE_MS) + MINUTE_MS) % MINUTE_MS);
      let m = archiveMinutes.get(minute);
      if (!m) archiveMinutes.set(minute, (m = { side: new IdDigest(), count: 0, events: [] }));
      m.side.add(e.id);
      m.count++;
      m.events.push(e);
    }
    const statsMinutes = await stats.buckets({
      region: input.region,
      granularity: 'minute',
      from: input.hour,
      to: new Date(Date.parse(input.hour) + HOUR_MS).toISOString(),
    });
    const statsByMinute = new Map(statsMinutes.map((b) => [Date.parse(b.start), b]));
    const differing = [...new Set([...archiveMinutes.keys(), ...statsByMinute.keys()])].filter((minute) => {
      const a = archiveMinutes.get(minute);
      const s = statsByMinute.get(minute);
      return !sidesEqual(a ? { count: a.count, digest: a.side.toHex() } : EMPTY_SIDE, s ?? EMPTY_SIDE);
    });

    const missing: TrackingEvent[] = [];
    const extraIds: string[] = [];
    for (const minute of differing.sort((a, b) => a - b)) {
      const statsIds = await listMinuteIds(input.region, minute);
      const archived = archiveMinutes.get(minute)?.events ?? [];
      const archivedIds = new Set(archived.map((e) => e.id));
      for (const e of archived) if (!statsIds.has(e.id)) missing.push(e);
      for (const id of statsIds) if (!archivedIds.has(id)) extraIds.push(id);
      Context.current().heartbeat();
    }

    let replayed = 0;
    for (let offset = 0; offset < missing.length; offset += stats.chunkSize) {
      const result = await stats.postChunk(
        input.region,
        missing.slice(offset, offset + stats.chunkSize).map(toEventJson),
        offset,
      );
      replayed += result.accepted;
      Context.current().heartbeat();
    }
    const extraKnown = corrupt.length === 0;
    return {
      region: input.region,
      hour: input.hour,
      objectsRead: unsealed.length,
      ...(sealed && {
        sealed: { version: sealed.manifest.version, filesRead: sealed.manifest.files.length },
      }),
      eventsRead: events.size,
      duplicates: eventsInObjects - events.size,
      ...(extraKnown && {
        archiveRead: { count: events.size, digest: IdDigest.of(events.keys()).toHex() },
      }),
      minutesDiffered: differing.length,
      replayed,
      extraKnown,
      extra: extraKnown
        ? { count: extraIds.length, digest: IdDigest.of(extraIds).toHex(), sample: extraIds.slice(0, 20) }
        : { ...EMPTY_SIDE, sample: [] },
      corrupt: corrupt.slice(0, REPORT_LIST_LIMIT),
    };
  }

  async function listMinuteIds(region: string, minute: number): Promise<Set<string>> {
    const ids = new Set<string>();
    let cursor: string | undefined;
    do {
      const page = await stats.bucketIds({
        region,
        granularity: 'minute',
        start: new Date(minute).toISOString(),
        cursor,
        limit: ID_PAGE,
      });
      for (const id of page.ids) ids.add(id);
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    return ids;
  }

  return {
    compareHours: (input: CompareHoursInput) => withHeartbeat(() => compareHours(input)),
    repairHour: (input: { region: string; hour: string }) => withHeartbeat(() => repairHour(input)),

    /**
     * The alert of a reconciliation that did not end equal: an error log with the details, and a notification
     * to the operators' webhook. Idempotent: the notification's key is the run's, so a retry shows once.
     */
    async raiseReconcileAlert(report: ReconcileReport): Promise<NotifyResult> {
      const workflowId = Context.current().info.workflowExecution?.workflowId ?? 'reconcile';
      const unresolved = report.unresolved.map((u) => `${u.region} ${u.hour}`);
      const corrupt = report.corruptObjects.map((c) => `s3://${c.bucket}/${c.key}: ${c.error}`);
      Context.current().log.error(`reconciliation ${report.from}..${report.to} ended ${report.verdict}`, {
        verdict: report.verdict,
        regions: report.regions,
        unresolved,
        corruptObjects: corrupt,
        extraEvents: report.extraEvents,
      });
      const list = (title: string, items: string[]): string[] =>
        items.length
          ? [`${title}:`, ...items.slice(0, 10).map((i) => `• ${i}`), ...(items.length > 10 ? ['• …'] : [])]
          : [];
      return notify({
        kind: 'reconcile-alert',
        key: `${workflowId}-${report.verdict}`,
        title: `Reconciliation of ${report.from} to ${report.to} ended ${report.verdict}`,
        text: [
          `Regions ${report.regions.join(', ')}; ${report.eventsReplayed} events replayed; ${report.extraEvents} extra events in the stats (left there).`,
          ...list('Still differing', unresolved),
          ...list('Corrupt archive objects', corrupt),
          `Report: \`stormproof reconcile --from ${report.from} --to ${report.to}\` runs it again; workflow \`${workflowId}\`.`,
        ].join('\n'),
      });
    },
  };
}
