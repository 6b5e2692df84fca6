import { unusedPort } from '../helpers/ports';
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { FaultProxyClient, type FaultProxy } from '../../src/fault-proxy';
import {
  answerOf,
  downloadBytes,
  eventually,
  send,
  sha256,
  startTestProxy,
  startUpstream,
  withoutConnection,
  type TestUpstream,
} from './helpers';

const MiB = 1024 * 1024;

describe('fault proxy forwarding (pass)', () => {
  let upstream: TestUpstream;
  let proxy: FaultProxy;
  let url: string;

  beforeAll(async () => {
    upstream = await startUpstream();
    proxy = await startTestProxy({ 's3-test': upstream.url });
    url = proxy.listeners['s3-test']!;
  });
  afterAll(async () => {
    await proxy.close();
    await upstream.close();
  });

  it('forwards method, path, query and every header as sent (case, order, duplicates, Host)', async () => {
    const path = '/bucket/key%20one?x-id=PutObject&a=1&a=2';
    // Raw pairs: sent exactly like this, with the signed Host of the listener's client, not the upstream's.
    const sent = [
      'Host',
      'bucket-host.example:4611',
      'X-Amz-Date',
      '20170228T173700Z',
      'Authorization',
      'AWS4-HMAC-SHA256 Credential=AKID/20170228/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=ab',
      'x-custom',
      'one',
      'X-Custom',
      'two',
      'Content-Length',
      '5',
    ];
    const answer = await send(`${url}${path}`, { method: 'PUT', headers: sent, body: 'hello' });

    expect(answer.status).toBe(200);
    const seen = upstream.received.find((r) => r.url === path)!;
    expect(seen).toMatchObject({ method: 'PUT', bytes: 5, sha256: sha256(Buffer.from('hello')) });
    expect(withoutConnection(seen.rawHeaders)).toEqual(sent);
    expect(withoutConnection(answer.rawHeaders)).toEqual(
      expect.arrayContaining(['X-Upstream-Note', 'first', 'X-Upstream-Note', 'second']),
    );
  });

  it('streams an upload: the upstream has its start before the client sends the rest', async () => {
    const body = randomBytes(5 * MiB);
    const before = upstream.bodyBytes();
    const req = request(`${url}/upload`, {
      method: 'PUT',
      agent: false,
      signal: AbortSignal.timeout(10_000),
    });
    const answered = answerOf(req);
    req.write(body.subarray(0, MiB));
    await eventually('the upstream received the first MiB', () => upstream.bodyBytes() - before >= MiB);
    req.end(body.subarray(MiB));

    const answer = await answered;
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body.toString())).toMatchObject({ bytes: body.length, sha256: sha256(body) });
  });

  it('streams a download: the client has its start before the upstream sends the rest', async () => {
    const size = 4 * MiB;
    // The upstream holds back everything after its first chunk until the client has received that chunk.
    const req = request(`${url}/download?bytes=${size}&gated`, {
      agent: false,
      signal: AbortSignal.timeout(10_000),
    });
    req.on('response', (res) => res.once('data', () => upstream.openGate()));
    const answered = answerOf(req);
    req.end();

    const answer = await answered;
    expect(answer.status).toBe(200);
    expect(sha256(answer.body)).toBe(sha256(downloadBytes(size)));
  });

  it('relays 100 Continue, so an Expect: 100-continue client sends its body after the upstream agreed', async () => {
    const body = randomBytes(MiB);
    const req = request(`${url}/expect`, {
      method: 'PUT',
      agent: false,
      headers: { expect: '100-continue', 'content-length': body.length },
      signal: AbortSignal.timeout(10_000),
    });
    const answered = answerOf(req);
    req.on('continue', () => req.end(body));
    req.flushHeaders();

    const answer = await answered;
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body.toString())).toMatchObject({ bytes: body.length, sha256: sha256(body) });
  });
});

describe('fault proxy upstream failures', () => {
  let upstream: TestUpstream;
  let proxy: FaultProxy;
  let client: FaultProxyClient;

  beforeAll(async () => {
    upstream = await startUpstream();
    proxy = await startTestProxy(
      { 'stats-down': `http://127.0.0.1:${await unusedPort()}`, 'stats-slow': upstream.url },
      300,
    );
    client = new FaultProxyClient(proxy.controlUrl);
  });
  afterAll(async () => {
    await proxy.close();
    await upstream.close();
  });

  it('answers 502 naming the listener when the upstream refuses connections', async () => {
    const answer = await send(`${proxy.listeners['stats-down']}/v1/events`, { method: 'POST', body: '[]' });

    expect(answer.status).toBe(502);
    const body = JSON.parse(answer.body.toString()) as { error: string; message: string };
    expect(body.error).toBe('BadGateway');
    expect(body.message).toMatch(/^fault proxy listener stats-down: upstream failed: .*ECONNREFUSED/);
  });

  it('answers AWS-signed requests with an XML 502 the SDKs can parse', async () => {
    const answer = await send(`${proxy.listeners['stats-down']}/bucket/key`, {
      headers: { authorization: 'AWS4-HMAC-SHA256 Credential=AKID/20170228/us-east-1/s3/aws4_request' },
    });

    expect(answer.status).toBe(502);
    expect(answer.headers['content-type']).toBe('application/xml');
    expect(answer.body.toString()).toMatch(
      /<Error><Code>BadGateway<\/Code><Message>fault proxy listener stats-down: upstream failed: /,
    );
  });

  it('answers 502 when the upstream stays silent longer than the upstream timeout', async () => {
    const started = performance.now();
    const answer = await send(`${proxy.listeners['stats-slow']}/stall`);

    expect(answer.status).toBe(502);
    expect(performance.now() - started).toBeGreaterThanOrEqual(300);
    expect((JSON.parse(answer.body.toString()) as { message: string }).message).toContain(
      'fault proxy listener stats-slow: upstream failed: no data from',
    );
    const counters = Object.fromEntries((await client.list()).map((l) => [l.name, l.counters]));
    expect(counters).toEqual({
      'stats-down': { requests: 2, forwarded: 2, faulted: 0, upstreamErrors: 2 },
      'stats-slow': { requests: 1, forwarded: 1, faulted: 0, upstreamErrors: 1 },
    });
  });
});
