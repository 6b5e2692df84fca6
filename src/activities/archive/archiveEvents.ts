import { HeadObjectCommand, PutObjectCommand, type S3ServiceException } from '@aws-sdk/client-s3';
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { AwsClients } from '../../aws/clients';
import { withHeartbeat } from '../heartbeat';
import { archiveKey, type ArchivedObject, type BatchManifest } from '../../shared/batch';
import type { ArchiveTargetRef } from '../../shared/regions';
import { BucketBreakers, isOpenCircuit } from './breakers';
import { META, sha256Hex } from './encodeBatch';
import type { ArchiveTargetSource } from './targets';

const statusOf = (err: unknown): number | undefined => (err as S3ServiceException).$metadata?.httpStatusCode;
const isPreconditionFailed = (err: unknown): boolean => statusOf(err) === 412;

export interface ArchiveDeps {
  aws: AwsClients;
  targets: ArchiveTargetSource;
  breakers: BucketBreakers;
}

/**
 * Archives a batch as one object in the first bucket of its region's list that takes it. The PUT is
 * conditional (If-None-Match: *) and carries a SHA-256 checksum; a 412 whose stored checksum matches is our
 * own earlier PUT whose answer was lost, so it counts as done rather than as a second copy.
 */
export function createArchiveActivities({ aws, targets, breakers }: ArchiveDeps) {
  async function putTo(target: ArchiveTargetRef, key: string, batch: BatchManifest, body: Uint8Array) {
    const s3 = aws.s3(target.region);
    const signal = Context.current().cancellationSignal;
    try {
      await s3.send(
        new PutObjectCommand({
          Bucket: target.bucket,
          Key: key,
          Body: body,
          ContentType: 'application/x-ndjson',
          ContentEncoding: 'gzip',
          ChecksumSHA256: Buffer.from(batch.sha256, 'hex').toString('base64'),
          IfNoneMatch: '*',
          Metadata: {
            [META.batchId]: batch.batchId,
            [META.region]: batch.region,
            [META.count]: String(batch.count),
            [META.digest]: batch.digest,
            [META.sha256]: batch.sha256,
          },
        }),
        { abortSignal: signal },
      );
      return false;
    } catch (err) {
      if (!isPreconditionFailed(err)) throw err;
      const head = await s3.send(new HeadObjectCommand({ Bucket: target.bucket, Key: key }), {
        abortSignal: signal,
      });
      if (head.Metadata?.[META.sha256] === batch.sha256) return true;
      throw ApplicationFailure.create({
        type: 'ArchiveConflict',
        nonRetryable: true,
        message: `s3://${target.bucket}/${key} exists with different content: batch ID ${batch.batchId} was reused`,
        details: [{ bucket: target.bucket, key, storedSha256: head.Metadata?.[META.sha256] ?? null }],
      });
    }
  }

  return {
    /** Archives a batch's object (made at hand-over) with its manifest as metadata. */
    archiveEvents(batch: BatchManifest, body: Uint8Array): Promise<ArchivedObject> {
      return withHeartbeat(() => archive(batch, body));
    },
  };

  async function archive(batch: BatchManifest, body: Uint8Array): Promise<ArchivedObject> {
    // Bytes that changed on their way through history would be archived as truth: refuse them instead.
    if (sha256Hex(body) !== batch.sha256) {
      throw ApplicationFailure.create({
        type: 'CorruptBatch',
        nonRetryable: true,
        message: `batch ${batch.batchId}: its object does not match the SHA-256 of its manifest`,
      });
    }
    const key = archiveKey(batch.region, batch.hour, batch.batchId);
    const skipped: ArchivedObject['skipped'] = [];
    for (const target of await targets.targetsFor(batch.region)) {
      try {
        const alreadyPresent = await breakers.run(target.bucket, () => putTo(target, key, batch, body));
        return { bucket: target.bucket, bucketRegion: target.region, key, alreadyPresent, skipped };
      } catch (err) {
        if (err instanceof ApplicationFailure || Context.current().cancellationSignal.aborted) throw err;
        const reason = isOpenCircuit(err) ? 'circuit open' : describe(err);
        skipped.push({ bucket: target.bucket, reason });
        Context.current().log.warn('archive target refused the batch', { bucket: target.bucket, reason });
      }
    }
    throw ApplicationFailure.create({
      type: 'NoArchiveTarget',
      message: `no archive bucket of ${batch.region} took batch ${batch.batchId}: ${skipped
        .map((s) => `${s.bucket} (${s.reason})`)
        .join('; ')}`,
      details: skipped,
    });
  }
}

/** A conflict is about the batch, not the bucket's health, so it never opens the breaker. */
export function archiveBreakers(): BucketBreakers {
  return new BucketBreakers(undefined, (err) => err instanceof ApplicationFailure);
}

function describe(err: unknown): string {
  const e = err as Error & { $metadata?: { httpStatusCode?: number } };
  const status = e.$metadata?.httpStatusCode;
  return `${e.name}${status ? ` (HTTP ${status})` : ''}: ${e.message}`;
}
