import { createHash } from 'node:crypto';
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3ServiceException,
} from '@aws-sdk/client-s3';
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { AwsClients } from '../../aws/clients';
import type { ArchiveTargetRef } from '../../shared/regions';
import { META } from '../archive/encodeBatch';

const notFound = (err: unknown): boolean => (err as S3ServiceException).$metadata?.httpStatusCode === 404;

/**
 * Copies a region's archive objects from the buckets that stood in for its home back to the home bucket, under
 * the same key and metadata. Each body is checked against its stored SHA-256 before the write, and the write
 * carries that checksum; an object already at home with the same SHA-256 is skipped, so a retry repeats nothing.
 */
export function createRehome(aws: AwsClients) {
  return async function rehomeObjects(input: {
    region: string;
    sources: ArchiveTargetRef[];
    home: ArchiveTargetRef;
  }): Promise<{ copied: number; alreadyPresent: number }> {
    const ctx = Context.current();
    const opts = { abortSignal: ctx.cancellationSignal };
    const home = aws.s3(input.home.region);
    const result = { copied: 0, alreadyPresent: 0 };
    for (const source of input.sources) {
      const s3 = aws.s3(source.region);
      let token: string | undefined;
      do {
        const page = await s3.send(
          new ListObjectsV2Command({
            Bucket: source.bucket,
            Prefix: `events/v1/region=${input.region}/`,
            ContinuationToken: token,
          }),
          opts,
        );
        for (const obj of page.Contents ?? []) {
          ctx.heartbeat(result);
          const Key = obj.Key!;
          const got = await s3.send(new GetObjectCommand({ Bucket: source.bucket, Key }), opts);
          const body = Buffer.from(await got.Body!.transformToByteArray());
          const sha = createHash('sha256').update(body).digest();
          const stored = got.Metadata?.[META.sha256];
          if (stored !== sha.toString('hex'))
            throw ApplicationFailure.create({
              type: 'ChecksumMismatch',
              nonRetryable: true,
              message: `s3://${source.bucket}/${Key} has SHA-256 ${sha.toString('hex')}, its metadata says ${stored}`,
            });
          try {
            const there = await home.send(new HeadObjectCommand({ Bucket: input.home.bucket, Key }), opts);
            if (there.Metadata?.[META.sha256] === stored) {
              result.alreadyPresent++;
              continue;
            }
            throw ApplicationFailure.create({
              type: 'ArchiveConflict',
              nonRetryable: true,
              message: `s3://${input.home.bucket}/${Key} exists with different content than s3://${source.bucket}/${Key}`,
            });
          } catch (err) {
            if (!notFound(err)) throw err;
          }
          await home.send(
            new PutObjectCommand({
              Bucket: input.home.bucket,
              Key,
              Body: body,
              ContentType: got.ContentType ?? 'application/x-ndjson',
              ContentEncoding: got.ContentEncoding,
              ChecksumSHA256: sha.toString('base64'),
              IfNoneMatch: '*',
              Metadata: got.Metadata,
            }),
            opts,
          );
          result.copied++;
        }
        token = page.NextContinuationToken;
      } while (token);
    }
    return result;
  };
}
