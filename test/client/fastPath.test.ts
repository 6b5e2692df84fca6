import { Client, Connection } from '@temporalio/client';
import { createAwsClients, type AwsClients } from '../../src/aws/clients';
import { EventSender, NotAccepted } from '../../src/client/eventSender';
import type { DeliveryOutcome, HandOverOutcome } from '../../src/client/handOver';
import type { AppConfig } from '../../src/config/schema';
import { waitUntil } from '../../src/util/waitUntil';
import { testConfig } from '../helpers/env';
import { makeEvents } from '../helpers/pipeline';
import { unusedPort } from '../helpers/ports';
import { expectEachEventOnce, statsHour } from '../helpers/verify';

/**
 * The fast path needs no Temporal while S3 and the stats API answer, and accepts nothing it cannot keep when
 * S3 and Temporal both refuse. Temporal here is a port nothing listens on.
 */
describe('fast path without Temporal', () => {
  let reader: AwsClients;
  let deadTemporal: Connection;
  beforeAll(async () => {
    reader = createAwsClients(testConfig());
    deadTemporal = Connection.lazy({ address: `127.0.0.1:${await unusedPort()}` });
  });
  afterAll(async () => {
    reader.destroy();
    await deadTemporal.close();
  });

  function sender(config: AppConfig) {
    const batches: { outcome: HandOverOutcome; events: number; seconds: number }[] = [];
    const deliveries: { outcome: DeliveryOutcome; events: number }[] = [];
    const s = new EventSender(new Client({ connection: deadTemporal }), config, {
      observe: {
        batch: (outcome, events, seconds) => batches.push({ outcome, events, seconds }),
        delivery: (outcome, events) => deliveries.push({ outcome, events }),
      },
    });
    return { s, batches, deliveries };
  }

  it('S3 healthy, Temporal unreachable: archived and delivered, nothing in Temporal', async () => {
    const base = testConfig();
    const config = { ...base, ingest: { ...base.ingest, lingerMs: 0, handOverTimeoutMs: 500 } };
    const { s, batches, deliveries } = sender(config);
    try {
      const events = makeEvents(300);
      const result = await s.send(events);
      expect(result.accepted).toBe(300);
      expect(result.notAccepted).toBeUndefined();
      expect(result.batches).toEqual([
        expect.objectContaining({
          events: 300,
          archived: expect.stringMatching(
            /^s3:\/\/stormproof-archive-us-east-1\/events\/v1\/region=us-east-1\//,
          ),
        }),
      ]);
      expect(result.batches[0]!.captureWorkflowId).toBeUndefined();
      expect(batches.map((b) => b.outcome)).toEqual(['archived']);
      expect(await waitUntil(() => deliveries.length === 1, 30_000)).toBe(true);
      expect(deliveries).toEqual([{ outcome: 'delivered', events: 300 }]);
      await expectEachEventOnce(reader, config, events);
    } finally {
      await s.close(0);
    }
  });

  it('S3 and Temporal both refusing: NotAccepted, nothing archived or delivered, nothing pending', async () => {
    const base = testConfig();
    const deadS3 = `http://127.0.0.1:${await unusedPort()}`;
    const config: AppConfig = {
      ...base,
      aws: { ...base.aws, maxAttempts: 1, connectTimeoutMs: 500 },
      regions: base.regions.map((r) => ({ ...r, s3Endpoint: deadS3 })),
      ingest: { ...base.ingest, lingerMs: 0, handOverTimeoutMs: 500 },
    };
    const { s, batches, deliveries } = sender(config);
    try {
      const events = makeEvents(50);
      await expect(s.send(events)).rejects.toBeInstanceOf(NotAccepted);
      expect(batches).toEqual([{ outcome: 'refused', events: 50, seconds: expect.any(Number) }]);
      // Bounded by one S3 attempt per bucket and the capture start's timeout, not by the clients' retries.
      expect(batches[0]!.seconds).toBeLessThan(10);
      expect(deliveries).toEqual([]);
      expect(s.pendingEvents).toBe(0);
      expect(await statsHour(base, 'us-east-1', events[0]!.timestamp)).toBeUndefined();
    } finally {
      await s.close(0);
    }
  });
});
