import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { gunzip, gunzipSync, gzip } from 'node:zlib';
import type { BatchManifest } from '../../shared/batch';
import { trackingEventSchema, type TrackingEvent } from '../../shared/event';
import { IdDigest } from '../../shared/idDigest';

export interface EncodedBatch {
  body: Buffer;
  /** SHA-256 of the body: base64 for S3's integrity check, hex in metadata to recognise our own object. */
  sha256Base64: string;
  sha256Hex: string;
  count: number;
  digest: string;
}

/**
 * One gzip NDJSON object per batch. The bytes depend only on the events (Node's gzip writes no timestamp),
 * so every attempt for a batch produces the same object and a landed-but-unacknowledged PUT is recognisable.
 */
export async function encodeBatch(
  events: readonly TrackingEvent[],
  /** Each event's JSON text, when the caller has it already. */
  lines: readonly string[] = events.map((e) => JSON.stringify(e)),
): Promise<EncodedBatch> {
  const ndjson = lines.join('\n') + '\n';
  // In libuv's thread pool: the ingest's event loop keeps answering while a batch compresses.
  const body = await gzipAsync(ndjson, { level: 6 });
  const hash = createHash('sha256').update(body).digest();
  return {
    body,
    sha256Base64: hash.toString('base64'),
    sha256Hex: hash.toString('hex'),
    count: events.length,
    digest: IdDigest.of(events.map((e) => e.id)).toHex(),
  };
}

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

/** SHA-256 of an archive object, hex. */
export const sha256Hex = (body: Uint8Array): string => createHash('sha256').update(body).digest('hex');

/**
 * The lines of an archive object (one event's JSON text each), neither parsed nor validated again: for
 * handing a batch that was validated at ingest on to the stats API (which validates on its side). Readers
 * of the archive use decodeBatch.
 */
export async function readBatchLines(body: Uint8Array): Promise<string[]> {
  const text = (await gunzipAsync(body)).toString('utf8');
  return text.split('\n').filter((l) => l.length > 0);
}

/** User metadata keys (S3 stores them as x-amz-meta-*): the manifest reconciliation reads without the body. */
export const META = {
  batchId: 'stormproof-batch-id',
  count: 'stormproof-count',
  digest: 'stormproof-id-digest',
  sha256: 'stormproof-sha256',
  region: 'stormproof-region',
} as const;

/** A batch ready to hand over: its manifest and its archive object, made once (see shared/batch). */
export async function prepareBatch(batch: {
  batchId: string;
  region: string;
  hour: string;
  events: TrackingEvent[];
  lines?: string[];
}): Promise<{ manifest: BatchManifest; body: Buffer }> {
  const enc = await encodeBatch(batch.events, batch.lines);
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
 * Reads an archive object back. A corrupt object (bad gzip, a line that is not a valid event) throws an
 * error naming the line, so a reader can report the object by key and go on with the rest.
 */
export function decodeBatch(body: Uint8Array): TrackingEvent[] {
  let text: string;
  try {
    text = gunzipSync(body).toString('utf8');
  } catch (err) {
    throw new Error(`not a gzip object: ${(err as Error).message}`, { cause: err });
  }
  const lines = text.split('\n').filter((l) => l.length > 0);
  return lines.map((line, i) => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch (err) {
      throw new Error(`line ${i + 1}: invalid JSON: ${(err as Error).message}`, { cause: err });
    }
    const event = trackingEventSchema.safeParse(parsed);
    if (!event.success) {
      const issue = event.error.issues[0]!;
      throw new Error(`line ${i + 1}: ${issue.path.join('.') || '(record)'}: ${issue.message}`);
    }
    return event.data;
  });
}
