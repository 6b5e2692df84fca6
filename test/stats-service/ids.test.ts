import { call, makeEvents, postEvents, startTestService, type TestService } from './helpers';

interface IdPage {
  ids: string[];
  nextCursor: string | null;
}

describe('stats service: listing a bucket’s IDs', () => {
  let service: TestService;
  beforeEach(async () => {
    service = await startTestService();
  });
  afterEach(async () => {
    await service.close();
  });

  async function page(bucket: string, limit: number, cursor: string | null): Promise<IdPage> {
    const query = new URLSearchParams({ limit: String(limit) });
    if (cursor !== null) query.set('cursor', cursor);
    const res = await call(`${service.url}/v1/buckets/${bucket}/ids?${query.toString()}`);
    expect(res.status).toBe(200);
    return res.body as IdPage;
  }

  /** Walks all pages; `between` runs after each page, to change the bucket while it is being listed. */
  async function listAll(bucket: string, limit: number, between?: (pageNo: number) => Promise<void>) {
    const pages: string[][] = [];
    let cursor: string | null = null;
    do {
      const p = await page(bucket, limit, cursor);
      pages.push(p.ids);
      cursor = p.nextCursor;
      await between?.(pages.length);
    } while (cursor !== null);
    return pages;
  }

  it('returns every ID exactly once, in (minute, ID) order, over pages of 300', async () => {
    // 2,500 events one second apart from 10:00:00Z: all in the 10:00 hour.
    const events = makeEvents(2500);
    await postEvents(service.url, events.slice(0, 1250));
    await postEvents(service.url, events.slice(1250));

    const pages = await listAll('us-east-1/hour/2024-03-01T10:00:00Z', 300);
    expect(pages.map((p) => p.length)).toEqual([300, 300, 300, 300, 300, 300, 300, 300, 100]);
    const ids = pages.flat();
    expect(ids).toEqual(events.map((e) => e.id).sort());

    const minute = (await listAll('us-east-1/minute/2024-03-01T10:05:00Z', 25)).flat();
    expect(minute).toEqual(events.slice(300, 360).map((e) => e.id));
  });

  it('is stable while events are added and deleted between pages', async () => {
    const original = makeEvents(1000).map((e) => ({ ...e, id: `m-${e.id}` }));
    await postEvents(service.url, original);
    const listed = await listAll('us-east-1/hour/2024-03-01T10:00:00Z', 300, async (pageNo) => {
      // Entries behind and ahead of the cursor (first and last minute of the hour), and the deletion of
      // one already listed.
      await postEvents(service.url, [
        { ...original[0]!, id: `a-behind-${pageNo}`, timestamp: '2024-03-01T10:00:00Z' },
        { ...original[0]!, id: `a-ahead-${pageNo}`, timestamp: '2024-03-01T10:59:59Z' },
      ]);
      if (pageNo === 1) await call(`${service.url}/v1/events/${original[0]!.id}`, { method: 'DELETE' });
    });
    const ids = listed.flat();
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.filter((id) => id.startsWith('m-'))).toEqual(original.map((e) => e.id));
    // Added behind the cursor: never seen. Added ahead of it while the listing went on: seen, once.
    expect(ids.filter((id) => id.startsWith('a-behind-'))).toEqual([]);
    expect(ids.filter((id) => id.startsWith('a-ahead-')).sort()).toEqual(
      Array.from({ length: listed.length - 1 }, (_, i) => `a-ahead-${i + 1}`).sort(),
    );
  });

  it('returns an empty last page only for an empty bucket, and rejects bad cursors and limits', async () => {
    expect(await page('us-east-1/minute/2024-03-01T10:00:00Z', 10, null)).toEqual({
      ids: [],
      nextCursor: null,
    });
    await postEvents(service.url, makeEvents(10));
    const full = await page('us-east-1/minute/2024-03-01T10:00:00Z', 10, null);
    expect(full.ids).toHaveLength(10);
    expect(full.nextCursor).toBeNull();

    const bad = await call(`${service.url}/v1/buckets/us-east-1/minute/2024-03-01T10:00:00Z/ids?cursor=JSQl`);
    expect(bad).toMatchObject({ status: 400, body: { details: [{ field: 'cursor' }] } });
    const tooMany = await call(
      `${service.url}/v1/buckets/us-east-1/minute/2024-03-01T10:00:00Z/ids?limit=10001`,
    );
    expect(tooMany).toMatchObject({ status: 400, body: { details: [{ field: 'limit' }] } });
    const misaligned = await call(`${service.url}/v1/buckets/us-east-1/hour/2024-03-01T10:00:01Z/ids`);
    expect(misaligned).toMatchObject({ status: 400, body: { details: [{ field: 'start' }] } });
  });
});
