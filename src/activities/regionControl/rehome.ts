import { createHash } from 'node:crypto';
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  type S3Client,
  type S3ServiceException,
  type _Object,
} from '@aws-sdk/client-s3';
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { AwsClients } from '../../aws/clients';
import type { ArchiveTargetRef } from '../../shared/regions';
import { mapLimit } from '../../shared/mapLimit';
import { fanOutSignal } from '../fanOutSignal';
import { META, regionPrefix } from '../../archive/format';
import { isSealManifestKey, sealedRegionPrefix } from '../../archive/sealed';
import type { ArchiveWriter } from '../../archive/writer';
import { asFailure } from '../archive/archiveEvents';

/** Objects copied at once: S3 serves many requests in parallel, one at a time a long outage takes hours. */
const COPY_CONCURRENCY = 16;

const notFound = (err: unknown): boolean => (err as S3ServiceException).$metadata?.httpStatusCode === 404;

/**
 * Copies a region's archive objects written since a time from the buckets that stood in for its home back to
 * the home bucket, under the same key, metadata and content headers, through the archive's one writer: the
 * raw objects, and the sealed hours a seal placed there while home refused (so the home bucket's sealed
 * prefix is the whole archive for DuckDB and Athena). Each body is checked against its stored SHA-256 before
 * the write, and the write carries that checksum; an object already at home with the same SHA-256 is
 * skipped, so a retry repeats nothing. Older objects are not read: the cost follows the outage, not the
 * bucket's history.
 */
export function createRehome(aws: AwsClients, writer: ArchiveWriter) {
  return async function rehomeObjects(input: {
    region: string;
    sources: ArchiveTargetRef[];
    home: ArchiveTargetRef;
    /** ISO-8601: objects last modified before it are left where they are. */
    since: string;
  }): Promise<{ copied: number; alreadyPresent: number }> {
    const ctx = Context.current();
    const opts = { abortSignal: fanOutSignal(COPY_CONCURRENCY) };
    const since = Date.parse(input.since);
    const home = aws.s3(input.home.region);
    const result = { copied: 0, alreadyPresent: 0 };

    const copyHome = async (s3: S3Client, bucket: string, Key: string): Promise<void> => {
      const there = await home
        .send(new HeadObjectCommand({ Bucket: input.home.bucket, Key }), opts)
        .catch((err: unknown) => {
          if (notFound(err)) return undefined;
          throw err;
        });
      if (there) {
        const source = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key }), opts);
        if (there.Metadata?.[META.sha256] !== source.Metadata?.[META.sha256])
          throw ApplicationFailure.create({
            type: 'ArchiveConflict',
            nonRetryable: true,
            message: `s3://${input.home.bucket}/${Key} exists with different content than s3://${bucket}/${Key}`,
          });
        result.alreadyPresent++;
        return;
      }
      const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key }), opts);
      const body = Buffer.from(await got.Body!.transformToByteArray());
      const sha = createHash('sha256').update(body).digest();
      const stored = got.Metadata?.[META.sha256];
      if (stored !== sha.toString('hex'))
        throw ApplicationFailure.create({
          type: 'ChecksumMismatch',
          nonRetryable: true,
          message: `s3://${bucket}/${Key} has SHA-256 ${sha.toString('hex')}, its metadata says ${stored}`,
        });
      // The one writer of archive objects: conditional, with its checksum, the manifest kept as metadata.
      const content = got.ContentType
        ? { type: got.ContentType, ...(got.ContentEncoding && { encoding: got.ContentEncoding }) }
        : undefined;
      const present = await writer
        .putObject(input.home, Key, got.Metadata ?? {}, body, opts.abortSignal, content)
        .catch((err: unknown) => {
          throw asFailure(err);
        });
      if (present) result.alreadyPresent++;
      else result.copied++;
    };

    /** Copies what `keep` selects of the objects under `prefix` written since `since`, page by page. */
    const copyRecent = async (
      source: ArchiveTargetRef,
      prefix: string,
      keep: (key: string) => boolean,
    ): Promise<void> => {
      const s3 = aws.s3(source.region);
      let token: string | undefined;
      do {
        const page = await s3.send(
          new ListObjectsV2Command({ Bucket: source.bucket, Prefix: prefix, ContinuationToken: token }),
          opts,
        );
        const recent = (page.Contents ?? []).filter(
          (o: _Object) => (o.LastModified?.getTime() ?? 0) >= since && keep(o.Key!),
        );
        await mapLimit(recent, COPY_CONCURRENCY, (o) => copyHome(s3, source.bucket, o.Key!));
        ctx.heartbeat(result);
        token = page.NextContinuationToken;
      } while (token);
    };

    for (const source of input.sources) {
      await copyRecent(source, regionPrefix(input.region), () => true);
      // A manifest only after every part: a reader that finds it at home reads its parts from home too.
      const sealed = sealedRegionPrefix(input.region);
      await copyRecent(source, sealed, (key) => !isSealManifestKey(key));
      await copyRecent(source, sealed, isSealManifestKey);
    }
    return result;
  };
}
