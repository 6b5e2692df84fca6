import { request } from 'node:http';
import {
  FaultProxyClient,
  type FaultInput,
  type FaultProxy,
  type ListenerStatus,
} from '../../src/fault-proxy';
import {
  answerOf,
  eventually,
  INSYNC_CHANGE,
  send,
  startTestProxy,
  startUpstream,
  type TestUpstream,
} from './helpers';

const LISTENER = 's3-test';

describe('fault proxy fault modes', () => {
  let upstream: TestUpstream;
  let proxy: FaultProxy;
  let client: FaultProxyClient;
  let url: string;

  beforeAll(async () => {
    upstream = await startUpstream();
    proxy = await startTestProxy({ [LISTENER]: upstream.url });
    client = new FaultProxyClient(proxy.controlUrl);
    url = proxy.listeners[LISTENER]!;
  });
  afterEach(() => client.clearAll());
  afterAll(async () => {
    await proxy.close();
    await upstream.close();
  });

  /** How many requests for `path` reached the upstream (each test uses its own paths). */
  const reached = (path: string): number => upstream.received.filter((r) => r.url === path).length;
  const status = async (): Promise<ListenerStatus> => (await client.list()).find((l) => l.name === LISTENER)!;

  it.each<[string, FaultInput, string, RegExp]>([
    [
      'S3 SlowDown',
      { mode: 'error', status: 503, format: 's3' },
      'application/xml',
      /^<\?xml[^>]*>\n<Error><Code>SlowDown<\/Code><Message>Please reduce your request rate.<\/Message><RequestId>[\w-]+<\/RequestId><\/Error>$/,
    ],
    [
      'S3 InternalError',
      { mode: 'error', status: 500, format: 's3' },
      'application/xml',
      /<Error><Code>InternalError<\/Code><Message>We encountered an internal error. Please try again.<\/Message>/,
    ],
    [
      'Route 53 Throttling',
      { mode: 'error', status: 400, format: 'route53' },
      'text/xml',
      /^<\?xml[^>]*>\n<ErrorResponse xmlns="https:\/\/route53.amazonaws.com\/doc\/2013-04-01\/"><Error><Type>Sender<\/Type><Code>Throttling<\/Code><Message>Rate exceeded<\/Message><\/Error><RequestId>[\w-]+<\/RequestId><\/ErrorResponse>$/,
    ],
    [
      'Route 53 PriorRequestNotComplete',
      { mode: 'error', status: 400, format: 'route53', code: 'PriorRequestNotComplete' },
      'text/xml',
      /<Type>Sender<\/Type><Code>PriorRequestNotComplete<\/Code><Message>The request was rejected because Route 53 was still processing a prior request.<\/Message>/,
    ],
    [
      'JSON',
      { mode: 'error', status: 503, format: 'json', message: 'stats are down' },
      'application/json',
      /^\{"error":"Unavailable","message":"stats are down"\}$/,
    ],
  ])('error (%s): answers without reaching the upstream', async (_, fault, contentType, body) => {
    const path = `/error/${contentType}/${fault.mode === 'error' ? fault.status : ''}`;
    await client.setFault(LISTENER, fault);
    const before = (await status()).counters;

    const answer = await send(`${url}${path}`, { method: 'PUT', body: 'event' });

    expect(answer.status).toBe(fault.mode === 'error' && fault.status);
    expect(answer.headers['content-type']).toBe(contentType);
    expect(answer.body.toString()).toMatch(body);
    expect(Number(answer.headers['content-length'])).toBe(answer.body.length);
    expect(answer.headers['retry-after']).toBeUndefined();
    expect((await status()).counters).toMatchObject({
      forwarded: before.forwarded,
      faulted: before.faulted + 1,
    });
    expect(reached(path)).toBe(0);
  });

  it('error: sends Retry-After when asked to', async () => {
    await client.setFault(LISTENER, { mode: 'error', status: 503, format: 's3', retryAfterSeconds: 2 });
    const answer = await send(`${url}/retry-after`);
    expect(answer.status).toBe(503);
    expect(answer.headers['retry-after']).toBe('2');
  });

  it('error: refuses an Expect: 100-continue upload before the client sends its body', async () => {
    await client.setFault(LISTENER, { mode: 'error', status: 503, format: 's3' });
    const req = request(`${url}/expect-refused`, {
      method: 'PUT',
      agent: false,
      headers: { expect: '100-continue', 'content-length': 1024 },
      signal: AbortSignal.timeout(5_000),
    });
    let continued = false;
    req.on('continue', () => (continued = true));
    const answered = answerOf(req);
    req.flushHeaders();

    expect((await answered).status).toBe(503);
    expect(continued).toBe(false);
    expect(reached('/expect-refused')).toBe(0);
  });

  it('reset: the client sees a reset connection and the upstream nothing', async () => {
    await client.setFault(LISTENER, { mode: 'reset' });
    await expect(send(`${url}/reset`, { method: 'PUT', body: 'event' })).rejects.toMatchObject({
      code: 'ECONNRESET',
    });
    expect(reached('/reset')).toBe(0);
  });

  it('hang: never answers, so the client times out; once cleared, the next request passes', async () => {
    await client.setFault(LISTENER, { mode: 'hang' });
    await expect(send(`${url}/hang`, { timeoutMs: 300 })).rejects.toMatchObject({ name: 'AbortError' });
    expect(reached('/hang')).toBe(0);

    await client.clear(LISTENER);
    expect((await send(`${url}/hang`)).status).toBe(200);
    expect(reached('/hang')).toBe(1);
  });

  it('hang: changing the fault resets the requests held so far', async () => {
    await client.setFault(LISTENER, { mode: 'hang' });
    const faultedBefore = (await status()).counters.faulted;
    // The expectation is attached before the clear, so the reset is never an unhandled rejection.
    const held = expect(send(`${url}/held`)).rejects.toMatchObject({ code: 'ECONNRESET' });
    await eventually(
      'the proxy holds the request',
      async () => (await status()).counters.faulted > faultedBefore,
    );

    await client.clear(LISTENER);
    await held;
    expect(reached('/held')).toBe(0);
  });

  it('latency: forwards after latencyMs', async () => {
    await client.setFault(LISTENER, { mode: 'latency', latencyMs: 250 });
    const started = performance.now();
    const answer = await send(`${url}/slow`);
    expect(performance.now() - started).toBeGreaterThanOrEqual(250);
    expect(answer.status).toBe(200);
    expect(reached('/slow')).toBe(1);
  });

  it('lose-answer: the upstream gets the request exactly once, the client only a dropped connection', async () => {
    await client.setFault(LISTENER, { mode: 'lose-answer' });
    await expect(send(`${url}/lost`, { method: 'PUT', body: 'event' })).rejects.toMatchObject({
      code: 'ECONNRESET',
    });
    expect(upstream.received.filter((r) => r.url === '/lost')).toEqual([
      expect.objectContaining({ method: 'PUT', bytes: 'event'.length }),
    ]);
  });

  it('rewrite-pending: a GetChange answer says PENDING, with a Content-Length to match', async () => {
    await client.setFault(LISTENER, { mode: 'rewrite-pending', pathRegex: '^/change' });
    const answer = await send(`${url}/change`);
    expect(answer.status).toBe(200);
    expect(answer.body.toString()).toBe(
      INSYNC_CHANGE.replace('<Status>INSYNC</Status>', '<Status>PENDING</Status>'),
    );
    expect(Number(answer.headers['content-length'])).toBe(answer.body.length);

    await client.clear(LISTENER);
    expect((await send(`${url}/change`)).body.toString()).toBe(INSYNC_CHANGE);
  });

  it('count: applies to the next N matching requests, then the listener passes again', async () => {
    const set = await client.setFault(LISTENER, { mode: 'error', status: 500, format: 's3', count: 2 });
    expect(set.remaining).toBe(2);

    expect((await send(`${url}/counted`)).status).toBe(500);
    expect((await status()).remaining).toBe(1);
    expect((await send(`${url}/counted`)).status).toBe(500);
    expect(await status()).toMatchObject({ fault: { mode: 'pass' }, remaining: null });
    expect((await send(`${url}/counted`)).status).toBe(200);
    expect(reached('/counted')).toBe(1);
  });

  it('methods and pathRegex: only matching requests are faulted (and counted)', async () => {
    const set = await client.setFault(LISTENER, {
      mode: 'error',
      status: 503,
      format: 's3',
      methods: ['put'],
      pathRegex: '^/bucket-a/',
      count: 2,
    });
    expect(set.fault).toMatchObject({ methods: ['PUT'] });

    const statusOf = async (method: string, path: string): Promise<number> =>
      (await send(`${url}${path}`, { method, body: method === 'PUT' ? 'x' : undefined })).status;
    expect(await statusOf('GET', '/bucket-a/k')).toBe(200);
    expect(await statusOf('PUT', '/bucket-b/k')).toBe(200);
    expect(await statusOf('PUT', '/other/bucket-a/k')).toBe(200);
    expect((await status()).remaining).toBe(2);
    expect(await statusOf('PUT', '/bucket-a/k')).toBe(503);
    expect(await statusOf('PUT', '/bucket-a/k?x-id=PutObject')).toBe(503);
    expect(await statusOf('PUT', '/bucket-a/k')).toBe(200);
  });
});
