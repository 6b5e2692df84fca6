import type { FastifyInstance } from 'fastify';
import { readIngestCredentials } from '../../src/ingest/auth';
import { buildIngestServer } from '../../src/ingest/server';
import { waitUntil } from '../../src/util/waitUntil';
import { testConfig } from '../helpers/env';
import { expectEachEventOnce } from '../helpers/verify';
import { createAwsClients } from '../../src/aws/clients';
import { makeEvents, ndjson, startPipeline, type IngestAnswer, type Pipeline } from '../helpers/pipeline';
import { EventSender } from '../../src/client/eventSender';

interface Answer {
  status: number;
  retryAfter: string | null;
  body: Partial<IngestAnswer>;
}

const post = async (url: string, headers: Record<string, string>, body: string): Promise<Answer> => {
  const res = await fetch(`${url}/v1/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-ndjson', ...headers },
    body,
    signal: AbortSignal.timeout(30_000),
  });
  return {
    status: res.status,
    retryAfter: res.headers.get('retry-after'),
    body: (await res.json()) as Answer['body'],
  };
};

const serve = async (
  p: Pipeline,
  sender: EventSender,
  guards: { maxEventLoopDelayMs?: number; maxHeapUsedBytes?: number } = {},
): Promise<{ app: FastifyInstance; url: string }> => {
  const app = buildIngestServer({
    sender,
    credentials: readIngestCredentials(p.config.ingestAuth!),
    bodyLimitBytes: p.config.ingest.bodyLimitBytes,
    ...guards,
    logLevel: 'warn',
  });
  return { app, url: await app.listen({ host: '127.0.0.1', port: 0 }) };
};

/**
 * Overload is refused with 503 and Retry-After, never queued: by pending events, by event-loop delay, and by
 * heap in use.
 */
describe('ingest overload', () => {
  let p: Pipeline;
  beforeAll(async () => {
    p = await startPipeline(testConfig());
  });
  afterAll(() => p?.stop());

  it('refuses a request that would pass the pending-events cap; nothing of it is kept; resent, it is archived once', async () => {
    // A long linger (no group commit) holds accepted events in the batcher, so the cap of 100 is reached on purpose.
    const sender = new EventSender(p.client, {
      ...p.config,
      ingest: { ...p.config.ingest, lingerMs: 3000, sealWhenIdle: false, maxPendingEvents: 100 },
    });
    const { app, url } = await serve(p, sender);
    try {
      const first = makeEvents(80);
      const second = makeEvents(50);
      const firstAnswer = post(url, p.ingestHeaders, ndjson(first));
      expect(await waitUntil(() => sender.pendingEvents === 80, 10_000, 10)).toBe(true);

      const refused = await post(url, p.ingestHeaders, ndjson(second));
      expect(refused).toMatchObject({ status: 503, retryAfter: '1', body: { error: 'Overloaded' } });
      expect(refused.body.message).toMatch(/nothing of this request was accepted, resend it/);
      expect(sender.pendingEvents).toBe(80);

      const taken = await firstAnswer;
      expect(taken).toMatchObject({ status: 200, body: { accepted: 80 } });
      // Accepted events stay pending until their stats delivery is done too; then there is room again.
      expect(await waitUntil(() => sender.pendingEvents === 0, 30_000, 10)).toBe(true);
      const resent = await post(url, p.ingestHeaders, ndjson(second));
      expect(resent).toMatchObject({ status: 200, body: { accepted: 50 } });
      const batches = [...taken.body.batches!, ...resent.body.batches!];
      expect(batches.reduce((n, b) => n + b.events, 0)).toBe(130);
      const aws = createAwsClients(p.config);
      try {
        await expectEachEventOnce(aws, p.config, first);
        await expectEachEventOnce(aws, p.config, second);
      } finally {
        aws.destroy();
      }
    } finally {
      await app.close();
      await sender.close();
    }
  });

  it('at the pending-events cap, refuses before reading the body (an unparseable one gets 503, not 400)', async () => {
    const sender = new EventSender(p.client, {
      ...p.config,
      ingest: { ...p.config.ingest, lingerMs: 3000, sealWhenIdle: false, maxPendingEvents: 100 },
    });
    const { app, url } = await serve(p, sender);
    try {
      const held = post(url, p.ingestHeaders, ndjson(makeEvents(100)));
      expect(await waitUntil(() => sender.full, 10_000, 10)).toBe(true);
      const refused = await post(url, p.ingestHeaders, 'this is not JSON at all\n');
      expect(refused).toMatchObject({ status: 503, retryAfter: '1', body: { error: 'Overloaded' } });
      expect((await held).status).toBe(200);
      // Room again once the held batch is done: the same body is now read, and refused for what it is.
      expect(await waitUntil(() => !sender.full, 30_000, 10)).toBe(true);
      expect((await post(url, p.ingestHeaders, 'this is not JSON at all\n')).status).toBe(400);
    } finally {
      await app.close();
      await sender.close();
    }
  });

  it('answers 503 to new events while the process is saturated, health still answers, and recovers', async () => {
    const { app, url } = await serve(p, p.sender, { maxEventLoopDelayMs: 30 });
    try {
      // Saturate this process: 80 ms busy slices with short gaps, as a CPU-starved ingest would look.
      const busy = setInterval(() => {
        const until = performance.now() + 80;
        while (performance.now() < until);
      }, 5);
      let refused: Answer | undefined;
      try {
        expect(await waitUntil(() => app.memoryUsage().eventLoopDelay > 30, 10_000, 20)).toBe(true);
        refused = await post(url, p.ingestHeaders, ndjson(makeEvents(5)));
        const health = await fetch(`${url}/v1/health`, { signal: AbortSignal.timeout(10_000) });
        expect(health.status).toBe(200);
      } finally {
        clearInterval(busy);
      }
      expect(refused).toMatchObject({ status: 503, retryAfter: '1', body: { error: 'Overloaded' } });
      expect(refused.body.message).toMatch(/event-loop delay \d+ ms.*nothing of this request was accepted/);

      // Idle again: the delay falls below the threshold within a few samples and events are taken.
      const events = makeEvents(5);
      let answer: Answer | undefined;
      expect(
        await waitUntil(
          async () => (answer = await post(url, p.ingestHeaders, ndjson(events))).status === 200,
          10_000,
          100,
        ),
      ).toBe(true);
      expect(answer!.body.accepted).toBe(5);
    } finally {
      await app.close();
    }
  });

  it('answers 503 to new events while the heap is fuller than its guard, before reading them', async () => {
    const { app, url } = await serve(p, p.sender, { maxHeapUsedBytes: 1024 * 1024 });
    try {
      // A guard below what any live process uses: refused as soon as the plugin has sampled the heap once.
      expect(await waitUntil(() => app.memoryUsage().heapUsed > 1024 * 1024, 10_000, 20)).toBe(true);
      const refused = await post(url, p.ingestHeaders, ndjson(makeEvents(5)));
      expect(refused.status).toBe(503);
      expect(refused).toMatchObject({ retryAfter: '1', body: { error: 'Overloaded' } });
      expect(refused.body.message).toMatch(/MiB of heap in use.*nothing of this request was accepted/);
      const health = await fetch(`${url}/v1/health`, { signal: AbortSignal.timeout(10_000) });
      expect(health.status).toBe(200);
      expect(p.sender.pendingEvents).toBe(0); // nothing of the refused requests was taken
    } finally {
      await app.close();
    }
  });
});
