import { waitUntil } from '../../src/util/waitUntil';
import { testConfig } from '../helpers/env';
import { makeEvents, ndjson, postEvents, startPipeline, type Pipeline } from '../helpers/pipeline';
import { statsHour } from '../helpers/verify';

describe('ingest refuses bad input clearly and keeps the good records of the same request', () => {
  let p: Pipeline;
  beforeAll(async () => {
    const base = testConfig();
    p = await startPipeline({ ...base, ingest: { ...base.ingest, bodyLimitBytes: 256 * 1024 } });
  });
  afterAll(() => p.stop());

  const post = (body: string, contentType?: string) => postEvents(p, body, contentType);

  it('names each bad NDJSON record by index and field; the good ones are archived and counted', async () => {
    const [good1, good2, noType, badTime] = makeEvents(4);
    const { type: _dropped, ...missingType } = noType!;
    const lines = [
      JSON.stringify(good1),
      '{"id": "broken", ',
      JSON.stringify(missingType),
      JSON.stringify({
        ...badTime,
        timestamp: 'yesterday',
        attributes: {
          blob: 'x'.repeat(1000),
          more: 'y'.repeat(1000),
          evenMore: 'z'.repeat(1000),
          last: 'w'.repeat(1000),
          over: 'v'.repeat(200),
        },
      }),
      JSON.stringify({ ...good2, region: 'eu-north-9' }),
      JSON.stringify(good2),
    ];
    const { status, body } = await post(lines.join('\n'));
    expect(status).toBe(200);
    expect(body.accepted).toBe(2);
    expect(body.rejected).toEqual([
      { index: 1, field: '(record)', reason: expect.stringMatching(/^invalid JSON/) },
      { index: 2, field: 'type', reason: expect.any(String) },
      { index: 3, field: 'timestamp', reason: expect.any(String) },
      { index: 3, field: 'attributes', reason: expect.stringMatching(/exceed 4096 bytes/) },
      { index: 4, field: 'region', reason: expect.stringMatching(/unknown region eu-north-9/) },
    ]);
    // Delivery follows the answer: wait for it, then the count must be the two valid records, no more.
    await waitUntil(
      async () => (await statsHour(p.config, 'us-east-1', good1!.timestamp))?.count === 2,
      30_000,
    );
    expect(await statsHour(p.config, 'us-east-1', good1!.timestamp)).toMatchObject({ count: 2 });
  });

  it('refuses a request without one valid record with 400 and accepts nothing', async () => {
    const [e] = makeEvents(1);
    const { status, body } = await post(
      JSON.stringify([{ ...e, id: '' }, { hello: 'world' }]),
      'application/json',
    );
    expect(status).toBe(400);
    expect(body.error).toBe('NoValidEvents');
    expect(body.rejected!.map((r) => [r.index, r.field])).toEqual(
      expect.arrayContaining([
        [0, 'id'],
        [1, 'id'],
        [1, '(record)'],
      ]),
    );
    expect(await statsHour(p.config, 'us-east-1', e!.timestamp)).toBeUndefined();
  });

  it.each([
    ['an empty NDJSON body', '', 'application/x-ndjson', 400, 'EmptyBody'],
    ['an empty JSON body', '', 'application/json', 400, 'EmptyBody'],
    ['an empty JSON array', '[]', 'application/json', 400, 'EmptyBody'],
    ['malformed JSON', '[{"id": ', 'application/json', 400, 'InvalidJson'],
    ['a JSON object without events', '{"hello": 1}', 'application/json', 400, 'InvalidBody'],
    ['a body over the limit', ndjson(makeEvents(1200)), 'application/x-ndjson', 413, 'BodyTooLarge'],
    ['an unsupported content type', 'id=1', 'text/csv', 415, 'UnsupportedMediaType'],
  ])('answers %s with a clear %i', async (_what, body, type, status, error) => {
    const res = await post(body, type);
    expect(res).toMatchObject({ status, body: { error, message: expect.any(String) } });
  });
});

describe('ingest refuses timestamps outside its window, naming the record and the setting', () => {
  let p: Pipeline;
  beforeAll(async () => {
    const base = testConfig();
    // The production window (a week back, an hour ahead); the test stack's own is a century wide.
    p = await startPipeline({
      ...base,
      ingest: { ...base.ingest, timestampWindow: { maxAgeMs: 7 * 24 * 3_600_000, maxFutureMs: 3_600_000 } },
    });
  });
  afterAll(() => p.stop());

  it('refuses an event from 1970 and one from 9999, keeps the one of now', async () => {
    const [now, old, future] = makeEvents(3, 'us-east-1');
    const events = [
      { ...now!, timestamp: new Date().toISOString() },
      { ...old!, timestamp: '1970-01-01T00:00:00Z' },
      { ...future!, timestamp: '9999-12-31T23:00:00Z' },
    ];
    const { status, body } = await postEvents(p, ndjson(events));
    expect(status).toBe(200);
    expect(body.accepted).toBe(1);
    expect(body.rejected).toEqual([
      {
        index: 1,
        field: 'timestamp',
        reason: expect.stringMatching(
          /^1970-01-01T00:00:00Z is older than the accepted 168 h \(ingest\.timestampWindow\.maxAgeMs\)$/,
        ),
      },
      {
        index: 2,
        field: 'timestamp',
        reason: expect.stringMatching(
          /ahead of the ingest's clock \(ingest\.timestampWindow\.maxFutureMs\)$/,
        ),
      },
    ]);
    expect(await statsHour(p.config, 'us-east-1', '1970-01-01T00:00:00Z')).toBeUndefined();
  });
});
