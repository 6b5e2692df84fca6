import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { AwsClients } from '../../src/aws/clients';
import { decodeBatch } from '../../src/archive/format';
import type { AppConfig } from '../../src/config/schema';
import { hourOf } from '../../src/shared/batch';
import { IdDigest } from '../../src/archive/idDigest';
import type { TrackingEvent } from '../../src/shared/event';
import { waitUntil } from '../../src/util/waitUntil';

/** Every event in the archive objects of one hour partition of a region, in every bucket of that region. */
export async function archivedEvents(
  aws: AwsClients,
  config: AppConfig,
  region: string,
  hour: string,
): Promise<{ bucket: string; key: string; events: TrackingEvent[] }[]> {
  const regionConfig = config.regions.find((r) => r.name === region)!;
  const prefix = `events/v1/region=${region}/dt=${hour.slice(0, 10)}/hour=${hour.slice(11, 13)}/`;
  const out: { bucket: string; key: string; events: TrackingEvent[] }[] = [];
  for (const target of regionConfig.archive) {
    const s3 = aws.s3(target.region);
    let token: string | undefined;
    do {
      const page = await s3.send(
        new ListObjectsV2Command({ Bucket: target.bucket, Prefix: prefix, ContinuationToken: token }),
      );
      for (const obj of page.Contents ?? []) {
        const got = await s3.send(new GetObjectCommand({ Bucket: target.bucket, Key: obj.Key }));
        out.push({
          bucket: target.bucket,
          key: obj.Key!,
          events: decodeBatch(await got.Body!.transformToByteArray()),
        });
      }
      token = page.NextContinuationToken;
    } while (token);
  }
  return out;
}

/** The stats API's count and digest for one region and hour (none when it has no event there). */
export async function statsHour(
  config: AppConfig,
  region: string,
  timestamp: string,
): Promise<{ count: number; digest: string; capExceeded?: number } | undefined> {
  const statsUrl = config.regions.find((r) => r.name === region)!.statsUrl;
  const from = hourOf(timestamp);
  const to = new Date(Date.parse(from) + 3_600_000).toISOString();
  const res = await fetch(`${statsUrl}/v1/buckets?granularity=hour&region=${region}&from=${from}&to=${to}`, {
    signal: AbortSignal.timeout(5000),
  });
  if (!res.ok) throw new Error(`stats API answered ${res.status}: ${await res.text()}`);
  const { buckets } = (await res.json()) as {
    buckets: { count: number; digest: string; capExceeded?: number }[];
  };
  return buckets[0];
}

/**
 * The archive of one hour as every reader sees it: an object present in several buckets of the region (the
 * same key, e.g. written to home, answer lost, then written to failover) is one batch. Returns the event IDs
 * of each key and the buckets holding it.
 */
export async function archiveByKey(
  aws: AwsClients,
  config: AppConfig,
  region: string,
  hour: string,
): Promise<Map<string, { buckets: string[]; ids: string[] }>> {
  const byKey = new Map<string, { buckets: string[]; ids: string[] }>();
  for (const o of await archivedEvents(aws, config, region, hour)) {
    const ids = o.events.map((e) => e.id);
    const seen = byKey.get(o.key);
    if (seen && seen.ids.join() !== ids.join()) throw new Error(`${o.key} differs between buckets`);
    byKey.set(o.key, { buckets: [...(seen?.buckets ?? []), o.bucket], ids });
  }
  return byKey;
}

/**
 * Every event exactly once in the archive of its region and hour (a key in two buckets is one batch) and
 * exactly once in the stats API (count and ID digest). The stats may lag the acknowledgement (the fast path
 * delivers after it, a capture later still), so this waits up to `statsWithinMs` for their count first.
 * Returns the archive by key for further checks.
 */
export async function expectEachEventOnce(
  reader: AwsClients,
  config: AppConfig,
  events: TrackingEvent[],
  statsWithinMs = 60_000,
): Promise<Map<string, { buckets: string[]; ids: string[] }>> {
  const { region, timestamp } = events[0]!;
  await waitUntil(
    async () => (await statsHour(config, region, timestamp))?.count === events.length,
    statsWithinMs,
    200,
  );
  const byKey = await archiveByKey(reader, config, region, hourOf(timestamp));
  const ids = [...byKey.values()].flatMap((o) => o.ids);
  expect(ids).toHaveLength(events.length);
  expect(new Set(ids)).toEqual(new Set(events.map((e) => e.id)));
  expect(await statsHour(config, region, timestamp)).toMatchObject({
    count: events.length,
    digest: IdDigest.of(events.map((e) => e.id)).toHex(),
  });
  return byKey;
}
