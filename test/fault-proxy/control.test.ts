import {
  FaultProxyClient,
  FaultProxyError,
  startFaultProxy,
  type FaultInput,
  type FaultProxy,
  type ListenerCounters,
} from '../../src/fault-proxy';
import { createLogger } from '../../src/util/logger';
import { send, startTestProxy, startUpstream, type TestUpstream } from './helpers';

describe('fault proxy control API', () => {
  let upstream: TestUpstream;
  let proxy: FaultProxy;
  let client: FaultProxyClient;

  beforeAll(async () => {
    upstream = await startUpstream();
    proxy = await startTestProxy({ 's3-us-east-1': upstream.url, 'stats-us-east-1': upstream.url });
    client = new FaultProxyClient(proxy.controlUrl);
  });
  afterAll(async () => {
    await proxy.close();
    await upstream.close();
  });

  const putFault = (listener: string, body: string): Promise<Response> =>
    fetch(`${proxy.controlUrl}/listeners/${listener}/fault`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body,
      signal: AbortSignal.timeout(5_000),
    });

  it('answers /health', async () => {
    const res = await fetch(`${proxy.controlUrl}/health`, { signal: AbortSignal.timeout(5_000) });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  it('lists every listener with its URL, upstream, fault and counters', async () => {
    expect(await client.list()).toEqual(
      ['s3-us-east-1', 'stats-us-east-1'].map((name) => ({
        name,
        url: proxy.listeners[name],
        upstream: upstream.url,
        fault: { mode: 'pass' },
        remaining: null,
        counters: { requests: 0, forwarded: 0, faulted: 0, upstreamErrors: 0 },
      })),
    );
  });

  it.each<[unknown, string]>([
    [{ mode: 'latency' }, 'latencyMs'],
    [{ mode: 'error', status: 200, format: 's3' }, 'status'],
    [{ mode: 'error', status: 503, format: 'xml' }, 'format'],
    [{ mode: 'error', status: 503, format: 's3', code: 'Slow Down' }, 'code'],
    [{ mode: 'explode' }, 'mode'],
    [{ mode: 'reset', cnt: 1 }, '"cnt"'],
    [{ mode: 'hang', count: 0 }, 'count'],
    [{ mode: 'reset', pathRegex: '(' }, 'pathRegex'],
    [{ mode: 'reset', methods: ['GET', 'NOT A METHOD'] }, 'methods.1'],
  ])('refuses %j with a 400 naming %s', async (fault, field) => {
    const res = await putFault('s3-us-east-1', JSON.stringify(fault));
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: string };
    expect(body.error).toMatch(/^invalid fault: /);
    expect(body.error).toContain(field);
  });

  it('refuses a body that is not JSON', async () => {
    const res = await putFault('s3-us-east-1', '{mode: reset}');
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toContain('JSON');
  });

  it('reports refusals through the client as FaultProxyError with the status and the reason', async () => {
    const invalid = client.setFault('s3-us-east-1', { mode: 'latency' } as FaultInput);
    await expect(invalid).rejects.toBeInstanceOf(FaultProxyError);
    await expect(invalid).rejects.toMatchObject({ name: 'FaultProxyError', status: 400 });
    await expect(invalid).rejects.toThrow('latencyMs');
    const unknown = client.setFault('s3-eu-west-9', { mode: 'reset' });
    await expect(unknown).rejects.toMatchObject({ status: 404 });
    await expect(unknown).rejects.toThrow(
      'unknown listener "s3-eu-west-9"; known: s3-us-east-1, stats-us-east-1',
    );
    await expect(client.clear('s3-eu-west-9')).rejects.toMatchObject({ status: 404 });
  });

  it('sets, shows and clears faults per listener and all at once', async () => {
    const set = await client.setFault('s3-us-east-1', { mode: 'hang', methods: ['put'], count: 3 });
    expect(set).toMatchObject({ fault: { mode: 'hang', methods: ['PUT'], count: 3 }, remaining: 3 });
    await client.setFault('stats-us-east-1', { mode: 'error', status: 503, format: 'json' });
    expect((await client.list()).map((l) => l.fault.mode)).toEqual(['hang', 'error']);

    expect(await client.clear('s3-us-east-1')).toMatchObject({ fault: { mode: 'pass' }, remaining: null });
    expect((await client.list()).map((l) => l.fault.mode)).toEqual(['pass', 'error']);

    expect((await client.clearAll()).map((l) => l.fault.mode)).toEqual(['pass', 'pass']);
  });

  it('counts requests, forwarded and faulted per listener', async () => {
    const url = proxy.listeners['stats-us-east-1']!;
    const counters = async (): Promise<ListenerCounters> =>
      (await client.list()).find((l) => l.name === 'stats-us-east-1')!.counters;
    const before = await counters();

    await send(`${url}/v1/events`, { method: 'POST', body: '[]' });
    await client.setFault('stats-us-east-1', { mode: 'error', status: 503, format: 'json', count: 1 });
    await send(`${url}/v1/events`, { method: 'POST', body: '[]' });
    await client.setFault('stats-us-east-1', { mode: 'latency', latencyMs: 1, count: 1 });
    await send(`${url}/v1/events`, { method: 'POST', body: '[]' });

    expect(await counters()).toEqual({
      requests: before.requests + 3,
      forwarded: before.forwarded + 2,
      faulted: before.faulted + 2,
      upstreamErrors: before.upstreamErrors,
    });
  });
});

describe('startFaultProxy options', () => {
  it.each<[string, Parameters<typeof startFaultProxy>[0], string]>([
    ['no listener', { controlPort: 0, listeners: [] }, 'listeners'],
    [
      'a duplicate name',
      {
        controlPort: 0,
        listeners: [
          { name: 'a', port: 0, upstream: 'http://127.0.0.1:1' },
          { name: 'a', port: 0, upstream: 'http://127.0.0.1:2' },
        ],
      },
      'listener names must be unique',
    ],
    [
      'an upstream with a path',
      { controlPort: 0, listeners: [{ name: 'a', port: 0, upstream: 'http://127.0.0.1:1/v1' }] },
      'listeners.0.upstream',
    ],
    [
      'a name unfit for a URL path',
      { controlPort: 0, listeners: [{ name: 'a/b', port: 0, upstream: 'http://127.0.0.1:1' }] },
      'listeners.0.name',
    ],
  ])('refuses %s', async (_, options, field) => {
    await expect(startFaultProxy(options)).rejects.toThrow(field);
  });

  // A listener left open here would keep jest from exiting, which the suite's clean exit rules out.
  it('fails on a taken port, closing the listeners it had started', async () => {
    const upstream = await startUpstream();
    const first = await startTestProxy({ a: upstream.url });
    const taken = Number(new URL(first.listeners.a!).port);
    try {
      await expect(
        startFaultProxy({
          controlPort: 0,
          logger: createLogger('fault-proxy', 'silent'),
          listeners: [
            { name: 'free', port: 0, upstream: upstream.url },
            { name: 'taken', port: taken, upstream: upstream.url },
          ],
        }),
      ).rejects.toMatchObject({ code: 'EADDRINUSE' });
    } finally {
      await first.close();
      await upstream.close();
    }
  });
});
