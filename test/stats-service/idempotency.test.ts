import { bucketsUrl, call, makeEvents, postEvents, startTestService, T0, type TestService } from './helpers';

const WINDOW = { granularity: 'hour' as const, from: '2024-03-01T00:00:00Z', to: '2024-03-02T00:00:00Z' };

async function storedCount(service: TestService): Promise<number> {
  const { body } = await call(bucketsUrl(service.url, WINDOW));
  return (body as { buckets: { count: number }[] }).buckets.reduce((sum, b) => sum + b.count, 0);
}

describe('stats service: idempotent ingest by event ID', () => {
  let service: TestService;
  beforeEach(async () => {
    service = await startTestService();
  });
  afterEach(async () => {
    await service.close();
  });

  it('counts a batch delivered several times once, and says which events were new', async () => {
    const batch = makeEvents(1000);
    expect((await postEvents(service.url, batch)).body).toEqual({ accepted: 1000, duplicates: 0 });
    for (let i = 0; i < 3; i++) {
      const again = await postEvents(service.url, batch);
      expect(again).toMatchObject({ status: 200, body: { accepted: 0, duplicates: 1000 } });
    }
    expect(await storedCount(service)).toBe(1000);

    // Half known, half new.
    const mixed = [...batch.slice(500), ...makeEvents(300, { prefix: 'more' })];
    expect((await postEvents(service.url, mixed)).body).toEqual({ accepted: 300, duplicates: 500 });
    expect(await storedCount(service)).toBe(1300);
  });

  it('counts the same batch sent concurrently once', async () => {
    const batch = makeEvents(2000);
    const answers = await Promise.all(Array.from({ length: 6 }, () => postEvents(service.url, batch)));
    const results = answers.map((a) => {
      expect(a.status).toBe(200);
      return a.body as { accepted: number; duplicates: number };
    });
    expect(results.reduce((sum, r) => sum + r.accepted, 0)).toBe(2000);
    expect(results.reduce((sum, r) => sum + r.duplicates, 0)).toBe(5 * 2000);
    expect(await storedCount(service)).toBe(2000);
  });

  it('counts an ID repeated within one batch once, even with different content', async () => {
    const [event] = makeEvents(1);
    const copy = { ...event!, type: 'conversion', timestamp: T0 };
    expect((await postEvents(service.url, [event, copy, event])).body).toEqual({
      accepted: 1,
      duplicates: 2,
    });
    expect(await storedCount(service)).toBe(1);
  });

  it('accepts an empty batch', async () => {
    expect((await postEvents(service.url, [])).body).toEqual({ accepted: 0, duplicates: 0 });
  });
});
