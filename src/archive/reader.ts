import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { AwsClients } from '../aws/clients';
import type { ArchiveTargetRef } from '../shared/regions';
import type { TrackingEvent } from '../shared/event';
import { countAndDigestOf, decodeBatch, hourPrefix, META } from './format';

/** One archive object and every bucket holding a copy of it, in the region's target order. */
export interface ArchiveObject {
  key: string;
  copies: ArchiveTargetRef[];
  /** Size of its first copy as listed: what a seal plans its shards by. */
  bytes: number;
}

/**
 * The objects of a region's hour over all its buckets. A batch that landed in both the home and the
 * failover bucket has the same key in each: it is one object with two copies, so it counts once.
 */
export async function listHourObjects(
  aws: AwsClients,
  targets: ArchiveTargetRef[],
  region: string,
  hour: string,
  signal: AbortSignal,
): Promise<ArchiveObject[]> {
  const byKey = new Map<string, ArchiveObject>();
  for await (const { target, key, bytes } of listKeys(aws, targets, hourPrefix(region, hour), signal)) {
    const obj = byKey.get(key);
    if (obj) obj.copies.push(target);
    else byKey.set(key, { key, copies: [target], bytes });
  }
  return [...byKey.values()];
}

/** Every key under a prefix in each of the buckets, page by page, with the bucket it is in. */
export async function* listKeys(
  aws: AwsClients,
  targets: ArchiveTargetRef[],
  prefix: string,
  signal: AbortSignal,
): AsyncGenerator<{ target: ArchiveTargetRef; key: string; bytes: number }> {
  for (const target of targets) {
    let token: string | undefined;
    do {
      const page = await aws
        .s3(target.region)
        .send(new ListObjectsV2Command({ Bucket: target.bucket, Prefix: prefix, ContinuationToken: token }), {
          abortSignal: signal,
        });
      for (const { Key, Size } of page.Contents ?? []) if (Key) yield { target, key: Key, bytes: Size ?? 0 };
      token = page.NextContinuationToken;
    } while (token);
  }
}

/** The count and ID digest the writer recorded in the object's metadata: the manifest, read without the body. */
export async function headManifest(
  aws: AwsClients,
  copy: ArchiveTargetRef,
  key: string,
  signal: AbortSignal,
): Promise<{ count: number; digest: string }> {
  const head = await aws
    .s3(copy.region)
    .send(new HeadObjectCommand({ Bucket: copy.bucket, Key: key }), { abortSignal: signal });
  const manifest = countAndDigestOf(head.Metadata);
  if (!manifest) throw new ManifestMissing(`no valid ${META.count}/${META.digest} metadata`);
  return manifest;
}

export class ManifestMissing extends Error {
  override name = 'ManifestMissing';
}

/** A corrupt copy (bad gzip, bad line) is an answer, not a failure: the caller reports it by key. */
export type ReadResult = { events: TrackingEvent[] } | { error: string };

/** One object's bytes. */
export async function getObject(
  aws: AwsClients,
  target: ArchiveTargetRef,
  key: string,
  signal: AbortSignal,
): Promise<Uint8Array> {
  const got = await aws
    .s3(target.region)
    .send(new GetObjectCommand({ Bucket: target.bucket, Key: key }), { abortSignal: signal });
  return got.Body!.transformToByteArray();
}

/**
 * Reads and decodes one copy; S3 errors throw (the activity retries), content errors are returned. `keep`
 * keeps only the events whose ID it accepts (a seal's shard).
 */
export async function readCopy(
  aws: AwsClients,
  copy: ArchiveTargetRef,
  key: string,
  signal: AbortSignal,
  keep?: (id: string) => boolean,
): Promise<ReadResult> {
  const body = await getObject(aws, copy, key, signal);
  try {
    return { events: decodeBatch(body, keep) };
  } catch (err) {
    return { error: (err as Error).message };
  }
}
