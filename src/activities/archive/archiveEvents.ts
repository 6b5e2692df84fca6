import { HeadObjectCommand, PutObjectCommand, type S3ServiceException } from '@aws-sdk/client-s3';
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { AwsClients } from '../../aws/clients';
import { withHeartbeat } from '../heartbeat';
import { archiveKey, type ArchiveBatchInput, type ArchivedObject } from '../../shared/batch';
import type { ArchiveTargetRef } from '../../shared/regions';
import { BucketBreakers, isOpenCircuit } from './breakers';
import { encodeBatch, META, type EncodedBatch } from './encodeBatch';
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
  async function putTo(target: ArchiveTargetRef, key: string, input: ArchiveBatchInput, enc: EncodedBatch) {
    const s3 = aws.s3(target.region);
    const signal = Context.current().cancellationSignal;
    try {
      await s3.send(
        new PutObjectCommand({
          Bucket: target.bucket,
          Key: key,
          Body: enc.body,
          ContentType: 'application/x-ndjson',
          ContentEncoding: 'gzip',
          ChecksumSHA256: enc.sha256Base64,
          IfNoneMatch: '*',
          Metadata: {
            [META.batchId]: input.batchId,
            [META.region]: input.region,
            [META.count]: String(enc.count),
            [META.digest]: enc.digest,
            [META.sha256]: enc.sha256Hex,
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
      if (head.Metadata?.[META.sha256] === enc.sha256Hex) return true;
      throw ApplicationFailure.create({
        type: 'ArchiveConflict',
        nonRetryable: true,
        message: `s3://${target.bucket}/${key} exists with different content: batch ID ${input.batchId} was reused`,
        details: [{ bucket: target.bucket, key, storedSha256: head.Metadata?.[META.sha256] ?? null }],
      });
    }
  }

  return {
    archiveEvents(input: ArchiveBatchInput): Promise<ArchivedObject> {
      return withHeartbeat(() => archive(input));
    },
  };

  async function archive(input: ArchiveBatchInput): Promise<ArchivedObject> {
    const key = archiveKey(input.region, input.hour, input.batchId);
    const enc = encodeBatch(input.events);
    const skipped: ArchivedObject['skipped'] = [];
    for (const target of await targets.targetsFor(input.region)) {
      try {
        const alreadyPresent = await breakers.run(target.bucket, () => putTo(target, key, input, enc));
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
      message: `no archive bucket of ${input.region} took batch ${input.batchId}: ${skipped
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
