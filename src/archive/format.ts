import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { gunzip, gunzipSync, gzip } from 'node:zlib';
import type { BatchManifest } from '../shared/batch';
import { trackingEventSchema, type TrackingEvent } from '../shared/event';
import { IdDigest } from './idDigest';

/**
 * The raw archive format, owned here and nowhere else: one gzip NDJSON object per batch, under a
 * Hive-partitioned key that is the same in every bucket, with the batch's manifest as user metadata. Every
 * writer (fast path, capture workflow, re-homing) and every reader (reconciliation, drill, codec server, tests,
 * benchmarks) goes through this module.
 */

/** The Hive partition prefix of a region's hour (`2026-11-28T05:00:00.000Z` → …/dt=2026-11-28/hour=05/). */
export function hourPrefix(region: string, hour: string): string {
  return `events/v1/region=${region}/dt=${hour.slice(0, 10)}/hour=${hour.slice(11, 13)}/`;
}

/** The key of a batch's archive object, the same in every bucket. */
export const archiveKey = (region: string, hour: string, batchId: string): string =>
  `${hourPrefix(region, hour)}${batchId}.ndjson.gz`;

/** Prefix of every archive object of a region, over all hours. */
export const regionPrefix = (region: string): string => `events/v1/region=${region}/`;

/** User metadata keys (S3 stores them as x-amz-meta-*): the manifest reconciliation reads without the body. */
export const META = {
  batchId: 'stormproof-batch-id',
  count: 'stormproof-count',
  digest: 'stormproof-id-digest',
  sha256: 'stormproof-sha256',
  region: 'stormproof-region',
} as const;

export const CONTENT_TYPE = 'application/x-ndjson';
export const CONTENT_ENCODING = 'gzip';

/** The object's user metadata for a manifest. */
export function manifestMetadata(m: BatchManifest): Record<string, string> {
  return {
    [META.batchId]: m.batchId,
    [META.region]: m.region,
    [META.count]: String(m.count),
    [META.digest]: m.digest,
    [META.sha256]: m.sha256,
  };
}

/** What reconciliation needs of a manifest, read back from an object's metadata; undefined when not valid. */
export function countAndDigestOf(
  metadata: Record<string, string> | undefined,
): { count: number; digest: string } | undefined {
  const count = Number(metadata?.[META.count]);
  const digest = metadata?.[META.digest] ?? '';
  if (!Number.isInteger(count) || count < 0 || !/^[0-9a-f]{32}$/.test(digest)) return undefined;
  return { count, digest };
}

export interface EncodedBatch {
  body: Buffer;
  /** SHA-256 of the body, hex: in metadata, to recognise our own object. */
  sha256Hex: string;
  count: number;
  digest: string;
}

/**
 * One gzip NDJSON object per batch. The bytes depend only on the events (Node's gzip writes no timestamp),
 * so every attempt for a batch produces the same object and a landed-but-unacknowledged PUT is recognisable.
 */
export function encodeBatch(events: readonly TrackingEvent[]): Promise<EncodedBatch> {
  return encodeLines(
    { lines: events.map((e) => JSON.stringify(e)) },
    events.map((e) => e.id),
  );
}

/**
 * An archive object's lines as a writer holds them: each event's JSON text and, where `lineEnds` has one,
 * what closes that line instead of its final `}` (fields serialised once and appended to many lines: the
 * ingest's cap judgement). `bytes`: the lines' UTF-8 length without newlines, when the caller counted it.
 */
export interface HeldLines {
  lines: readonly string[];
  lineEnds?: readonly (Uint8Array | undefined)[];
  bytes?: number;
}

/**
 * `encodeBatch` from each event's JSON text and ID, for a caller that serialised the events already (the
 * ingest keeps only these while a batch fills: the parsed events would be most of its memory).
 */
export async function encodeLines(held: HeldLines, ids: readonly string[]): Promise<EncodedBatch> {
  const ndjson = ndjsonOf(held);
  // In libuv's thread pool: the ingest's event loop keeps answering while a batch compresses.
  // Level 3, zlib's best fast level: a quarter of level 6's CPU (0.3 against 1.3 µs per event of the bench's
  // shape), on the ingest's cores for every event, for objects 17% larger (docs/benchmarks.md).
  const body = await gzipAsync(ndjson, { level: GZIP_LEVEL });
  return { body, sha256Hex: sha256Hex(body), count: ids.length, digest: IdDigest.of(ids).toHex() };
}

/**
 * The NDJSON body, each line written straight into one buffer: joining the lines into a string and encoding
 * that cost more than twice as much (0.6-0.77 against 0.25-0.33 µs per event of the bench's shape), and a
 * line closed by a `lineEnd` is never built as a string at all.
 */
export function ndjsonOf({ lines, lineEnds, bytes }: HeldLines): Buffer {
  let size = lines.length;
  if (bytes !== undefined) size += bytes;
  else
    for (let i = 0; i < lines.length; i++) {
      const end = lineEnds?.[i];
      size += Buffer.byteLength(lines[i]!) + (end === undefined ? 0 : end.length - 1);
    }
  const body = Buffer.allocUnsafe(size);
  let at = 0;
  for (let i = 0; i < lines.length; i++) {
    at += body.write(lines[i]!, at);
    const end = lineEnds?.[i];
    if (end !== undefined) {
      // A copy past the end would throw a RangeError that names no cause.
      if (at - 1 + end.length > size) throw miscounted(size, `${at - 1 + end.length} or more`);
      // Over the line's `}`.
      body.set(end, at - 1);
      at += end.length - 1;
    }
    body[at++] = 0x0a;
  }
  // A miscounted `bytes` would truncate a line (write stops at the end) or leave bytes unwritten: refused,
  // never archived.
  if (at !== size) throw miscounted(size, at);
  return body;
}

const miscounted = (size: number, written: number | string): Error =>
  new Error(`archive lines counted as ${size} bytes, written as ${written}`);

const gzipAsync = promisify(gzip);
const GZIP_LEVEL = 3;
const gunzipAsync = promisify(gunzip);

/** SHA-256 of an archive object, hex. */
export const sha256Hex = (body: Uint8Array): string => createHash('sha256').update(body).digest('hex');

/** The base64 form S3's ChecksumSHA256 takes, from the hex of the manifest. */
export const sha256Base64 = (hex: string): string => Buffer.from(hex, 'hex').toString('base64');

/**
 * The lines of an archive object (one event's JSON text each), neither parsed nor validated again: for
 * handing a batch that was validated at ingest on to the stats API (which validates on its side). Readers
 * of the archive use decodeBatch.
 */
export async function readBatchLines(body: Uint8Array, maxOutputLength?: number): Promise<string[]> {
  const text = (await gunzipAsync(body, { maxOutputLength })).toString('utf8');
  return text.split('\n').filter((l) => l.length > 0);
}

/** A batch ready to archive: its manifest and its archive object, made once. */
export async function prepareBatch(
  batch: { batchId: string; region: string; hour: string } & (
    { events: readonly TrackingEvent[] } | (HeldLines & { ids: readonly string[] })
  ),
): Promise<{ manifest: BatchManifest; body: Buffer }> {
  const enc = await ('events' in batch ? encodeBatch(batch.events) : encodeLines(batch, batch.ids));
  const manifest: BatchManifest = {
    batchId: batch.batchId,
    region: batch.region,
    hour: batch.hour,
    count: enc.count,
    digest: enc.digest,
    sha256: enc.sha256Hex,
    acceptedAt: new Date().toISOString(),
  };
  return { manifest, body: enc.body };
}

/**
 * A batch's ID follows from its content (hour and event IDs), so the same batch made twice has one key:
 * archived twice it is one object (the second conditional PUT finds the first), captured twice one workflow.
 */
export function batchIdOf(hour: string, events: readonly TrackingEvent[]): string {
  return batchIdOfIds(
    hour,
    events.map((e) => e.id),
  );
}

/** How every batch ID of an hour begins (`YYYYMMDDHH`): batches of an hour can be found by prefix. */
export const batchIdHour = (hour: string): string => hour.slice(0, 13).replace(/[-T]/g, '');

/** `batchIdOf` from the events' IDs, in the batch's order. */
export function batchIdOfIds(hour: string, ids: readonly string[]): string {
  const hash = createHash('sha256');
  for (const id of ids) hash.update(id).update('\n');
  return `${batchIdHour(hour)}-${hash.digest('hex').slice(0, 20)}`;
}

const ID_START = '{"id":"';

/** The ID of a line that starts `{"id":"<id without escapes>"`, as every writer of the archive serialises. */
function leadingId(line: string): string | undefined {
  if (!line.startsWith(ID_START)) return undefined;
  const end = line.indexOf('"', ID_START.length);
  const id = line.slice(ID_START.length, end);
  // Without a backslash the text between the quotes is the string itself; otherwise JSON.parse decides.
  return end > ID_START.length && !id.includes('\\') ? id : undefined;
}

/**
 * Reads an archive object back. A corrupt object (bad gzip, a line that is not a valid event) throws an
 * error naming the line, so a reader can report the object by key and go on with the rest. `keep` (a seal's
 * shard) returns only the events whose ID it accepts.
 */
export function decodeBatch(body: Uint8Array, keep?: (id: string) => boolean): TrackingEvent[] {
  let text: string;
  try {
    text = gunzipSync(body).toString('utf8');
  } catch (err) {
    throw new Error(`not a gzip object: ${(err as Error).message}`, { cause: err });
  }
  const lines = text.split('\n').filter((l) => l.length > 0);
  const events: TrackingEvent[] = [];
  lines.forEach((line, i) => {
    // A seal's shard parses and validates only its own events (most of the cost): the ID is read from the
    // line's start as the writers serialise it. So every line is checked by exactly one shard, its owner,
    // or by all of them when its ID cannot be read that way.
    const leading = keep ? leadingId(line) : undefined;
    if (keep && leading !== undefined && !keep(leading)) return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch (err) {
      throw new Error(`line ${i + 1}: invalid JSON: ${(err as Error).message}`, { cause: err });
    }
    const id = (parsed as { id?: unknown } | null)?.id;
    // A repeated "id" key parses to the last one: another shard skipped this line by the first.
    if (leading !== undefined && id !== leading) throw new Error(`line ${i + 1}: id: two different IDs`);
    if (keep && typeof id === 'string' && !keep(id)) return;
    const event = trackingEventSchema.safeParse(parsed);
    if (!event.success) {
      const issue = event.error.issues[0]!;
      throw new Error(`line ${i + 1}: ${issue.path.join('.') || '(record)'}: ${issue.message}`);
    }
    events.push(event.data);
  });
  return events;
}
