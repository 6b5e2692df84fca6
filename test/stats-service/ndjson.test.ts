import { gzipSync } from 'node:zlib';
import { bucketsUrl, call, makeEvents, servicesPerTest, stringWith, type TestService } from './helpers';

const DAY = { granularity: 'hour' as const, from: '2024-03-01T00:00:00Z', to: '2024-03-02T00:00:00Z' };

const ndjson = (events: unknown[]): string => events.map((e) => JSON.stringify(e)).join('\n') + '\n';

/** A POST of raw bytes with the given headers; every answer of the service is JSON. */
async function post(
  service: TestService,
  body: Uint8Array | string,
  headers: Record<string, string>,
): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${service.url}/v1/events`, {
    method: 'POST',
    headers,
    body,
    signal: AbortSignal.timeout(10_000),
  });
  return { status: res.status, body: await res.json() };
}

const GZIP_NDJSON = { 'content-type': 'application/x-ndjson', 'content-encoding': 'gzip' };

/** The events counted in the day's buckets: what was stored, whatever the body's form. */
async function counted(service: TestService): Promise<number> {
  const { body } = await call(bucketsUrl(service.url, DAY));
  return (body as { buckets: { count: number }[] }).buckets.reduce((n, b) => n + b.count, 0);
}

describe('stats service: NDJSON and gzip bodies (an archive object posted as it is)', () => {
  const start = servicesPerTest();

  it('stores gzip NDJSON, plain NDJSON and gzip JSON like JSON, idempotently by event ID', async () => {
    const service = await start();
    const events = makeEvents(30);
    const first = events.slice(0, 10);
    expect(await post(service, gzipSync(ndjson(first)), GZIP_NDJSON)).toEqual({
      status: 200,
      body: { accepted: 10, duplicates: 0 },
    });
    // The same bytes again: nothing new.
    expect(await post(service, gzipSync(ndjson(first)), GZIP_NDJSON)).toEqual({
      status: 200,
      body: { accepted: 0, duplicates: 10 },
    });
    // Without a trailing newline, and without encoding.
    expect(
      await post(service, ndjson(events.slice(10, 20)).trimEnd(), { 'content-type': 'application/x-ndjson' }),
    ).toEqual({ status: 200, body: { accepted: 10, duplicates: 0 } });
    expect(
      await post(service, gzipSync(JSON.stringify({ events: events.slice(15) })), {
        'content-type': 'application/json',
        'content-encoding': 'gzip',
      }),
    ).toEqual({ status: 200, body: { accepted: 10, duplicates: 5 } });
    expect(await counted(service)).toBe(30);
  });

  it('400 names the line of every bad record (0-based index) and stores nothing', async () => {
    const service = await start();
    const events: Record<string, unknown>[] = makeEvents(6);
    delete events[4]!.offerId;
    const schemaBad = await post(service, gzipSync(ndjson(events)), GZIP_NDJSON);
    expect(schemaBad).toMatchObject({
      status: 400,
      body: { error: 'ValidationFailed', details: [{ index: 4, field: 'offerId' }] },
    });
    const lines = ndjson(makeEvents(6)).split('\n');
    lines[2] = '{"id": "evt-000002", ';
    const notJson = await post(service, gzipSync(lines.join('\n')), GZIP_NDJSON);
    expect(notJson).toMatchObject({
      status: 400,
      body: {
        error: 'ValidationFailed',
        details: [{ index: 2, field: '(event)', reason: stringWith('is not JSON') }],
      },
    });
    expect(await counted(service)).toBe(0);
  });

  it('400 for more than 5,000 lines and for bytes that are not gzip; 415 for another encoding', async () => {
    const service = await start();
    expect(await post(service, gzipSync(ndjson(makeEvents(5001))), GZIP_NDJSON)).toMatchObject({
      status: 400,
      body: { details: [{ field: 'events' }] },
    });
    expect(await post(service, ndjson(makeEvents(2)), GZIP_NDJSON)).toMatchObject({
      status: 400,
      body: { error: 'BadRequest', message: stringWith('gzip') },
    });
    expect(
      await post(service, ndjson(makeEvents(2)), {
        'content-type': 'application/x-ndjson',
        'content-encoding': 'br',
      }),
    ).toMatchObject({ status: 415, body: { error: 'UnsupportedMediaType', message: stringWith('"br"') } });
    expect(await counted(service)).toBe(0);
  });

  it('413 when the decoded body exceeds the limit, however small the gzip', async () => {
    const service = await start({ bodyLimitBytes: 64 * 1024 });
    // About 150 KiB of NDJSON that compresses below the limit.
    const body = gzipSync(ndjson(makeEvents(1000)));
    expect(body.length).toBeLessThan(64 * 1024);
    expect(await post(service, body, GZIP_NDJSON)).toMatchObject({
      status: 413,
      body: { error: 'PayloadTooLarge' },
    });
    expect(await post(service, gzipSync(ndjson(makeEvents(10))), GZIP_NDJSON)).toMatchObject({
      status: 200,
    });
  });
});
