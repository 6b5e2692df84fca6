import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { createSealActivities } from '../../src/activities/seal';
import { prepareBatch } from '../../src/archive/format';
import { configuredTargets } from '../../src/archive/targets';
import { archiveBreakers, createArchiveWriter, type ArchiveWriter } from '../../src/archive/writer';
import { createAwsClients, type AwsClients } from '../../src/aws/clients';
import type { AppConfig } from '../../src/config/schema';
import { hourOf } from '../../src/shared/batch';
import type { SealHourJob, SealPlan, SealPlanResult, SealShardDraft } from '../../src/shared/seal';
import { waitUntil } from '../../src/util/waitUntil';
import { testConfig, uniqueName } from '../helpers/env';
import { makeEventsInHour, randomPastHourMs } from '../helpers/pipeline';

jest.setTimeout(120_000);

const REGION = 'us-east-1';
const quiet = () => new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });

/**
 * `seal.shardsPerWorker`: one worker process (one set of activities) handed several shards at once runs that
 * many at a time. Observed where a shard is surely running: its Parquet PUTs. Each PUT waits (up to a
 * deadline) for a second shard's PUT to be in flight, so shards that may overlap do; the most PUTs in
 * flight at once is the number of shards running at once.
 */
describe('seal.shardsPerWorker', () => {
  const base = testConfig();
  let aws: AwsClients;
  const breakers = archiveBreakers();
  let writer: ArchiveWriter;
  let hour: string;
  beforeAll(async () => {
    aws = createAwsClients(base);
    writer = createArchiveWriter({ aws, targets: configuredTargets(base), breakers });
    const events = makeEventsInHour(60, randomPastHourMs(), REGION, uniqueName('per-worker'));
    hour = hourOf(events[0]!.timestamp);
    for (const slice of [events.slice(0, 30), events.slice(30)]) {
      const { manifest, body } = await prepareBatch({
        batchId: uniqueName('per-worker'),
        region: REGION,
        hour,
        events: slice,
      });
      await writer.archive(manifest, body, AbortSignal.timeout(30_000));
    }
  });
  afterAll(() => {
    breakers.shutdown();
    aws.destroy();
  });

  /** Seals the hour in `shards` shards, all handed to one worker at once; the most shards seen running at once. */
  async function mostAtOnce(shardsPerWorker: number, shards: number): Promise<number> {
    const config: AppConfig = { ...base, seal: { ...base.seal, shardsPerWorker } };
    let inFlight = 0;
    let most = 0;
    const putObject: ArchiveWriter['putObject'] = async (...args) => {
      if (!args[1].includes('/part-')) return writer.putObject(...args);
      inFlight++;
      most = Math.max(most, inFlight);
      try {
        // A deadline, not a synchronisation: only gives a second running shard the chance to show.
        await waitUntil(() => Promise.resolve(inFlight >= 2), 1500, 20);
        return await writer.putObject(...args);
      } finally {
        inFlight--;
      }
    };
    const acts = createSealActivities({ config, aws, writer: { putObject } });
    const planned: SealPlanResult = await quiet().run((job: SealHourJob) => acts.planSeal(job), {
      region: REGION,
      hour,
      shards,
    });
    if (planned.kind !== 'plan') throw new Error(`expected a plan, got ${planned.kind}`);
    const plan: SealPlan = planned.plan;
    const drafts: SealShardDraft[] = await Promise.all(
      Array.from({ length: shards }, (_, shard) =>
        quiet().run<[{ plan: SealPlan; shard: number }], SealShardDraft, typeof acts.sealShard>(
          acts.sealShard,
          { plan, shard },
        ),
      ),
    );
    expect(drafts.every((d) => d.parts.length > 0)).toBe(true); // every shard wrote, so every shard was seen
    return most;
  }

  it('runs one shard at a time with shardsPerWorker 1', async () => {
    expect(await mostAtOnce(1, 3)).toBe(1);
  });

  it('runs them side by side with shardsPerWorker 3 (what the first test would see without the limit)', async () => {
    expect(await mostAtOnce(3, 3)).toBeGreaterThanOrEqual(2);
  });
});
