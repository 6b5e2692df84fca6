import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { AwsClients } from '../../aws/clients';
import type { AppConfig } from '../../config/schema';
import { readableHour } from '../../archive/hour';
import { getObject, listHourObjects, readCopy, type ArchiveObject } from '../../archive/reader';
import {
  combineDigests,
  encodeManifest,
  encodeSealedPart,
  forEachSealedFile,
  HourDigests,
  MANIFEST_CONTENT,
  MAX_SHARDS,
  PARQUET_CONTENT,
  PART_ROWS,
  parseManifest,
  SEAL_WRITER,
  SealedFileMismatchError,
  sealedMetadata,
  sealedPartKey,
  sealedShardPartKey,
  sealManifestKey,
  sealSourcesKey,
  encodeSourceKeys,
  parseSourceKeys,
  shardOf,
  SOURCES_CONTENT,
  sourceKeysSha256,
} from '../../archive/sealed';
import { sha256Hex } from '../../archive/format';
import { ArchiveConflictError, type ArchiveWriter, type ObjectContent } from '../../archive/writer';
import type { TrackingEvent } from '../../shared/event';
import type { ArchiveTargetRef } from '../../shared/regions';
import {
  SEAL_FORMAT,
  summaryOf,
  type CountDigest,
  type PendingCaptures,
  type SealDraft,
  type SealHourJob,
  type SealedPart,
  type SealManifest,
  type SealPlan,
  type SealPlanResult,
  type SealShardDraft,
  type SealSummary,
} from '../../shared/seal';
import { fanOutSignal } from '../fanOutSignal';
import { withHeartbeat } from '../heartbeat';
import { createRetireRaw } from './retire';

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
 * which readers follow, is written only after the files were read back and matched. All are idempotent:
 * the files' bytes depend only on the raw objects (read in key order), the manifest's on the drafts and
 * the workflow's sealedAt, and every PUT is conditional, so a retry finds its own objects.
 *
 * Two generations: planSeal, sealShard, verifySealShard and commitSeal seal an hour in shards by event ID
 * hash (patch `seal-shards`); sealHourParts and verifySealedHour, one activity each for the whole hour, stay
 * for seals started before it.
 */
export function createSealActivities({ config, aws, writer }: SealDeps) {
  // A worker may be handed several shards at once (of one seal or several): it runs shardsPerWorker of them at
  // a time and the others wait, heartbeating, so its memory is that of its shards, not of the seals'.
  const shardSlot = slots(config.seal.shardsPerWorker);

  /** An hour whose latest seal holds every raw object: nothing to write, the latest manifest's summary. */
  const alreadySealed = (existing: { key: string; manifest: SealManifest }) => ({
    kind: 'already-sealed' as const,
    summary: summaryOf(existing.manifest, existing.key),
    unsealedSources: 0,
  });

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
   * the hour's IDs (what the sharded seal bounds).
   */
  async function sealHourParts(input: SealHourJob): Promise<SealPartsResult> {
    const { region, hour, partRows = PART_ROWS } = input;
    const signal = fanOutSignal(READ_AHEAD);
    const targets = targetsOf(region);
    const { objects, sealed: existing, unsealed } = await readableHour(aws, targets, region, hour, signal);
    objects.sort(byKey);
    if (existing) {
      if (unsealed.length === 0) return alreadySealed(existing);
      const late = unsealed.sort(byKey);
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
    await readBack(`${m.region} ${m.hour}: version ${m.version}`, target, m.files, signal, digests, seen);
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
   * parts of at most partRows rows (`part-<version>-<n>`, or a shard's `part-<version>-<s>of<N>-<n>` when
   * `at.shard` is given: then only that shard's events are read), adding each written ID to `seen` and
   * `digests`.
   */
  async function writeParts(
    objects: ArchiveObject[],
    seen: Set<string>,
    digests: HourDigests,
    at: {
      region: string;
      hour: string;
      version: number;
      partRows: number;
      shard?: { index: number; of: number };
    },
    put: (key: string, body: Uint8Array, content: ObjectContent) => Promise<void>,
    signal: AbortSignal,
  ): Promise<{ parts: SealedPart[]; eventsRead: number }> {
    const { shard } = at;
    const keep = shard && ((id: string) => shardOf(id, shard.of) === shard.index);
    const partKey = (n: number) =>
      shard
        ? sealedShardPartKey(at.region, at.hour, at.version, shard, n)
        : sealedPartKey(at.region, at.hour, at.version, n);
    const parts: SealedPart[] = [];
    let rows: TrackingEvent[] = [];
    let eventsRead = 0;
    const flush = async (): Promise<void> => {
      if (rows.length === 0) return;
      const body = encodeSealedPart(rows);
      const key = partKey(parts.length);
      await put(key, body, PARQUET_CONTENT);
      parts.push({ key, rows: rows.length, bytes: body.byteLength, sha256: sha256Hex(body) });
      rows = [];
    };
    for (let i = 0; i < objects.length; i += READ_AHEAD) {
      const batch = objects.slice(i, i + READ_AHEAD);
      const reads = await Promise.all(batch.map((o) => readObject(o, signal, keep)));
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
  async function readObject(
    obj: ArchiveObject,
    signal: AbortSignal,
    keep?: (id: string) => boolean,
  ): Promise<TrackingEvent[]> {
    const errors: string[] = [];
    for (const copy of obj.copies) {
      const read = await readCopy(aws, copy, obj.key, signal, keep);
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
      const digests = new HourDigests();
      await readBack(`${draft.region} ${draft.hour}`, target, draft.parts, signal, digests, new Set());
      const total = digests.totalSide();
      if (total.count !== draft.total.count || total.digest !== draft.total.digest)
        fail(
          'SealVerifyFailed',
          `files hold ${total.count} events (${total.digest}), sources ${draft.total.count} (${draft.total.digest})`,
        );
      if (JSON.stringify(digests.minutes()) !== JSON.stringify(draft.minutes))
        fail('SealVerifyFailed', 'the per-minute digests of the files differ from the sources');

      const keys = (await unchangedSources(draft, signal)).map((o) => o.key);
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
      return writeManifest(target, manifest, signal);
    });
  }

  /**
   * The hour's raw objects in key order, as long as they are still the ones a seal read (the SHA-256 of the
   * sorted keys); otherwise the seal fails: a batch landed in (or left) the hour while it was sealed.
   */
  async function unchangedSources(
    at: { region: string; hour: string; sources: { count: number; keysSha256: string } },
    signal: AbortSignal,
  ): Promise<ArchiveObject[]> {
    const objects = (await listHourObjects(aws, targetsOf(at.region), at.region, at.hour, signal)).sort(
      byKey,
    );
    const keys = objects.map((o) => o.key);
    if (sourceKeysSha256(keys) !== at.sources.keysSha256)
      throw ApplicationFailure.create({
        type: 'SealSourcesChanged',
        nonRetryable: true,
        message: `${at.region} ${at.hour}: the hour's raw objects changed while sealing (${keys.length} now, ${at.sources.count} sealed)`,
      });
    return objects;
  }

  /**
   * Writes a manifest (conditional PUT). A retry finds its own bytes; a manifest of the same version from a
   * concurrent seal of the same sources (the Schedule and an operator) differs only in sealedAt and is taken
   * as this seal's; any other is a SealConflict.
   */
  async function writeManifest(
    target: ArchiveTargetRef,
    manifest: SealManifest,
    signal: AbortSignal,
  ): Promise<SealSummary> {
    const key = sealManifestKey(manifest.region, manifest.hour, manifest.version);
    const body = encodeManifest(manifest);
    try {
      await writer.putObject(target, key, sealedMetadata(key, body), body, signal, MANIFEST_CONTENT);
    } catch (err) {
      if (!(err instanceof ArchiveConflictError)) throw err;
      const stored = parseManifest(await getObject(aws, target, key, signal));
      if (sameSeal(stored, manifest)) return summaryOf(stored, key);
      // The version this seal extends was retired meanwhile (retireRawHour wrote this version: the same files
      // and sources, raw objects deleted): this seal becomes the next version and carries the retirement.
      if (
        stored.retired &&
        !manifest.retired &&
        manifest.previous &&
        stored.previous?.version === manifest.previous.version
      )
        return writeManifest(
          target,
          {
            ...manifest,
            version: stored.version + 1,
            previous: { version: stored.version, key },
            retired: stored.retired,
          },
          signal,
        );
      // Another manifest of this version: the seal is someone else's; say so rather than overwrite.
      throw ApplicationFailure.create({
        type: 'SealConflict',
        nonRetryable: true,
        message: `${manifest.region} ${manifest.hour}: ${key} holds another seal (sealed at ${stored.sealedAt}, ${stored.total.count} events)`,
      });
    }
    return summaryOf(manifest, key);
  }

  /**
   * Reads sealed parts back (each checked against its SHA-256 and rows) and adds each ID to `digests` and
   * `seen`, refusing an ID read twice. With `shard`, only that shard's IDs are taken, and with `own` a row of
   * another shard is refused (a shard's own parts hold only its IDs). Any mismatch is a SealVerifyFailed.
   */
  async function readBack(
    label: string,
    target: ArchiveTargetRef,
    files: readonly SealedPart[],
    signal: AbortSignal,
    digests: HourDigests,
    seen: Set<string>,
    shard?: { index: number; of: number; own: boolean },
  ): Promise<void> {
    try {
      await forEachSealedFile(aws, target, files, signal, (rows, file) => {
        for (const r of rows) {
          if (shard && shardOf(r.id, shard.of) !== shard.index) {
            if (shard.own)
              throw new SealedFileMismatchError(`${file.key} holds event ${r.id} of another shard`);
            continue;
          }
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
        message: `${label}: ${err.message}`,
      });
    }
  }

  /**
   * Plans a sharded seal (patch `seal-shards`): finds the latest manifest, lists the hour in every bucket of
   * the region, and chooses the shard count from the hour's raw bytes (`seal.shardBytes` each, or the job's
   * `shards`). An hour sealed before is planned as its next version only when raw objects landed after it;
   * the shard count is sized by the whole hour there too, since each shard holds its share of the earlier
   * versions' IDs.
   */
  async function planSeal(input: SealHourJob): Promise<SealPlanResult> {
    const { region, hour, partRows = PART_ROWS } = input;
    if (
      input.shards !== undefined &&
      !(Number.isInteger(input.shards) && input.shards >= 1 && input.shards <= MAX_SHARDS)
    )
      throw ApplicationFailure.create({
        type: 'InvalidSealInput',
        nonRetryable: true,
        message: `shards must be an integer from 1 to ${MAX_SHARDS}, not ${input.shards}`,
      });
    const signal = fanOutSignal(1);
    const targets = targetsOf(region);
    const {
      objects,
      sealed: existing,
      unsealed: late,
    } = await readableHour(aws, targets, region, hour, signal);
    const bytesOf = (os: { bytes: number }[]) => os.reduce((n, o) => n + o.bytes, 0);
    if (existing && late.length === 0) return alreadySealed(existing);
    if (!existing && objects.length === 0) return { kind: 'empty' };
    // The hour's sources are those listed plus those the latest version holds: a retired raw object (deleted
    // after its seal verified) is still a source of the hour, and its events are in the sealed files.
    const keys = [...new Set([...(existing?.manifest.sources.keys ?? []), ...objects.map((o) => o.key)])];
    const keysSha256 = sourceKeysSha256(keys);
    const retiredBytes = existing?.manifest.retired ? bytesOf(existing.manifest.files) : 0;
    const sources = { count: keys.length, keysSha256, bytes: bytesOf(objects) + retiredBytes };
    const shards =
      input.shards ?? Math.min(MAX_SHARDS, Math.max(1, Math.ceil(sources.bytes / config.seal.shardBytes)));
    // The new parts (and the planned key list) go beside the earlier ones: one bucket holds the whole hour.
    const planTargets = existing ? [existing.target] : targets;
    const sourcesAt = await putSourceKeys(region, hour, keys, keysSha256, planTargets, signal);
    const base = {
      region,
      hour,
      shards,
      concurrency: config.seal.shardConcurrency,
      partRows,
      sources,
      sourcesAt,
      ...(config.seal.retainRawHours !== undefined && { retainRawHours: config.seal.retainRawHours }),
    };
    if (existing) {
      const { manifest: m, target, key } = existing;
      const plan: SealPlan = {
        ...base,
        version: m.version + 1,
        targets: planTargets,
        previous: { version: m.version, key, target },
        late: { sources: late.length, bytes: bytesOf(late) },
      };
      return { kind: 'plan', plan };
    }
    return { kind: 'plan', plan: { ...base, version: 1, targets } };
  }

  /** Writes the planned keys (conditional PUT of deterministic bytes: a retry finds its own object). */
  async function putSourceKeys(
    region: string,
    hour: string,
    keys: string[],
    keysSha256: string,
    targets: ArchiveTargetRef[],
    signal: AbortSignal,
  ): Promise<ArchiveTargetRef & { key: string }> {
    const key = sealSourcesKey(region, hour, keysSha256);
    const put = placement(targets, signal);
    await put(key, encodeSourceKeys(keys), SOURCES_CONTENT);
    return { ...put.chosen()!, key };
  }

  /**
   * The raw objects a shard or the commit of a planned seal reads: the planned keys (not the listing, which
   * may hold batches that landed since: the next version takes them) that no earlier version holds, each
   * with its copies as listed now. A planned key that is gone is a SealSourcesChanged, unless an earlier
   * version holds it (retired: its events are in the sealed files). Returns every planned key too.
   */
  async function plannedSources(
    plan: SealPlan & { sourcesAt: ArchiveTargetRef & { key: string } },
    sealedBefore: ReadonlySet<string>,
    signal: AbortSignal,
  ): Promise<{ keys: string[]; toRead: ArchiveObject[] }> {
    const body = await getObject(aws, plan.sourcesAt, plan.sourcesAt.key, signal);
    let keys: string[];
    try {
      keys = parseSourceKeys(body, plan.sources.keysSha256);
    } catch (err) {
      throw ApplicationFailure.create({
        type: 'SealVerifyFailed',
        nonRetryable: true,
        message: `${plan.region} ${plan.hour}: s3://${plan.sourcesAt.bucket}/${plan.sourcesAt.key}: ${(err as Error).message}`,
      });
    }
    const listed = new Map(
      (await listHourObjects(aws, targetsOf(plan.region), plan.region, plan.hour, signal)).map((o) => [
        o.key,
        o,
      ]),
    );
    const toRead: ArchiveObject[] = [];
    const gone: string[] = [];
    for (const key of keys) {
      if (sealedBefore.has(key)) continue;
      const o = listed.get(key);
      if (o) toRead.push(o);
      else gone.push(key);
    }
    if (gone.length > 0)
      throw ApplicationFailure.create({
        type: 'SealSourcesChanged',
        nonRetryable: true,
        message: `${plan.region} ${plan.hour}: ${gone.length} planned raw object(s) disappeared while sealing (${gone[0]})`,
      });
    return { keys, toRead };
  }

  /**
   * One shard of a planned seal: reads the hour's raw objects in key order (checked to be the planned ones),
   * keeps the events of its shard, first copy of each ID, and writes its parts. For a later version it first
   * reads its IDs of the earlier versions' parts, then only the late raw objects, and writes only IDs not
   * sealed yet. Memory: its share of the hour's IDs plus one part of rows. Idempotent like the unsharded
   * seal: its bytes depend only on the raw objects and the plan, and every PUT is conditional.
   */
  async function sealShard(input: { plan: SealPlan; shard: number }): Promise<SealShardDraft> {
    const { plan } = input;
    const shard = { index: input.shard, of: plan.shards };
    const label = `${plan.region} ${plan.hour} shard ${shard.index} of ${shard.of}`;
    const signal = fanOutSignal(READ_AHEAD);
    return withHeartbeat(() =>
      shardSlot(async () => {
        const { sourcesAt } = plan;
        // Plans made before the key list compare the listing as a whole (a batch landing fails the seal).
        const objects = sourcesAt ? undefined : await unchangedSources(plan, signal);
        const seen = new Set<string>();
        const digests = new HourDigests();
        let sealed = new Set<string>();
        let earlier: CountDigest | undefined;
        if (plan.previous) {
          const m = parseManifest(await getObject(aws, plan.previous.target, plan.previous.key, signal));
          await readBack(label, plan.previous.target, m.files, signal, digests, seen, {
            ...shard,
            own: false,
          });
          earlier = digests.totalSide();
          sealed = new Set(m.sources.keys);
        }
        const toRead = sourcesAt
          ? (await plannedSources({ ...plan, sourcesAt }, sealed, signal)).toRead
          : objects!.filter((o) => !sealed.has(o.key));
        const before = digests.count;
        const put = placement(plan.targets, signal);
        const at = {
          region: plan.region,
          hour: plan.hour,
          version: plan.version,
          partRows: plan.partRows,
          shard,
        };
        const written = await writeParts(toRead, seen, digests, at, put, signal);
        // A shard that wrote nothing names the first bucket of the plan; its empty list of parts is anywhere.
        const target = put.chosen() ?? plan.targets[0]!;
        return {
          shard: shard.index,
          bucket: target.bucket,
          bucketRegion: target.region,
          parts: written.parts,
          total: digests.totalSide(),
          minutes: digests.minutes(),
          eventsRead: written.eventsRead,
          added: digests.count - before,
          ...(earlier && { earlier }),
        };
      }),
    );
  }

  /**
   * Verifies one shard: reads its parts back (SHA-256, rows, each ID once and of this shard) and, for a
   * later version, its IDs of the earlier parts, and checks count and digests per hour and minute against
   * what the shard read from the raw objects.
   */
  async function verifySealShard(input: { plan: SealPlan; draft: SealShardDraft }): Promise<CountDigest> {
    const { plan, draft } = input;
    const shard = { index: draft.shard, of: plan.shards };
    const label = `${plan.region} ${plan.hour} shard ${shard.index} of ${shard.of}`;
    const signal = fanOutSignal(1);
    const fail = (message: string): never => {
      throw ApplicationFailure.create({
        type: 'SealVerifyFailed',
        nonRetryable: true,
        message: `${label}: ${message}`,
      });
    };
    return withHeartbeat(() =>
      shardSlot(async () => {
        const seen = new Set<string>();
        const digests = new HourDigests();
        if (plan.previous) {
          const m = parseManifest(await getObject(aws, plan.previous.target, plan.previous.key, signal));
          await readBack(label, plan.previous.target, m.files, signal, digests, seen, {
            ...shard,
            own: false,
          });
        }
        const before = digests.count;
        const target = { bucket: draft.bucket, region: draft.bucketRegion };
        await readBack(label, target, draft.parts, signal, digests, seen, { ...shard, own: true });
        const total = digests.totalSide();
        if (total.count !== draft.total.count || total.digest !== draft.total.digest)
          fail(
            `files hold ${total.count} events (${total.digest}), sources ${draft.total.count} (${draft.total.digest})`,
          );
        if (digests.count - before !== draft.added)
          fail(`its parts hold ${digests.count - before} events, it added ${draft.added}`);
        if (JSON.stringify(digests.minutes()) !== JSON.stringify(draft.minutes))
          fail('the per-minute digests of the files differ from the sources');
        return total;
      }),
    );
  }

  /**
   * Commits a sharded seal once every shard verified: combines the shards' counts and digests (disjoint
   * sets of IDs, so they add and XOR), checks the hour's raw objects are still the planned ones, and writes
   * the manifest listing every part (the earlier versions' first, then each shard's in shard order).
   */
  async function commitSeal(input: {
    plan: SealPlan;
    shards: SealShardDraft[];
    sealedAt: string;
    /** The hour's captured batches still pending (patch `seal-converge`), recorded in the manifest. */
    pending?: PendingCaptures;
  }): Promise<SealSummary> {
    const { plan, shards, sealedAt, pending } = input;
    const signal = fanOutSignal(1);
    const fail = (message: string): never => {
      throw ApplicationFailure.create({
        type: 'SealVerifyFailed',
        nonRetryable: true,
        message: `${plan.region} ${plan.hour}: ${message}`,
      });
    };
    if (shards.length !== plan.shards || shards.some((d, i) => d.shard !== i))
      fail(`shards ${shards.map((d) => d.shard).join(',')} are not the ${plan.shards} planned`);
    const written = shards.filter((d) => d.parts.length > 0);
    const target: ArchiveTargetRef = written[0]
      ? { bucket: written[0].bucket, region: written[0].bucketRegion }
      : plan.targets[0]!;
    if (written.some((d) => d.bucket !== target.bucket))
      fail(`the shards wrote to several buckets: ${[...new Set(written.map((d) => d.bucket))].join(', ')}`);
    const { total, minutes } = combineDigests(shards);
    const eventsRead = shards.reduce((n, d) => n + d.eventsRead, 0);
    const added = shards.reduce((n, d) => n + d.added, 0);
    const m =
      plan.previous && parseManifest(await getObject(aws, plan.previous.target, plan.previous.key, signal));
    if (m) {
      const earlier = combineDigests(
        shards.map((d) => ({ total: d.earlier ?? fail('a shard has no earlier IDs'), minutes: {} })),
      ).total;
      if (earlier.count !== m.total.count || earlier.digest !== m.total.digest)
        fail(
          `the files of version ${m.version} hold ${earlier.count} events (${earlier.digest}), its manifest ${m.total.count} (${m.total.digest})`,
        );
    }
    const { sourcesAt } = plan;
    const keys = sourcesAt
      ? (await plannedSources({ ...plan, sourcesAt }, new Set(m?.sources.keys), signal)).keys
      : (await unchangedSources(plan, signal)).map((o) => o.key);
    const manifest: SealManifest = {
      format: SEAL_FORMAT,
      version: plan.version,
      region: plan.region,
      hour: plan.hour,
      bucket: target.bucket,
      files: [...(m?.files ?? []), ...shards.flatMap((d) => d.parts)],
      total,
      minutes,
      sources: { count: plan.sources.count, keysSha256: plan.sources.keysSha256, keys },
      eventsRead: (m?.eventsRead ?? 0) + eventsRead,
      duplicatesDropped: (m?.duplicatesDropped ?? 0) + eventsRead - added,
      writer: { ...SEAL_WRITER },
      sealedAt,
      ...(m && {
        previous: { version: m.version, key: plan.previous!.key },
        delta: { sources: plan.late?.sources ?? 0, eventsRead, added },
      }),
      ...(pending && { pending }),
      // Raw objects retired stay retired: every later version says so.
      ...(m?.retired && { retired: m.retired }),
    };
    return writeManifest(target, manifest, signal);
  }

  return {
    sealHourParts,
    verifySealedHour,
    planSeal,
    sealShard,
    verifySealShard,
    commitSeal,
    retireRaw: createRetireRaw({ config, aws, readBack, writeManifest }),
  };
}

/** Runs at most `n` calls of `work` at once; the others wait their turn, in order. */
function slots(n: number): <T>(work: () => Promise<T>) => Promise<T> {
  let free = n;
  const waiting: (() => void)[] = [];
  return async (work) => {
    if (free > 0) free--;
    else await new Promise<void>((resolve) => waiting.push(resolve));
    try {
      return await work();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else free++;
    }
  };
}

const byKey = (a: { key: string }, b: { key: string }): number =>
  a.key < b.key ? -1 : a.key > b.key ? 1 : 0;

/** Two manifests of the same hour and version that differ at most in when they were sealed. */
const sameSeal = (a: SealManifest, b: SealManifest): boolean => {
  // What two seals of the same sources may see differently: the time, and captures still on their way.
  const plain = (m: SealManifest) => JSON.stringify({ ...m, sealedAt: '', pending: undefined });
  return plain(a) === plain(b);
};
