import {
  bucketsUrl,
  call,
  anyString,
  makeEvents,
  postEvents,
  saturate,
  servicesPerTest,
  stringWith,
} from './helpers';

const DAY = { granularity: 'hour' as const, from: '2024-03-01T00:00:00Z', to: '2024-03-02T00:00:00Z' };

describe('stats service: errors', () => {
  const start = servicesPerTest();

  it('400 names the index and field of every bad record and stores nothing', async () => {
    const service = await start();
    const events: Record<string, unknown>[] = makeEvents(12);
    events[3] = { ...events[3], timestamp: '2024-03-01 10:00:03' };
    delete events[7]!.offerId;
    events[9] = { ...events[9], colour: 'red', type: 'view' };
    events[11] = { ...events[11], attributes: { nested: { not: 'allowed' } } };

    const res = await postEvents(service.url, events);
    expect(res.status).toBe(400);
    const body = res.body as { error: string; message: string; details: { index?: number; field: string }[] };
    expect(body.error).toBe('ValidationFailed');
    expect(body.details.map((d) => `${d.index}:${d.field}`).sort()).toEqual(
      ['3:timestamp', '7:offerId', '9:colour', '9:type', '11:attributes.nested'].sort(),
    );
    expect(body.details.every((d) => typeof (d as { reason?: unknown }).reason === 'string')).toBe(true);
    expect((await call(bucketsUrl(service.url, DAY))).body).toEqual({ buckets: [] });
  });

  it('400 also for what a JSON schema cannot check: the attributes, serialized, past 4,096 bytes', async () => {
    const service = await start();
    const events: Record<string, unknown>[] = makeEvents(3);
    // Every value is within the per-value limit, together they exceed 4,096 bytes.
    events[1] = {
      ...events[1],
      attributes: Object.fromEntries('abcde'.split('').map((k) => [k, 'x'.repeat(1000)])),
    };
    const res = await postEvents(service.url, events);
    expect(res).toMatchObject({
      status: 400,
      body: { details: [{ index: 1, field: 'attributes', reason: stringWith('4096 bytes') }] },
    });
  });

  it('400 for a timestamp of the right shape on a day that does not exist', async () => {
    const service = await start();
    const events: Record<string, unknown>[] = makeEvents(2);
    events[0] = { ...events[0], timestamp: '2026-02-30T10:00:00Z' };
    const res = await postEvents(service.url, events);
    expect(res).toMatchObject({ status: 400, body: { details: [{ index: 0, field: 'timestamp' }] } });
    expect((await call(bucketsUrl(service.url, DAY))).body).toEqual({ buckets: [] });
  });

  it('400 for more than 5,000 events, malformed JSON and a missing body', async () => {
    const service = await start();
    const big = await postEvents(service.url, makeEvents(5001));
    expect(big).toMatchObject({ status: 400, body: { details: [{ field: 'events' }] } });
    expect(big.body).not.toHaveProperty('details.0.index');
    expect(await call(`${service.url}/v1/events`, { rawBody: '{"events": [' })).toMatchObject({
      status: 400,
      body: { error: 'BadRequest' },
    });
    expect(await call(`${service.url}/v1/events`, { body: {} })).toMatchObject({
      status: 400,
      body: { details: [{ field: 'events' }] },
    });
  });

  it('413 when the body exceeds the limit', async () => {
    const service = await start({ bodyLimitBytes: 64 * 1024 });
    const res = await postEvents(service.url, makeEvents(1000));
    expect(res).toMatchObject({ status: 413, body: { error: 'PayloadTooLarge' } });
    expect((await postEvents(service.url, makeEvents(10))).status).toBe(200);
  });

  it('401 without the right bearer token, except for health', async () => {
    const token = 's3cret-token';
    const service = await start({ token });
    const events = makeEvents(5);
    expect(await postEvents(service.url, events)).toMatchObject({
      status: 401,
      body: { error: 'Unauthorized' },
    });
    expect(await postEvents(service.url, events, 'wrong')).toMatchObject({ status: 401 });
    expect(await call(bucketsUrl(service.url, DAY), { token: `${token}x` })).toMatchObject({ status: 401 });
    expect(await call(`${service.url}/v1/events/x`, { method: 'DELETE' })).toMatchObject({ status: 401 });
    expect(await call(`${service.url}/v1/health`)).toMatchObject({ status: 200, body: { status: 'ok' } });
    expect(await postEvents(service.url, events, token)).toMatchObject({
      status: 200,
      body: { accepted: 5 },
    });
  });

  it('503 with Retry-After when more than maxInFlight requests are in progress', async () => {
    const service = await start({ maxInFlight: 1 });
    const { shed, held } = await saturate(service.url, async () => {
      const res = await call(bucketsUrl(service.url, DAY));
      return res.status === 503 ? res : undefined;
    });
    expect(shed.headers.get('retry-after')).toBe('1');
    expect(shed.body).toEqual({ error: 'Overloaded', message: anyString });
    // The request in progress completes normally and frees its slot.
    expect(await held.release()).toBe(200);
    expect((await call(bucketsUrl(service.url, DAY))).status).toBe(200);
  });

  it('answers JSON for unknown routes and non-JSON bodies', async () => {
    const service = await start();
    expect(await call(`${service.url}/v2/nothing`)).toMatchObject({
      status: 404,
      body: { error: 'NotFound' },
    });
    const text = await fetch(`${service.url}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'hello',
      signal: AbortSignal.timeout(10_000),
    });
    expect(text.status).toBe(415);
    expect(await text.json()).toMatchObject({ error: 'UnsupportedMediaType' });
  });
});
