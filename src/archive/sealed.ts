import { hash } from 'node:crypto';
import { parquetMetadata, parquetReadObjects } from 'hyparquet';
import { parquetWriteBuffer, type ColumnSource } from 'hyparquet-writer';
import type { AwsClients } from '../aws/clients';
import type { TrackingEvent } from '../shared/event';
import type { ArchiveTargetRef } from '../shared/regions';
import { SEAL_FORMAT, type CountDigest, type SealedPart, type SealManifest } from '../shared/seal';
import { META, sha256Hex } from './format';
import { IdDigest } from './idDigest';
import { getObject, listKeys } from './reader';

/**
 * The sealed hour's format, owned here like the raw format in format.ts: an hour's events exactly once, as
 * Parquet files plus a JSON manifest, under a Hive-partitioned prefix that DuckDB, Athena and Spark read
 * without any stormproof code:
 *
 *   sealed/v1/region=<region>/dt=<YYYY-MM-DD>/hour=<HH>/part-<version>-<sss>of<NNN>-<nnnnn>.parquet
 *   sealed/v1/region=<region>/dt=<YYYY-MM-DD>/hour=<HH>/manifest-<version>.json   (written last)
 *
 * A version is written by N shards (`shardOf`: each event ID belongs to exactly one), shard s writing the
 * parts `part-<version>-<s>of<N>-*`. Seals made before sharding wrote `part-<version>-<nnnnn>.parquet`;
 * readers never parse part keys, they take them from the manifest.
 *
 * Readers follow the latest manifest; a part no manifest lists is not part of the archive. Version 1 seals
 * the hour; each later version (late events) adds parts holding only IDs no earlier version holds, and its
 * manifest lists every part of the hour, so the parts of all versions together hold each ID once.
 */

/** The writer the bytes come from; recorded in every manifest and in each file's created_by. */
export const SEAL_WRITER = { name: 'hyparquet-writer', version: '0.17.0' } as const;

/**
 * Rows per Parquet file (one row group each): bounds the memory of the file being built. 50,000 rows of the
 * project's events build in ~50 MB of heap (docs/benchmarks.md), well inside the worker's 256 MB old space.
 */
export const PART_ROWS = 50_000;

export const PARQUET_CONTENT = { type: 'application/vnd.apache.parquet' } as const;
export const MANIFEST_CONTENT = { type: 'application/json' } as const;

/** Every sealed hour of a region: Parquet parts and manifests, Hive-partitioned below. */
export const sealedRegionPrefix = (region: string): string => `sealed/v1/region=${region}/`;

export const sealedHourPrefix = (region: string, hour: string): string =>
  `${sealedRegionPrefix(region)}dt=${hour.slice(0, 10)}/hour=${hour.slice(11, 13)}/`;

/** A seal's manifest (readers follow these), as opposed to its Parquet parts. */
export const isSealManifestKey = (key: string): boolean => /\/manifest-\d+\.json$/.test(key);

export const sealedPartKey = (region: string, hour: string, version: number, n: number): string =>
  `${sealedHourPrefix(region, hour)}part-${version}-${String(n).padStart(5, '0')}.parquet`;

export const sealedShardPartKey = (
  region: string,
  hour: string,
  version: number,
  shard: { index: number; of: number },
  n: number,
): string => {
  const pad = (x: number, w: number) => String(x).padStart(w, '0');
  return `${sealedHourPrefix(region, hour)}part-${version}-${pad(shard.index, 3)}of${pad(shard.of, 3)}-${pad(n, 5)}.parquet`;
};

/**
 * The most shards a version is split into: each shard's draft (parts, per-minute digests) goes into the
 * commit's input, which must stay well inside Temporal's 2 MiB payload limit.
 */
export const MAX_SHARDS = 256;

/**
 * The shard of an event ID among `shards`: the first 32 bits of its SHA-256, modulo. A pure function of the
 * ID, so every shard of every worker puts each ID in exactly one shard, and a late version's shard finds its
 * IDs in the earlier parts whatever the earlier version's shard count.
 */
export function shardOf(id: string, shards: number): number {
  if (shards === 1) return 0;
  return hash('sha256', id, 'buffer').readUInt32BE(0) % shards;
}

export const sealManifestKey = (region: string, hour: string, version: number): string =>
  `${sealedHourPrefix(region, hour)}manifest-${version}.json`;

/** The minute of an event in the manifest's per-minute digests: `HH:MM` of its timestamp in UTC. */
export const minuteOf = (timestamp: string): string =>
  new Date(Date.parse(timestamp)).toISOString().slice(11, 16);

/**
 * One Parquet file of sealed events. Every field of the event is a column of its own; `timestamp` keeps the
 * exact text that was archived (an offset such as +02:00 included), and `eventTime` is the same instant as a
 * Parquet TIMESTAMP (UTC, milliseconds) to filter and sort on. `attributes` is a JSON column (a string with
 * the JSON logical type): its values are strings, numbers, booleans or null, which a MAP<string,string>
 * would flatten to text, and DuckDB/Athena/Spark parse JSON columns natively. Snappy, the default every
 * engine reads. The bytes depend only on the rows, so a retried seal writes the same object.
 */
export function encodeSealedPart(events: readonly TrackingEvent[]): Uint8Array {
  const col = <T>(name: string, type: ColumnSource['type'], f: (e: TrackingEvent) => T): ColumnSource => ({
    name,
    type,
    nullable: false,
    data: events.map(f),
  });
  const optional = (name: string, f: (e: TrackingEvent) => string | undefined): ColumnSource => ({
    name,
    type: 'STRING',
    nullable: true,
    data: events.map((e) => f(e) ?? null),
  });
  const buffer = parquetWriteBuffer({
    columnData: [
      col('id', 'STRING', (e) => e.id),
      col('type', 'STRING', (e) => e.type),
      col('timestamp', 'STRING', (e) => e.timestamp),
      col('eventTime', 'TIMESTAMP', (e) => new Date(e.timestamp)),
      col('region', 'STRING', (e) => e.region),
      col('offerId', 'STRING', (e) => e.offerId),
      col('affiliateId', 'STRING', (e) => e.affiliateId),
      col('attributes', 'JSON', (e) => e.attributes),
      // The ingest's cap judgement (null when no cap covered the event); files sealed before caps lack them.
      optional('capStatus', (e) => e.capStatus),
      optional('capId', (e) => e.capId),
      optional('capHolder', (e) => e.capHolder),
    ],
    rowGroupSize: PART_ROWS,
    createdBy: `stormproof seal format ${SEAL_FORMAT} (${SEAL_WRITER.name} ${SEAL_WRITER.version})`,
  });
  return new Uint8Array(buffer);
}

/** What verification needs of a written file: its IDs and timestamps, read back with a Parquet reader. */
export async function readSealedIds(body: Uint8Array): Promise<{ id: string; timestamp: string }[]> {
  const file = body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength) as ArrayBuffer;
  const rows = await parquetReadObjects({ file, columns: ['id', 'timestamp'] });
  return rows.map((r) => ({ id: String(r.id), timestamp: String(r.timestamp) }));
}

/** Every event of a sealed file, every field as it was archived: what a reader replays from a seal. */
export async function readSealedEvents(body: Uint8Array): Promise<TrackingEvent[]> {
  const file = body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength) as ArrayBuffer;
  // Files sealed before caps have no cap columns: read the ones this file has.
  const present = new Set(parquetMetadata(file).schema.map((c) => c.name));
  const columns = [...EVENT_COLUMNS, ...CAP_COLUMNS.filter((c) => present.has(c))];
  const rows = await parquetReadObjects({ file, columns });
  return rows.map((r) => ({
    id: String(r.id),
    type: r.type as TrackingEvent['type'],
    timestamp: String(r.timestamp),
    region: String(r.region),
    offerId: String(r.offerId),
    affiliateId: String(r.affiliateId),
    // A JSON column: the reader parses it back to the object that was written.
    attributes: r.attributes as TrackingEvent['attributes'],
    ...capFieldsOf(r),
  }));
}

/** The columns that hold a TrackingEvent's fields (eventTime is derived from timestamp). */
const EVENT_COLUMNS = ['id', 'type', 'timestamp', 'region', 'offerId', 'affiliateId', 'attributes'] as const;
const CAP_COLUMNS = ['capStatus', 'capId', 'capHolder'] as const;

/** An event's cap fields from a row, only those set (an event no cap covered has none). */
function capFieldsOf(r: Record<string, unknown>): Partial<TrackingEvent> {
  const fields: Partial<TrackingEvent> = {};
  if (typeof r.capStatus === 'string') fields.capStatus = r.capStatus as TrackingEvent['capStatus'];
  if (typeof r.capId === 'string') fields.capId = r.capId;
  if (typeof r.capHolder === 'string') fields.capHolder = r.capHolder;
  return fields;
}

/** A sealed file that is not what its manifest or draft says (changed, truncated, another row count). */
export class SealedFileMismatchError extends Error {}

/**
 * Reads a seal's files back from its bucket, one at a time, each checked against its SHA-256 and rows, and
 * hands over each file's IDs and timestamps: what verification and a late-event version need of them.
 */
export async function forEachSealedFile(
  aws: AwsClients,
  target: ArchiveTargetRef,
  files: readonly SealedPart[],
  signal: AbortSignal,
  each: (rows: { id: string; timestamp: string }[], file: SealedPart) => void | Promise<void>,
): Promise<void> {
  for (const file of files) {
    const body = await getObject(aws, target, file.key, signal);
    if (sha256Hex(body) !== file.sha256)
      throw new SealedFileMismatchError(`${file.key} changed after it was written`);
    const rows = await readSealedIds(body);
    if (rows.length !== file.rows)
      throw new SealedFileMismatchError(`${file.key} holds ${rows.length} rows, wrote ${file.rows}`);
    await each(rows, file);
  }
}

/** Count and digest of an hour and of each of its minutes, built one ID at a time (each ID added once). */
export class HourDigests {
  readonly total = new IdDigest();
  count = 0;
  private readonly byMinute = new Map<string, { digest: IdDigest; count: number }>();

  add(id: string, timestamp: string): void {
    this.total.add(id);
    this.count++;
    const minute = minuteOf(timestamp);
    let m = this.byMinute.get(minute);
    if (!m) this.byMinute.set(minute, (m = { digest: new IdDigest(), count: 0 }));
    m.digest.add(id);
    m.count++;
  }

  totalSide(): CountDigest {
    return { count: this.count, digest: this.total.toHex() };
  }

  minutes(): Record<string, CountDigest> {
    const out: Record<string, CountDigest> = {};
    for (const k of [...this.byMinute.keys()].sort()) {
      const m = this.byMinute.get(k)!;
      out[k] = { count: m.count, digest: m.digest.toHex() };
    }
    return out;
  }
}

/**
 * The hour's count and digests from those of disjoint parts of it (the shards): counts add, and the digests
 * merge (XOR, order-independent), per hour and per minute; minutes sorted as HourDigests.minutes() sorts them.
 */
export function combineDigests(
  sides: readonly { total: CountDigest; minutes: Record<string, CountDigest> }[],
): { total: CountDigest; minutes: Record<string, CountDigest> } {
  const total = new IdDigest();
  let count = 0;
  const byMinute = new Map<string, { digest: IdDigest; count: number }>();
  for (const side of sides) {
    total.merge(side.total.digest);
    count += side.total.count;
    for (const [k, v] of Object.entries(side.minutes)) {
      let m = byMinute.get(k);
      if (!m) byMinute.set(k, (m = { digest: new IdDigest(), count: 0 }));
      m.digest.merge(v.digest);
      m.count += v.count;
    }
  }
  const minutes: Record<string, CountDigest> = {};
  for (const k of [...byMinute.keys()].sort()) {
    const m = byMinute.get(k)!;
    minutes[k] = { count: m.count, digest: m.digest.toHex() };
  }
  return { total: { count, digest: total.toHex() }, minutes };
}

/** The user metadata of a sealed object: the SHA-256 the conditional PUT compares a retry against. */
export const sealedMetadata = (key: string, body: Uint8Array): Record<string, string> => ({
  [META.batchId]: key,
  [META.sha256]: sha256Hex(body),
});

/** SHA-256 of the sorted source keys: names the set of raw objects a seal was made from, in a few bytes. */
export const sourceKeysSha256 = (keys: readonly string[]): string =>
  sha256Hex(Buffer.from([...keys].sort().join('\n'), 'utf8'));

export const encodeManifest = (m: SealManifest): Uint8Array =>
  Buffer.from(`${JSON.stringify(m, null, 2)}\n`, 'utf8');

export function parseManifest(body: Uint8Array): SealManifest {
  const m = JSON.parse(Buffer.from(body).toString('utf8')) as SealManifest;
  if (m.format !== SEAL_FORMAT || !Number.isInteger(m.version) || !Array.isArray(m.files)) {
    throw new Error(`not a stormproof seal manifest of format ${SEAL_FORMAT}`);
  }
  return m;
}

/** The latest manifest of a region's hour over the region's buckets (highest version), if any. */
export async function latestManifest(
  aws: AwsClients,
  targets: ArchiveTargetRef[],
  region: string,
  hour: string,
  signal: AbortSignal,
): Promise<{ target: ArchiveTargetRef; key: string; manifest: SealManifest } | undefined> {
  let best: { target: ArchiveTargetRef; key: string; version: number } | undefined;
  for await (const { target, key } of listKeys(
    aws,
    targets,
    `${sealedHourPrefix(region, hour)}manifest-`,
    signal,
  )) {
    const version = Number(/manifest-(\d+)\.json$/.exec(key)?.[1]);
    if (Number.isInteger(version) && (!best || version > best.version)) best = { target, key, version };
  }
  if (!best) return undefined;
  const body = await getObject(aws, best.target, best.key, signal);
  return { target: best.target, key: best.key, manifest: parseManifest(body) };
}

/**
 * The raw object keys a seal planned (sorted, one a line; the body's SHA-256 is their sourceKeysSha256), kept
 * outside `sealed/v1/` so that engines reading that prefix see only Parquet and manifests:
 *
 *   seal-sources/v1/region=<region>/dt=<YYYY-MM-DD>/hour=<HH>/<keysSha256>.txt
 *
 * Shards read exactly these, so a batch landing during the seal is left to the next version.
 */
export const sealSourcesKey = (region: string, hour: string, keysSha256: string): string =>
  `seal-sources/v1/region=${region}/dt=${hour.slice(0, 10)}/hour=${hour.slice(11, 13)}/${keysSha256}.txt`;

export const SOURCES_CONTENT = { type: 'text/plain' } as const;

export const encodeSourceKeys = (keys: readonly string[]): Uint8Array =>
  Buffer.from([...keys].sort().join('\n'), 'utf8');

/** The keys of a planned seal, checked against the SHA-256 the plan holds. */
export function parseSourceKeys(body: Uint8Array, keysSha256: string): string[] {
  if (sha256Hex(body) !== keysSha256) throw new SealedFileMismatchError('the planned source list changed');
  const text = Buffer.from(body).toString('utf8');
  return text === '' ? [] : text.split('\n');
}
