import { RecentIds } from '../../src/client/recentIds';

describe('RecentIds (the judgements an ingest remembers for resends)', () => {
  it('finds every ID it holds, exactly, and no other', () => {
    const recent = new RecentIds(20_000);
    const ids = Array.from({ length: 10_000 }, (_, i) => `run-${i % 97}-${i}`);
    ids.forEach((id, i) => recent.set(id, i % 7));
    ids.forEach((id, i) => expect(recent.get(id)).toBe(i % 7));
    // Same lengths and prefixes, not held: no false hit.
    expect(recent.get('run-0-10000')).toBe(-1);
    expect(recent.get('run-1-1x')).toBe(-1);
    expect(recent.get('')).toBe(-1);
  });

  it('forgets in whole generations: the last capacity/2 to capacity IDs are held', () => {
    const recent = new RecentIds(4);
    for (const [i, id] of ['a', 'b', 'c', 'd', 'e'].entries()) recent.set(id, i);
    // Generations of 2: {a, b} was dropped when e arrived; {c, d} is the older, {e} the newer.
    expect(['a', 'b', 'c', 'd', 'e'].map((id) => recent.get(id))).toEqual([-1, -1, 2, 3, 4]);
  });

  it('turns a generation sooner when its IDs are long, and takes the longest', () => {
    const recent = new RecentIds(4);
    const long = (c: string) => c.repeat(128);
    // 255 characters per generation at this size: two IDs of 128 do not fit one.
    recent.set(long('a'), 1);
    recent.set(long('b'), 2);
    recent.set(long('c'), 3);
    expect([long('a'), long('b'), long('c')].map((id) => recent.get(id))).toEqual([-1, 2, 3]);
    const tooLong = 'x'.repeat(256);
    recent.set(tooLong, 4);
    expect(recent.get(tooLong)).toBe(-1);
  });

  it('tells apart IDs that differ only in non-ASCII characters', () => {
    const recent = new RecentIds(10);
    recent.set('évent-1', 1);
    recent.set('event-1', 2);
    recent.set('évent-2', 3);
    expect([
      recent.get('évent-1'),
      recent.get('event-1'),
      recent.get('évent-2'),
      recent.get('êvent-1'),
    ]).toEqual([1, 2, 3, -1]);
  });
});
