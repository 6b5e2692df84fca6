import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { AwsClients } from '../../aws/clients';
import type { AppConfig } from '../../config/schema';
import { getObject, listHourObjects, readCopy, type ArchiveObject } from '../../archive/reader';
import {
  encodeManifest,
  encodeSealedPart,
  forEachSealedFile,
  HourDigests,
  latestManifest,
  MANIFEST_CONTENT,
  PARQUET_CONTENT,
  PART_ROWS,
  parseManifest,
  SEAL_WRITER,
  SealedFileMismatchError,
  sealedMetadata,
  sealedPartKey,
  sealManifestKey,
  sourceKeysSha256,
} from '../../archive/sealed';
import { sha256Hex } from '../../archive/format';
import { ArchiveConflictError, type ArchiveWriter, type ObjectContent } from '../../archive/writer';
import type { TrackingEvent } from '../../shared/event';
import type { ArchiveTargetRef } from '../../shared/regions';
import {
  SEAL_FORMAT,
  summaryOf,
  type SealDraft,
  type SealHourJob,
  type SealedPart,
  type SealManifest,
  type SealSummary,
} from '../../shared/seal';
import { fanOutSignal } from '../fanOutSignal';
import { withHeartbeat } from '../heartbeat';

/** Raw objects read ahead while the previous ones are consumed in key order. */
const READ_AHEAD = 8;

export type SealPartsResult =
  | { kind: 'draft'; draft: SealDraft }
  | { kind: 'already-sealed'; summary: SealSummary; unsealedSources: number }
  | { kind: 'empty' };

export interface SealDeps {
  config: AppConfig;
  aws: AwsClients;
  /** The project's one conditional-PUT implementation (If-None-Match: *, SHA-256 compared on conflict). */
  writer: Pick<ArchiveWriter, 'putObject'>;
}

/**
 * The sealed hour's side effects. Writing and verifying are separate activities so that the manifest,
 * which readers follow, is written only after the files were read back and matched. Both are idempotent:
 * the files' bytes depend only on the raw objects (read in key order), the manifest's on the draft and
 * the workflow's sealedAt, and every PUT is conditional, so a retry finds its own objects.
 */
export function createSealActivities({ config, aws, writer }: SealDeps) {
  const targetsOf = (region: string): ArchiveTargetRef[] => {
    const r = config.regions.find((x) => x.name === region);
    if (!r) throw new Error(`region ${region} is not configured`);
    return r.archive;
  };

  /**
   * Lists the hour's raw objects in every bucket of the region (a key in two buckets is one object), reads
   * them in key order, keeps the first copy of each event ID and writes the Parquet parts. An hour sealed
   * before is a no-op unless raw objects landed after its latest version: then those alone are read and a
   * new version's parts hold only the IDs no earlier version holds. Memory: one part of rows plus the set of
   * the hour's IDs (sharding by ID hash is not built yet).
   */
  async function sealHourParts(input: SealHourJob): Promise<SealPartsResult> {
    const { region, hour, partRows = PART_ROWS } = input;
    const signal = fanOutSignal(READ_AHEAD);
    const targets = targetsOf(region);
    const existing = await latestManifest(aws, targets, region, hour, signal);
    const objects = (await listHourObjects(aws, targets, region, hour, signal)).sort((a, b) =>
      a.key < b.key ? -1 : 1,
    );
    if (existing) {
      const sealed = new Set(existing.manifest.sources.keys);
      const late = objects.filter((o) => !sealed.has(o.key));
      if (late.length === 0)
        return {
          kind: 'already-sealed',
          summary: summaryOf(existing.manifest, existing.key),
          unsealedSources: 0,
        };
      return withHeartbeat(async () => ({
        kind: 'draft',
        draft: await sealLate(existing, late, partRows, signal),
      }));
    }
    if (objects.length === 0) return { kind: 'empty' };

    return withHeartbeat(async () => {
      const version = 1;
      const put = placement(targets, signal);
      const digests = new HourDigests();
      const at = { region, hour, version, partRows };
      const written = await writeParts(objects, new Set(), digests, at, put, signal);
      const target = put.chosen()!;
      const draft: SealDraft = {
        region,
        hour,
        version,
        bucket: target.bucket,
        bucketRegion: target.region,
        parts: written.parts,
        total: digests.totalSide(),
        minutes: digests.minutes(),
        sources: { count: objects.length, keysSha256: sourceKeysSha256(objects.map((o) => o.key)) },
        eventsRead: written.eventsRead,
        duplicatesDropped: written.eventsRead - digests.count,
        writer: { ...SEAL_WRITER },
      };
      return { kind: 'draft', draft };
    });
  }

  /**
   * The next version of a sealed hour: reads the IDs of every part the latest manifest lists (checked
   * against it), then the late raw objects, and writes parts of only the IDs not sealed yet, beside the
   * earlier parts. The draft describes the whole hour (every part, total, minutes, sources), as the first
   * version's does, so verification and readers treat every version alike.
   */
  async function sealLate(
    existing: { target: ArchiveTargetRef; key: string; manifest: SealManifest },
    late: ArchiveObject[],
    partRows: number,
    signal: AbortSignal,
  ): Promise<SealDraft> {
    const { manifest: m, target } = existing;
    const version = m.version + 1;
    const seen = new Set<string>();
    const digests = new HourDigests();
    try {
      await forEachSealedFile(aws, target, m.files, signal, (rows) => {
        for (const r of rows) {
          if (seen.has(r.id)) throw new SealedFileMismatchError(`event ${r.id} is sealed twice`);
          seen.add(r.id);
          digests.add(r.id, r.timestamp);
        }
        Context.current().heartbeat();
      });
    } catch (err) {
      if (!(err instanceof SealedFileMismatchError)) throw err;
      throw ApplicationFailure.create({
        type: 'SealVerifyFailed',
        nonRetryable: true,
        message: `${m.region} ${m.hour}: version ${m.version}: ${err.message}`,
      });
    }
    const before = digests.totalSide();
    if (before.count !== m.total.count || before.digest !== m.total.digest)
      throw ApplicationFailure.create({
        type: 'SealVerifyFailed',
        nonRetryable: true,
        message: `${m.region} ${m.hour}: the files of version ${m.version} hold ${before.count} events (${before.digest}), its manifest ${m.total.count} (${m.total.digest})`,
      });
    // The new parts go beside the earlier ones, so one bucket holds the whole hour and its manifests.
    const put = placement([target], signal);
    const at = { region: m.region, hour: m.hour, version, partRows };
    const written = await writeParts(late, seen, digests, at, put, signal);
    const added = digests.count - m.total.count;
    return {
      region: m.region,
      hour: m.hour,
      version,
      bucket: target.bucket,
      bucketRegion: target.region,
      parts: [...m.files, ...written.parts],
      total: digests.totalSide(),
      minutes: digests.minutes(),
      sources: {
        count: m.sources.count + late.length,
        keysSha256: sourceKeysSha256([...m.sources.keys, ...late.map((o) => o.key)]),
      },
      eventsRead: m.eventsRead + written.eventsRead,
      duplicatesDropped: m.duplicatesDropped + written.eventsRead - added,
      writer: { ...SEAL_WRITER },
      previous: { version: m.version, key: existing.key },
      delta: { sources: late.length, eventsRead: written.eventsRead, added },
    };
  }

  /**
   * Reads `objects` in key order (READ_AHEAD at a time) and writes every event whose ID is not in `seen` to
   * parts `part-<version>-<n>` of at most partRows rows, adding each written ID to `seen` and `digests`.
   */
  async function writeParts(
    objects: ArchiveObject[],
    seen: Set<string>,
    digests: HourDigests,
    at: { region: string; hour: string; version: number; partRows: number },
    put: (key: string, body: Uint8Array, content: ObjectContent) => Promise<void>,
    signal: AbortSignal,
  ): Promise<{ parts: SealedPart[]; eventsRead: number }> {
    const parts: SealedPart[] = [];
    let rows: TrackingEvent[] = [];
    let eventsRead = 0;
    const flush = async (): Promise<void> => {
      if (rows.length === 0) return;
      const body = encodeSealedPart(rows);
      const key = sealedPartKey(at.region, at.hour, at.version, parts.length);
      await put(key, body, PARQUET_CONTENT);
      parts.push({ key, rows: rows.length, bytes: body.byteLength, sha256: sha256Hex(body) });
      rows = [];
    };
    for (let i = 0; i < objects.length; i += READ_AHEAD) {
      const batch = objects.slice(i, i + READ_AHEAD);
      const reads = await Promise.all(batch.map((o) => readObject(o, signal)));
      for (const events of reads) {
        eventsRead += events.length;
        for (const e of events) {
          if (seen.has(e.id)) continue;
          seen.add(e.id);
          digests.add(e.id, e.timestamp);
          rows.push(e);
          if (rows.length >= at.partRows) await flush();
        }
      }
      Context.current().heartbeat({ objectsRead: i + batch.length, of: objects.length });
    }
    await flush();
    return { parts, eventsRead };
  }

  /** The events of one raw object, from its first readable copy; a corrupt object stops the seal. */
  async function readObject(obj: ArchiveObject, signal: AbortSignal): Promise<TrackingEvent[]> {
    const errors: string[] = [];
    for (const copy of obj.copies) {
      const read = await readCopy(aws, copy, obj.key, signal);
      if ('events' in read) return read.events;
      errors.push(`s3://${copy.bucket}/${obj.key}: ${read.error}`);
    }
    // Sealing without it would drop its events from the hour for good: an operator must look first.
    throw ApplicationFailure.create({
      type: 'SealCorruptSource',
      nonRetryable: true,
      message: `no readable copy of ${obj.key}: ${errors.join('; ')}`,
    });
  }

  /**
   * Writes every object of one seal to one bucket: the first of the region's order that takes the first
   * PUT (home, else failover), so the parts and their manifest stay together.
   */
  function placement(targets: ArchiveTargetRef[], signal: AbortSignal) {
    let chosen: ArchiveTargetRef | undefined;
    const putTo = async (target: ArchiveTargetRef, key: string, body: Uint8Array, content: ObjectContent) => {
      try {
        await writer.putObject(target, key, sealedMetadata(key, body), body, signal, content);
      } catch (err) {
        if (!(err instanceof ArchiveConflictError)) throw err;
        // The same bytes would have been recognised: this is a seal that never wrote its manifest, made
        // from other raw objects. Retrying cannot help; an operator removes that attempt's parts.
        throw ApplicationFailure.create({
          type: 'SealConflict',
          nonRetryable: true,
          message: `s3://${target.bucket}/${key} holds a part of an unfinished seal with other content: remove the hour's parts that no manifest lists, then seal again`,
        });
      }
    };
    const put = async (key: string, body: Uint8Array, content: ObjectContent): Promise<void> => {
      if (chosen) return putTo(chosen, key, body, content);
      const errors: string[] = [];
      for (const target of targets) {
        try {
          await putTo(target, key, body, content);
          chosen = target;
          return;
        } catch (err) {
          if (err instanceof ApplicationFailure || signal.aborted) throw err;
          errors.push(`${target.bucket}: ${(err as Error).message}`);
        }
      }
      throw new Error(`no bucket of the region took ${key}: ${errors.join('; ')}`);
    };
    return Object.assign(put, { chosen: () => chosen });
  }

  /**
   * Reads every written part back with a Parquet reader and checks it against the draft (SHA-256, rows,
   * each ID once, count and digest per hour and per minute), checks that the hour's raw objects are still
   * the ones sealed, and only then writes the manifest. A mismatch is not retried: it needs an operator.
   */
  async function verifySealedHour(input: { draft: SealDraft; sealedAt: string }): Promise<SealSummary> {
    const { draft, sealedAt } = input;
    const signal = fanOutSignal(1);
    const target: ArchiveTargetRef = { bucket: draft.bucket, region: draft.bucketRegion };
    const fail = (type: string, message: string): never => {
      throw ApplicationFailure.create({
        type,
        nonRetryable: true,
        message: `${draft.region} ${draft.hour}: ${message}`,
      });
    };
    return withHeartbeat(async () => {
      const seen = new Set<string>();
      const digests = new HourDigests();
      try {
        await forEachSealedFile(aws, target, draft.parts, signal, (rows) => {
          for (const r of rows) {
            if (seen.has(r.id)) fail('SealVerifyFailed', `event ${r.id} is sealed twice`);
            seen.add(r.id);
            digests.add(r.id, r.timestamp);
          }
          Context.current().heartbeat();
        });
      } catch (err) {
        if (err instanceof SealedFileMismatchError) fail('SealVerifyFailed', err.message);
        throw err;
      }
      const total = digests.totalSide();
      if (total.count !== draft.total.count || total.digest !== draft.total.digest)
        fail(
          'SealVerifyFailed',
          `files hold ${total.count} events (${total.digest}), sources ${draft.total.count} (${draft.total.digest})`,
        );
      if (JSON.stringify(digests.minutes()) !== JSON.stringify(draft.minutes))
        fail('SealVerifyFailed', 'the per-minute digests of the files differ from the sources');

      const objects = await listHourObjects(aws, targetsOf(draft.region), draft.region, draft.hour, signal);
      const keys = objects.map((o) => o.key).sort();
      if (sourceKeysSha256(keys) !== draft.sources.keysSha256)
        fail(
          'SealSourcesChanged',
          `the hour's raw objects changed while sealing (${keys.length} now, ${draft.sources.count} sealed)`,
        );

      const manifest: SealManifest = {
        format: SEAL_FORMAT,
        version: draft.version,
        region: draft.region,
        hour: draft.hour,
        bucket: draft.bucket,
        files: draft.parts,
        total: draft.total,
        minutes: draft.minutes,
        sources: { ...draft.sources, keys },
        eventsRead: draft.eventsRead,
        duplicatesDropped: draft.duplicatesDropped,
        writer: draft.writer,
        sealedAt,
        ...(draft.previous && { previous: draft.previous }),
        ...(draft.delta && { delta: draft.delta }),
      };
      const key = sealManifestKey(draft.region, draft.hour, draft.version);
      const body = encodeManifest(manifest);
      try {
        await writer.putObject(target, key, sealedMetadata(key, body), body, signal, MANIFEST_CONTENT);
      } catch (err) {
        if (!(err instanceof ArchiveConflictError)) throw err;
        // Another run sealed the same sources at the same time (the Schedule and an operator): its manifest
        // differs only in sealedAt, and the hour is sealed as this run would have sealed it.
        const stored = parseManifest(await getObject(aws, target, key, signal));
        if (sameSeal(stored, manifest)) return summaryOf(stored, key);
        // Another manifest of this version: the seal is someone else's; say so rather than overwrite.
        fail(
          'SealConflict',
          `${key} holds another seal (sealed at ${stored.sealedAt}, ${stored.total.count} events)`,
        );
      }
      return summaryOf(manifest, key);
    });
  }

  return { sealHourParts, verifySealedHour };
}

/** Two manifests of the same hour and version that differ at most in when they were sealed. */
const sameSeal = (a: SealManifest, b: SealManifest): boolean =>
  JSON.stringify({ ...a, sealedAt: '' }) === JSON.stringify({ ...b, sealedAt: '' });
