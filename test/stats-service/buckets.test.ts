import { EMPTY_DIGEST, IdDigest } from '../../src/archive/idDigest';
import type { Bucket } from '../../src/stats-service/contract';
import { bucketsUrl, call, makeEvents, postEvents, startTestService, type TestService } from './helpers';

const DAY = { from: '2024-03-01T00:00:00Z', to: '2024-03-02T00:00:00Z' };

describe('stats service: bucket counts and digests', () => {
  let service: TestService;
  beforeEach(async () => {
    service = await startTestService();
  });
  afterEach(async () => {
    await service.close();
  });

  async function buckets(q: { granularity: 'minute' | 'hour'; from: string; to: string; region?: string }) {
    const res = await call(bucketsUrl(service.url, q));
    expect(res.status).toBe(200);
    return (res.body as { buckets: Bucket[] }).buckets;
  }

  async function minuteBucket(start: string): Promise<Bucket | undefined> {
    return (await buckets({ granularity: 'minute', ...DAY })).find((b) => b.start === start);
  }

  it('changes the digest exactly when the set of IDs changes', async () => {
    const start = '2024-03-01T10:00:00.000Z';
    const [a, b, c] = makeEvents(3); // all within 10:00
    await postEvents(service.url, [a, b]);
    const before = await minuteBucket(start);
    expect(before).toEqual({
      region: 'us-east-1',
      granularity: 'minute',
      start,
      count: 2,
      capExceeded: 0,
      digest: IdDigest.of([a!.id, b!.id]).toHex(),
    });

    await postEvents(service.url, [c]);
    const added = await minuteBucket(start);
    expect(added?.count).toBe(3);
    expect(added?.digest).not.toBe(before?.digest);
    expect(added?.digest).toBe(IdDigest.of([a!.id, b!.id, c!.id]).toHex());

    await postEvents(service.url, [c, a]);
    expect(await minuteBucket(start)).toEqual(added);

    expect((await call(`${service.url}/v1/events/${c!.id}`, { method: 'DELETE' })).body).toEqual({
      deleted: true,
    });
    expect(await minuteBucket(start)).toEqual(before);
    expect((await call(`${service.url}/v1/events/${c!.id}`, { method: 'DELETE' })).body).toEqual({
      deleted: false,
    });
    expect(await minuteBucket(start)).toEqual(before);

    // Emptied buckets disappear instead of showing count 0 (whose digest would be EMPTY_DIGEST).
    await call(`${service.url}/v1/events/${a!.id}`, { method: 'DELETE' });
    await call(`${service.url}/v1/events/${b!.id}`, { method: 'DELETE' });
    expect(await minuteBucket(start)).toBeUndefined();
    await postEvents(service.url, [a]);
    expect((await minuteBucket(start))?.digest).toBe(IdDigest.of([a!.id]).toHex());
    expect((await minuteBucket(start))?.digest).not.toBe(EMPTY_DIGEST);
  });

  it('builds hour buckets from their minutes and buckets by the UTC time of the timestamp', async () => {
    // 7,200 s from 10:00Z: two hours, 120 minutes of 60 events.
    const events = makeEvents(7200);
    for (let i = 0; i < events.length; i += 2000) await postEvents(service.url, events.slice(i, i + 2000));
    // 12:30+02:00 is 10:30Z.
    const shifted = { ...events[0]!, id: 'offset-1', timestamp: '2024-03-01T12:30:15+02:00' };
    await postEvents(service.url, [shifted]);

    const minutes = await buckets({ granularity: 'minute', ...DAY });
    expect(minutes).toHaveLength(120);
    expect(minutes.find((b) => b.start === '2024-03-01T10:30:00.000Z')?.count).toBe(61);

    const hours = await buckets({ granularity: 'hour', ...DAY });
    const idsIn = (hour: number) =>
      [...events, shifted].filter((e) => new Date(e.timestamp).getUTCHours() === hour).map((e) => e.id);
    expect(hours).toEqual([
      {
        region: 'us-east-1',
        granularity: 'hour',
        start: '2024-03-01T10:00:00.000Z',
        count: 3601,
        capExceeded: 0,
        digest: IdDigest.of(idsIn(10)).toHex(),
      },
      {
        region: 'us-east-1',
        granularity: 'hour',
        start: '2024-03-01T11:00:00.000Z',
        count: 3600,
        capExceeded: 0,
        digest: IdDigest.of(idsIn(11)).toHex(),
      },
    ]);
    // An hour's digest is the merge of its minutes' digests.
    const merged = new IdDigest();
    for (const m of minutes.filter((b) => b.start.startsWith('2024-03-01T11:'))) merged.merge(m.digest);
    expect(merged.toHex()).toBe(hours[1]?.digest);
  });

  it('counts events judged past a cap apart, in and out of their bucket', async () => {
    const start = '2024-03-01T10:00:00.000Z';
    const [a, b, c] = makeEvents(3);
    await postEvents(service.url, [
      { ...a!, capStatus: 'within', capId: 'cap-1', capHolder: 'us-east-1/ingest-1' },
      { ...b!, capStatus: 'exceeded', capId: 'cap-1', capHolder: 'us-east-1/ingest-1' },
      { ...c!, capStatus: 'exceeded', capId: 'cap-1', capHolder: 'us-east-1/ingest-1' },
    ]);
    expect(await minuteBucket(start)).toMatchObject({ count: 3, capExceeded: 2 });
    await postEvents(service.url, [{ ...b!, capStatus: 'exceeded', capId: 'cap-1' }]); // a resend
    expect(await minuteBucket(start)).toMatchObject({ count: 3, capExceeded: 2 });
    await call(`${service.url}/v1/events/${b!.id}`, { method: 'DELETE' });
    expect(await minuteBucket(start)).toMatchObject({ count: 2, capExceeded: 1 });
    const refused = await postEvents(service.url, [{ ...a!, id: 'x-1', capStatus: 'maybe' }]);
    expect(refused.status).toBe(400);
  });

  it('includes from, excludes to, and filters by region', async () => {
    await postEvents(service.url, makeEvents(180, { prefix: 'east' })); // 10:00, 10:01, 10:02
    await postEvents(service.url, makeEvents(60, { prefix: 'west', region: 'eu-west-1' })); // 10:00

    const window = {
      granularity: 'minute' as const,
      from: '2024-03-01T10:01:00Z',
      to: '2024-03-01T10:02:00Z',
    };
    expect((await buckets(window)).map((b) => `${b.region} ${b.start}`)).toEqual([
      'us-east-1 2024-03-01T10:01:00.000Z',
    ]);
    const all = await buckets({
      granularity: 'minute',
      from: '2024-03-01T10:00:00Z',
      to: '2024-03-01T11:00:00Z',
    });
    expect(all.map((b) => `${b.region} ${b.start} ${b.count}`)).toEqual([
      'eu-west-1 2024-03-01T10:00:00.000Z 60',
      'us-east-1 2024-03-01T10:00:00.000Z 60',
      'us-east-1 2024-03-01T10:01:00.000Z 60',
      'us-east-1 2024-03-01T10:02:00.000Z 60',
    ]);
    const west = await buckets({ granularity: 'hour', ...DAY, region: 'eu-west-1' });
    expect(west).toEqual([expect.objectContaining({ region: 'eu-west-1', count: 60 })]);
  });

  it('rejects windows that are not aligned to the granularity or empty', async () => {
    const misaligned = await call(
      bucketsUrl(service.url, { granularity: 'hour', from: '2024-03-01T10:30:00Z', to: DAY.to }),
    );
    expect(misaligned).toMatchObject({
      status: 400,
      body: {
        error: 'ValidationFailed',
        details: [{ field: 'from', reason: 'must be aligned to a whole hour' }],
      },
    });
    const backwards = await call(
      bucketsUrl(service.url, { granularity: 'minute', from: DAY.to, to: DAY.from }),
    );
    expect(backwards).toMatchObject({ status: 400, body: { details: [{ field: 'to' }] } });
    const typo = await call(`${bucketsUrl(service.url, { granularity: 'hour', ...DAY })}&regoin=us-east-1`);
    expect(typo).toMatchObject({ status: 400, body: { details: [{ field: 'regoin' }] } });
  });
});
