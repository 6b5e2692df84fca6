import { HeadObjectCommand, PutObjectCommand, type S3ServiceException } from '@aws-sdk/client-s3';
import type { AwsClients } from '../aws/clients';
import type { ArchivedObject, BatchManifest } from '../shared/batch';
import type { ArchiveTargetRef } from '../shared/regions';
import { BucketBreakers, isOpenCircuit } from './breakers';
import {
  archiveKey,
  CONTENT_ENCODING,
  CONTENT_TYPE,
  manifestMetadata,
  META,
  sha256Base64,
  sha256Hex,
} from './format';
import type { ArchiveTargetSource } from './targets';

/** The object's bytes do not match its manifest: archiving them would store corruption as truth. */
export class CorruptBatchError extends Error {
  override name = 'CorruptBatch';
}

/** The key holds an object with other content: the batch ID was reused. Permanent for this batch. */
export class ArchiveConflictError extends Error {
  override name = 'ArchiveConflict';
  constructor(
    message: string,
    readonly details: { bucket: string; key: string; storedSha256: string | null },
  ) {
    super(message);
  }
}

/** Every bucket of the region refused the batch (each with its reason); worth trying again later. */
export class NoArchiveTargetError extends Error {
  override name = 'NoArchiveTarget';
  constructor(
    message: string,
    readonly skipped: ArchivedObject['skipped'],
  ) {
    super(message);
  }
}

/** Errors that say something about the batch, not about the bucket's health. */
const isBatchError = (err: unknown): boolean =>
  err instanceof ArchiveConflictError || err instanceof CorruptBatchError;

/** One set per process: every archive call in it shares what it learned about each bucket's health. */
export const archiveBreakers = (): BucketBreakers => new BucketBreakers(undefined, isBatchError);

const isPreconditionFailed = (err: unknown): boolean =>
  (err as S3ServiceException).$metadata?.httpStatusCode === 412;

/** An object's Content-Type and Content-Encoding headers. */
export interface ObjectContent {
  type: string;
  encoding?: string;
}

const RAW_CONTENT: ObjectContent = { type: CONTENT_TYPE, encoding: CONTENT_ENCODING };

export interface ArchiveWriter {
  /**
   * Archives a batch's object in the first bucket of its region's order that takes it. Throws
   * CorruptBatchError, ArchiveConflictError (both permanent) or NoArchiveTargetError (every bucket refused).
   */
  archive(manifest: BatchManifest, body: Uint8Array, signal: AbortSignal): Promise<ArchivedObject>;
  /**
   * Writes an object under `key` in one bucket: conditional (If-None-Match: *), with its SHA-256 checksum and
   * its manifest as metadata. True when the same object was already there (an earlier PUT whose answer was
   * lost, a copy made before); ArchiveConflictError when another object is. `content` defaults to the raw
   * format's gzip NDJSON headers; the sealed hour's Parquet and manifest objects pass their own.
   */
  putObject(
    target: ArchiveTargetRef,
    key: string,
    metadata: Record<string, string>,
    body: Uint8Array,
    signal: AbortSignal,
    content?: ObjectContent,
  ): Promise<boolean>;
}

/** The one implementation of "write an archive object": the fast path, the capture workflow and re-homing. */
export function createArchiveWriter(deps: {
  aws: AwsClients;
  targets: ArchiveTargetSource;
  breakers: BucketBreakers;
  /** Told of every bucket that refused a batch (logs). */
  onSkip?: (bucket: string, reason: string) => void;
}): ArchiveWriter {
  const { aws, targets, breakers } = deps;

  async function putObject(
    target: ArchiveTargetRef,
    key: string,
    metadata: Record<string, string>,
    body: Uint8Array,
    signal: AbortSignal,
    content: ObjectContent = RAW_CONTENT,
  ): Promise<boolean> {
    const s3 = aws.s3(target.region);
    const sha256 = metadata[META.sha256];
    if (!sha256) throw new CorruptBatchError(`s3://${target.bucket}/${key}: no ${META.sha256} metadata`);
    try {
      await s3.send(
        new PutObjectCommand({
          Bucket: target.bucket,
          Key: key,
          Body: body,
          ContentType: content.type,
          ContentEncoding: content.encoding,
          ChecksumSHA256: sha256Base64(sha256),
          IfNoneMatch: '*',
          Metadata: metadata,
        }),
        { abortSignal: signal },
      );
      return false;
    } catch (err) {
      if (!isPreconditionFailed(err)) throw err;
      const head = await s3.send(new HeadObjectCommand({ Bucket: target.bucket, Key: key }), {
        abortSignal: signal,
      });
      const stored = head.Metadata?.[META.sha256];
      if (stored === sha256) return true;
      throw new ArchiveConflictError(
        `s3://${target.bucket}/${key} exists with different content: batch ID ${metadata[META.batchId]} was reused`,
        { bucket: target.bucket, key, storedSha256: stored ?? null },
      );
    }
  }

  return {
    putObject,
    async archive(manifest, body, signal) {
      // Bytes that changed on their way (through history, say) would be archived as truth: refuse them.
      if (sha256Hex(body) !== manifest.sha256) {
        throw new CorruptBatchError(
          `batch ${manifest.batchId}: its object does not match the SHA-256 of its manifest`,
        );
      }
      const key = archiveKey(manifest.region, manifest.hour, manifest.batchId);
      const metadata = manifestMetadata(manifest);
      const skipped: ArchivedObject['skipped'] = [];
      for (const target of await targets.targetsFor(manifest.region)) {
        try {
          const alreadyPresent = await breakers.run(target.bucket, () =>
            putObject(target, key, metadata, body, signal),
          );
          return { bucket: target.bucket, bucketRegion: target.region, key, alreadyPresent, skipped };
        } catch (err) {
          if (isBatchError(err) || signal.aborted) throw err;
          const reason = isOpenCircuit(err) ? 'circuit open' : describe(err);
          skipped.push({ bucket: target.bucket, reason });
          deps.onSkip?.(target.bucket, reason);
        }
      }
      throw new NoArchiveTargetError(
        `no archive bucket of ${manifest.region} took batch ${manifest.batchId}: ${skipped
          .map((s) => `${s.bucket} (${s.reason})`)
          .join('; ')}`,
        skipped,
      );
    },
  };
}

function describe(err: unknown): string {
  const e = err as Error & { $metadata?: { httpStatusCode?: number } };
  const status = e.$metadata?.httpStatusCode;
  return `${e.name}${status ? ` (HTTP ${status})` : ''}: ${e.message}`;
}
