import { Client, Connection } from '@temporalio/client';
import { EventSender } from '../../src/client/eventSender';
import { testConfig } from '../helpers/env';
import { makeEvents } from '../helpers/pipeline';
import { unusedPort } from '../helpers/ports';

/**
 * The hand-over's observer (the ingest's `stormproof_ingest_handover_seconds`) hears of a failed hand-over
 * too: a Temporal that does not answer must show in the metric, not only in 503s. The accepted case is
 * asserted through the ingest's /metrics in test/metrics/processes.test.ts.
 */
describe('hand-over observer', () => {
  it('is told of a hand-over Temporal did not take, with how long it waited', async () => {
    const base = testConfig();
    const config = { ...base, ingest: { ...base.ingest, lingerMs: 0, handOverTimeoutMs: 500 } };
    const connection = Connection.lazy({ address: `127.0.0.1:${await unusedPort()}` });
    const observed: { seconds: number; outcome: string }[] = [];
    const sender = new EventSender(new Client({ connection }), config, (seconds, outcome) =>
      observed.push({ seconds, outcome }),
    );
    try {
      await expect(sender.send(makeEvents(3))).rejects.toThrow();
      expect(observed).toHaveLength(1);
      expect(observed[0]!.outcome).toBe('failed');
      // Bounded by the hand-over timeout, not by the client's own retries.
      expect(observed[0]!.seconds).toBeGreaterThan(0);
      expect(observed[0]!.seconds).toBeLessThan(5);
      expect(sender.pendingEvents).toBe(0);
    } finally {
      await connection.close();
    }
  });
});
