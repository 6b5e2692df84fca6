import { createServer as createHttpServer } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { createAwsClients } from '../../src/aws/clients';
import { testConfig } from '../helpers/env';
import {
  createStatsActivities,
  createStatsApi,
  toEventJson,
  type StatsActivitiesOptions,
} from '../../src/activities/stats';
import { retryAfterMs } from '../../src/activities/stats/http';
import type { TrackingEvent } from '../../src/shared/event';
import { IdDigest } from '../../src/archive/idDigest';
import { encodeLines } from '../../src/archive/format';
import {
  anyString,
  makeEvents,
  saturate,
  startTestService,
  stringWith,
  type TestService,
} from '../stats-service/helpers';

const REGION = 'us-east-1';
const HOUR = {
  region: REGION,
  granularity: 'hour' as const,
  from: '2024-03-01T10:00:00Z',
  to: '2024-03-01T11:00:00Z',
};

type Overrides = Partial<StatsActivitiesOptions> & { token?: string };
const optionsOf = (url: string, { token, ...rest }: Overrides): StatsActivitiesOptions => ({
  endpoints: { [REGION]: { url, token } },
  requestTimeoutMs: 5_000,
  chunkSize: 1000,
  ...rest,
});

/** The stats API calls as the fast path and the activities use them, following `signal`. */
const api = (url: string, overrides: Overrides = {}, signal = new AbortController().signal) =>
  createStatsApi(optionsOf(url, overrides), () => signal);

/** The stats activities (their calls follow the activity's cancellation). */
const activities = (url: string, overrides: Overrides = {}) =>
  createStatsActivities(optionsOf(url, overrides), createAwsClients(testConfig()));

/** A mock activity context; the SDK's warning per failed activity is expected here, so only errors are logged. */
function mockEnv(): MockActivityEnvironment {
  return new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });
}

const lines = (events: TrackingEvent[]): string[] => events.map(toEventJson);

/** The ApplicationFailure a call rejects with. */
async function failureOf(run: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await run.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApplicationFailure);
  return err as ApplicationFailure;
}

/**
 * A TCP server that accepts connections and never answers. `requests` holds the connections on which a
 * request arrived (a connection alone may still be idle in the client's pool). close() drops them all.
 */
async function silentServer(): Promise<{ url: string; requests: Set<Socket>; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const requests = new Set<Socket>();
  const server: Server = createTcpServer((socket) => {
    sockets.add(socket);
    socket.once('data', () => requests.add(socket));
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** A port nothing listens on (bound, then released). */
async function closedPortUrl(): Promise<string> {
  const server = createTcpServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return `http://127.0.0.1:${port}`;
}

describe('stats API calls and activities against the real stats service', () => {
  const cleanups: (() => Promise<void>)[] = [];
  async function service(options: Parameters<typeof startTestService>[0] = {}): Promise<TestService> {
    const s = await startTestService(options);
    cleanups.push(() => s.close());
    return s;
  }
  afterEach(async () => {
    await Promise.all(cleanups.splice(0).map((c) => c()));
  });

  describe('happy paths', () => {
    it('deliverLines posts in chunks and is idempotent by event ID', async () => {
      const s = await service();
      const events = makeEvents(2500);
      expect(await api(s.url).deliverLines(REGION, lines(events))).toEqual({ accepted: 2500, duplicates: 0 });
      expect(await api(s.url, { chunkSize: 700 }).deliverLines(REGION, lines(events))).toEqual({
        accepted: 0,
        duplicates: 2500,
      });
      expect(await api(s.url).buckets(HOUR)).toEqual([expect.objectContaining({ count: 2500 })]);
    });

    it('deliverObject posts an archive object as its gzip NDJSON bytes; JSON chunks past chunkSize or after a 415', async () => {
      const s = await service();
      // In front of the real service: records each request's media type, and plays a JSON-only pipeline.
      const seen: string[] = [];
      let jsonOnly = false;
      const proxy = createHttpServer((req, res) => {
        const type = `${req.headers['content-type']}${req.headers['content-encoding'] ? `+${req.headers['content-encoding']}` : ''}`;
        seen.push(type);
        if (jsonOnly && type !== 'application/json') {
          res.writeHead(415, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: 'UnsupportedMediaType', message: 'JSON only' }));
          req.resume();
          return;
        }
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          void fetch(`${s.url}${req.url}`, {
            method: req.method,
            headers: req.headers as Record<string, string>,
            body: Buffer.concat(chunks),
            signal: AbortSignal.timeout(10_000),
          }).then(async (answer) => {
            res.writeHead(answer.status, { 'content-type': 'application/json' });
            res.end(await answer.text());
          });
        });
      });
      await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
      cleanups.push(() => new Promise((resolve) => proxy.close(() => resolve())));
      const url = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
      const events = makeEvents(1500);
      const object = async (from: number, to: number) =>
        (await encodeLines({ lines: lines(events.slice(from, to)) }, [])).body;

      const fast = api(url, { chunkSize: 1000 });
      expect(await fast.deliverObject(REGION, await object(0, 1000), 1000)).toEqual({
        accepted: 1000,
        duplicates: 0,
      });
      expect(seen.splice(0)).toEqual(['application/x-ndjson+gzip']);
      expect(await fast.deliverObject(REGION, await object(500, 1500), 1000)).toEqual({
        accepted: 500,
        duplicates: 500,
      });
      // More events than a request may carry: the object's lines in JSON chunks.
      expect(await api(url, { chunkSize: 400 }).deliverObject(REGION, await object(0, 1000), 1000)).toEqual({
        accepted: 0,
        duplicates: 1000,
      });
      expect(seen.splice(0)).toEqual(['application/x-ndjson+gzip', ...Array(3).fill('application/json')]);
      // A pipeline that takes JSON only answers 415 once; the API falls back and remembers.
      jsonOnly = true;
      expect(await fast.deliverObject(REGION, await object(0, 10), 10)).toEqual({
        accepted: 0,
        duplicates: 10,
      });
      expect(await fast.deliverObject(REGION, await object(10, 20), 10)).toEqual({
        accepted: 0,
        duplicates: 10,
      });
      expect(seen.splice(0)).toEqual(['application/x-ndjson+gzip', 'application/json', 'application/json']);
      expect(await api(s.url).buckets(HOUR)).toEqual([expect.objectContaining({ count: 1500 })]);
    });

    it('buckets and bucketIds list what was delivered', async () => {
      const s = await service();
      const events = makeEvents(700);
      await api(s.url).deliverLines(REGION, lines(events));

      const buckets = await api(s.url).buckets(HOUR);
      expect(buckets).toEqual([
        {
          region: REGION,
          granularity: 'hour',
          start: '2024-03-01T10:00:00.000Z',
          count: 700,
          capExceeded: 0,
          digest: IdDigest.of(events.map((e) => e.id)).toHex(),
        },
      ]);

      const ids: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await api(s.url).bucketIds({
          ...HOUR,
          start: buckets[0]!.start,
          cursor,
          limit: 300,
        });
        ids.push(...page.ids);
        cursor = page.nextCursor ?? undefined;
      } while (cursor !== undefined);
      expect(ids).toEqual(events.map((e) => e.id));
    });

    it('checkStatsHealth reports healthy and unhealthy endpoints', async () => {
      const s = await service();
      const env = mockEnv();
      expect(await env.run(activities(s.url).checkStatsHealth, { region: REGION })).toEqual({
        healthy: true,
        detail: 'ok',
      });
      const down = await env.run(activities(await closedPortUrl()).checkStatsHealth, { region: REGION });
      expect(down).toEqual({ healthy: false, detail: stringWith('ECONNREFUSED') });
    });
  });

  describe('error classification', () => {
    it('400 → non-retryable StatsRejected with the per-record details, indexed within the whole batch', async () => {
      const s = await service();
      const events: TrackingEvent[] = makeEvents(5);
      events[3] = { ...events[3]!, timestamp: 'yesterday' };
      // Chunks of 2: the server sees the bad record at index 1 of the second chunk.
      const failure = await failureOf(api(s.url, { chunkSize: 2 }).deliverLines(REGION, lines(events)));
      expect(failure).toMatchObject({ type: 'StatsRejected', nonRetryable: true });
      expect(failure.message).toMatch(/HTTP 400 ValidationFailed/);
      expect(failure.details).toEqual([
        {
          error: 'ValidationFailed',
          message: anyString,
          details: [{ index: 3, field: 'timestamp', reason: anyString }],
        },
      ]);
    });

    it('413 → non-retryable StatsPayloadTooLarge', async () => {
      const s = await service({ bodyLimitBytes: 32 * 1024 });
      const failure = await failureOf(api(s.url).deliverLines(REGION, lines(makeEvents(500))));
      expect(failure).toMatchObject({ type: 'StatsPayloadTooLarge', nonRetryable: true });
      expect(failure.details).toEqual([expect.objectContaining({ error: 'PayloadTooLarge' })]);
    });

    it('401 → non-retryable StatsUnauthorized; the right token works', async () => {
      const s = await service({ token: 'right' });
      const failure = await failureOf(api(s.url, { token: 'wrong' }).buckets(HOUR));
      expect(failure).toMatchObject({ type: 'StatsUnauthorized', nonRetryable: true });
      expect(failure.details).toEqual([expect.objectContaining({ error: 'Unauthorized' })]);
      expect(await api(s.url, { token: 'right' }).buckets(HOUR)).toEqual([]);
    });

    it('404 → non-retryable StatsNotFound', async () => {
      const s = await service();
      const failure = await failureOf(api(`${s.url}/wrong-prefix`).buckets(HOUR));
      expect(failure).toMatchObject({ type: 'StatsNotFound', nonRetryable: true });
      expect(failure.details).toEqual([expect.objectContaining({ error: 'NotFound' })]);
    });

    it('503 under overload → retryable StatsUnavailable with nextRetryDelay from Retry-After', async () => {
      const s = await service({ maxInFlight: 1 });
      const { shed, held } = await saturate(s.url, async () => {
        try {
          await api(s.url).buckets(HOUR);
          return undefined;
        } catch (err) {
          return err;
        }
      });
      expect(shed).toBeInstanceOf(ApplicationFailure);
      expect(shed).toMatchObject({ type: 'StatsUnavailable', nonRetryable: false, nextRetryDelay: 1000 });
      expect((shed as ApplicationFailure).details).toEqual([
        expect.objectContaining({ error: 'Overloaded' }),
      ]);
      expect(await held.release()).toBe(200);
    });

    it('no answer in time → retryable StatsTimeout', async () => {
      const silent = await silentServer();
      cleanups.push(() => silent.close());
      const failure = await failureOf(api(silent.url, { requestTimeoutMs: 200 }).buckets(HOUR));
      expect(failure).toMatchObject({ type: 'StatsTimeout', nonRetryable: false });
      expect(failure.nextRetryDelay).toBeUndefined();
    });

    it('connection refused → retryable StatsUnavailable', async () => {
      const failure = await failureOf(api(await closedPortUrl()).bucketIds({ ...HOUR, start: HOUR.from }));
      expect(failure).toMatchObject({ type: 'StatsUnavailable', nonRetryable: false });
      expect(failure.message).toMatch(/ECONNREFUSED/);
    });

    it('an upstream answering 502 with HTML, or 200 with garbage, is classified too', async () => {
      const answers = [
        {
          status: 502,
          headers: { 'retry-after': new Date(Date.now() + 30_000).toUTCString() },
          body: '<html>bad gateway</html>',
        },
        { status: 200, headers: {}, body: '<html>captive portal</html>' },
      ];
      const upstream = createHttpServer((req, res) => {
        const answer = answers.shift()!;
        res.writeHead(answer.status, { 'content-type': 'text/html', ...answer.headers }).end(answer.body);
      });
      await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
      cleanups.push(() => new Promise((resolve) => upstream.close(() => resolve())));
      const upstreamApi = api(`http://127.0.0.1:${(upstream.address() as AddressInfo).port}`);

      const gateway = await failureOf(upstreamApi.buckets(HOUR));
      expect(gateway).toMatchObject({
        type: 'StatsUnavailable',
        nonRetryable: false,
        details: ['<html>bad gateway</html>'],
      });
      expect(gateway.nextRetryDelay).toBeGreaterThan(25_000);
      const garbage = await failureOf(upstreamApi.buckets(HOUR));
      expect(garbage).toMatchObject({ type: 'StatsBadResponse', nonRetryable: true });
    });

    it('an unknown region → non-retryable UnknownRegion', async () => {
      const failure = await failureOf(
        mockEnv().run(activities('http://127.0.0.1:1').checkStatsHealth, { region: 'mars-north-1' }),
      );
      expect(failure).toMatchObject({ type: 'UnknownRegion', nonRetryable: true });
    });

    it("the caller's signal aborts the request in flight", async () => {
      const silent = await silentServer();
      cleanups.push(() => silent.close());
      const stop = new AbortController();
      const run = api(silent.url, { requestTimeoutMs: 60_000 }, stop.signal).deliverLines(
        REGION,
        lines(makeEvents(10)),
      );
      const connection = await waitForRequest(silent.requests);
      const closed = new Promise((resolve) => connection.once('close', resolve));
      stop.abort();
      await expect(run).rejects.toMatchObject({ name: 'AbortError' });
      await closed; // the client really hung up, long before its 60 s timeout
    });
  });

  it('reads Retry-After as seconds or as an HTTP date', () => {
    const now = Date.parse('2024-03-01T10:00:00Z');
    expect(retryAfterMs('7', now)).toBe(7000);
    expect(retryAfterMs('Fri, 01 Mar 2024 10:00:30 GMT', now)).toBe(30_000);
    expect(retryAfterMs('Fri, 01 Mar 2024 09:00:00 GMT', now)).toBe(0);
    expect(retryAfterMs('soon', now)).toBeUndefined();
    expect(retryAfterMs(null, now)).toBeUndefined();
  });

  it('rejects a configuration it cannot work with', () => {
    expect(() => api('http://127.0.0.1:1', { chunkSize: 5001 })).toThrow(RangeError);
    expect(() => api('not a url')).toThrow(TypeError);
  });
});

async function waitForRequest(sockets: Set<Socket>): Promise<Socket> {
  const deadline = Date.now() + 10_000;
  while (sockets.size === 0) {
    if (Date.now() > deadline) throw new Error('no request arrived');
    await new Promise((resolve) => setImmediate(resolve));
  }
  return [...sockets][0]!;
}
