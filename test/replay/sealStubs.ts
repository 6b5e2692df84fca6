import type { Activities } from '../../src/activities';
import type { SealPlan, SealShardDraft, SealSummary } from '../../src/shared/seal';

// Stubbed seal activities and their values: the converge scenarios and test/workflows/sealConverge share them.
const REGION = 'us-east-1';
const target = { bucket: 'stormproof-archive-us-east-1', region: REGION };
const digest = '0'.repeat(64);

export const planOf = (hour: string, version: number, over: Partial<SealPlan> = {}): SealPlan => ({
  region: REGION,
  hour,
  version,
  shards: 2,
  concurrency: 2,
  partRows: 50_000,
  sources: { count: version, keysSha256: `${version}`.repeat(64), bytes: 1000 },
  targets: [target],
  sourcesAt: { ...target, key: `seal-sources/v1/x/${version}.txt` },
  ...(version > 1 && {
    previous: { version: version - 1, key: `manifest-${version - 1}.json`, target },
    late: { sources: 1, bytes: 100 },
  }),
  ...over,
});

export const summaryOf = (hour: string, version: number): SealSummary => ({
  region: REGION,
  hour,
  version,
  bucket: target.bucket,
  manifestKey: `sealed/v1/manifest-${version}.json`,
  files: version,
  total: { count: 10 * version, digest },
  sources: version,
  eventsRead: 10 * version,
  duplicatesDropped: 0,
  sealedAt: new Date(0).toISOString(),
});

export const shardStubs: Partial<Activities> = {
  sealShard: ({ plan, shard }: { plan: SealPlan; shard: number }): Promise<SealShardDraft> =>
    Promise.resolve({
      shard,
      bucket: target.bucket,
      bucketRegion: REGION,
      parts: [{ key: `part-${plan.version}-${shard}`, rows: 5, bytes: 100, sha256: digest }],
      total: { count: 5, digest },
      minutes: {},
      eventsRead: 5,
      added: 5,
    }),
  verifySealShard: () => Promise.resolve({ count: 5, digest }),
};
