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

/** The start of an event's minute (UTC), in ms. */
const minuteOfMs = (timestamp: string): number => {
  const ms = Date.parse(timestamp);
  return ms - (((ms % MINUTE_MS) + MINUTE_MS) % MINUTE_MS);
};

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
   * Repairs one hour in bounded memory: compares it minute by minute with the stats API, lists the stats IDs
   * of the differing minutes only, and replays the archived events the stats API lacks; extra stats events are
   * reported, never deleted. The events read are those of the minutes that may differ (with only a seal, the
   * minutes whose manifest side differs from the stats'; with raw objects the seal does not hold, every
   * minute), a group of minutes at a time of at most `reconcile.repairMaxEvents` estimated events (the
   * seal's per-minute counts, the raw objects' counts spread over the hour), reading the hour's sealed files
   * and raw objects once per group. A corrupt copy falls back to the other bucket's copy, else is reported.
   */
  async function repairHour(input: { region: string; hour: string }): Promise<HourRepair> {
    const signal = fanOutSignal(S3_CONCURRENCY);
    const hourMs = Date.parse(input.hour);
    const { sealed, unsealed } = await hourArchive(input.region, input.hour, signal);
    const statsByMinute = new Map(
      (
        await stats.buckets({
          region: input.region,
          granularity: 'minute',
          from: input.hour,
          to: new Date(hourMs + HOUR_MS).toISOString(),
        })
      ).map((b) => [Date.parse(b.start), { count: b.count, digest: b.digest }]),
    );
    const minutes = Array.from({ length: 60 }, (_, i) => hourMs + i * MINUTE_MS);
    const sealedSide = (minute: number): BucketSide =>
      sealed?.manifest.minutes[new Date(minute).toISOString().slice(11, 16)] ?? EMPTY_SIDE;
    const statsSide = (minute: number): BucketSide => statsByMinute.get(minute) ?? EMPTY_SIDE;

    let unsealedEvents = 0;
    await mapLimit(unsealed, S3_CONCURRENCY, async (obj) => {
      const m = await firstManifest(obj, signal);
      if (!('error' in m)) unsealedEvents += m.count;
    });
    const toRead =
      unsealed.length > 0 ? minutes : minutes.filter((m) => !sidesEqual(sealedSide(m), statsSide(m)));
    const groups: number[][] = [];
    let estimate = Infinity;
    for (const minute of toRead) {
      const expected = sealedSide(minute).count + unsealedEvents / 60;
      if (estimate + expected > config.reconcile.repairMaxEvents) {
        groups.push([]);
        estimate = 0;
      }
      groups.at(-1)!.push(minute);
      estimate += expected;
    }

    const corrupt = new Map<string, CorruptObject>();
    const archive = { count: 0, digest: new IdDigest() };
    const extra = { count: 0, digest: new IdDigest(), sample: [] as string[] };
    let eventsRead = 0;
    let eventsInObjects = 0;
    let minutesDiffered = 0;
    let replayed = 0;
    // The minutes not read match the stats by the seal's own sides: they count as read, unchanged.
    for (const minute of minutes.filter((m) => !toRead.includes(m))) {
      archive.count += sealedSide(minute).count;
      archive.digest.merge(sealedSide(minute).digest);
    }
    for (const group of groups) {
      const wanted = new Set(group);
      const events = new Map<string, TrackingEvent>();
      const keep = (read: TrackingEvent[]): void => {
        for (const e of read) {
          if (!wanted.has(minuteOfMs(e.timestamp))) continue;
          events.set(e.id, e);
          eventsInObjects++;
        }
      };
      // One file at a time: a file is up to 50,000 rows decoded at once.
      for (const file of sealed?.manifest.files ?? []) {
        try {
          keep(await readSealedEvents(await getObject(aws, sealed!.target, file.key, signal)));
        } catch (err) {
          if (signal.aborted) throw err;
          const key = file.key;
          corrupt.set(key, { bucket: sealed!.target.bucket, key, error: (err as Error).message });
        }
        Context.current().heartbeat();
      }
      await mapLimit(unsealed, S3_CONCURRENCY, async (obj) => {
        let firstError: CorruptObject | undefined;
        for (const copy of obj.copies) {
          const read = await readCopy(aws, copy, obj.key, signal);
          if ('events' in read) return keep(read.events);
          firstError ??= { bucket: copy.bucket, key: obj.key, error: read.error };
        }
        corrupt.set(obj.key, firstError!);
      });
      eventsRead += events.size;
      for (const e of events.values()) {
        archive.count++;
        archive.digest.add(e.id);
      }

      const byMinute = new Map<number, TrackingEvent[]>(group.map((m) => [m, []]));
      for (const e of events.values()) byMinute.get(minuteOfMs(e.timestamp))!.push(e);
      const missing: TrackingEvent[] = [];
      for (const [minute, archived] of byMinute) {
        const side = { count: archived.length, digest: IdDigest.of(archived.map((e) => e.id)).toHex() };
        if (sidesEqual(side, statsSide(minute))) continue;
        minutesDiffered++;
        const statsIds = await listMinuteIds(input.region, minute);
        const archivedIds = new Set(archived.map((e) => e.id));
        for (const e of archived) if (!statsIds.has(e.id)) missing.push(e);
        for (const id of statsIds) {
          if (archivedIds.has(id)) continue;
          extra.count++;
          extra.digest.add(id);
          if (extra.sample.length < 20) extra.sample.push(id);
        }
        Context.current().heartbeat();
      }
      for (let offset = 0; offset < missing.length; offset += stats.chunkSize) {
        const result = await stats.postChunk(
          input.region,
          missing.slice(offset, offset + stats.chunkSize).map(toEventJson),
          offset,
        );
        replayed += result.accepted;
        Context.current().heartbeat();
      }
    }
    const extraKnown = corrupt.size === 0;
    return {
      region: input.region,
      hour: input.hour,
      objectsRead: unsealed.length,
      ...(sealed && {
        sealed: { version: sealed.manifest.version, filesRead: sealed.manifest.files.length },
      }),
      eventsRead,
      duplicates: eventsInObjects - eventsRead,
      ...(extraKnown && { archiveRead: { count: archive.count, digest: archive.digest.toHex() } }),
      minutesDiffered,
      replayed,
      extraKnown,
      extra: extraKnown
        ? { count: extra.count, digest: extra.digest.toHex(), sample: extra.sample }
        : { ...EMPTY_SIDE, sample: [] },
      corrupt: [...corrupt.values()].slice(0, REPORT_LIST_LIMIT),
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
