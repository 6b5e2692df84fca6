import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { decodeBatch } from '../../src/archive/format';
import { combineDigests, HourDigests, shardOf } from '../../src/archive/sealed';
import type { TrackingEvent } from '../../src/shared/event';
import { makeEvents } from '../helpers/pipeline';

/** A raw object's bytes from its lines, as the archive stores them. */
const objectOf = (lines: string[]): Uint8Array => gzipSync(`${lines.join('\n')}\n`);

/**
 * What the sealed hour's shards rest on, without a stack: every event ID in exactly one shard, a shard's
 * reading of a raw object keeping exactly its events, and the shards' digests combining into the hour's.
 */
describe('sharding the sealed hour by event ID', () => {
  const events = makeEvents(3000);
  // Lines as the writers serialise them, plus lines the ID-at-the-start shortcut cannot read: an ID written
  // with a JSON escape (`\u0065` for its first letter), and a record whose ID is not its first key.
  const escaped = JSON.stringify(events[0]).replace('{"id":"e', '{"id":"\\u0065');
  const { id: _first, ...reordered } = { ...events[2]!, id: 'reordered-1' };
  const lines = [
    ...events.slice(3).map((e) => JSON.stringify(e)),
    escaped,
    JSON.stringify({ ...reordered, id: 'reordered-1' }), // `id` last
  ];
  const all = decodeBatch(objectOf(lines));
  expect(all.map((e) => e.id)).toEqual(expect.arrayContaining([events[0]!.id, 'reordered-1']));

  it.each([1, 2, 5, 16])(
    'puts each ID in exactly one of %i shards, and the shards read every event once',
    (n) => {
      const body = objectOf(lines);
      const read: TrackingEvent[][] = Array.from({ length: n }, (_, s) =>
        decodeBatch(body, (id) => shardOf(id, n) === s),
      );
      for (const [s, shard] of read.entries()) for (const e of shard) expect(shardOf(e.id, n)).toBe(s);
      const ids = read.flat().map((e) => e.id);
      expect(ids.sort()).toEqual(all.map((e) => e.id).sort());
      if (n > 1) expect(read.every((shard) => shard.length > 0)).toBe(true);

      // The shards' digests, per hour and per minute, combine into the whole hour's.
      const whole = new HourDigests();
      for (const e of all) whole.add(e.id, e.timestamp);
      const sides = read.map((shard) => {
        const d = new HourDigests();
        for (const e of shard) d.add(e.id, e.timestamp);
        return { total: d.totalSide(), minutes: d.minutes() };
      });
      expect(combineDigests(sides)).toEqual({ total: whole.totalSide(), minutes: whole.minutes() });
    },
  );

  it('is the documented function of the ID alone: the first 32 bits of its SHA-256, modulo the shards', () => {
    // Pinned: a late version's shards find their IDs in parts other workers wrote, maybe with other code.
    for (const id of ['e-1', 'ev-42', events[9]!.id])
      for (const n of [3, 7, 256])
        expect(shardOf(id, n)).toBe(createHash('sha256').update(id).digest().readUInt32BE(0) % n);
    expect(shardOf('anything', 1)).toBe(0);
  });

  it("refuses, in every shard, a line no shard could own; and a line whose ID is another shard's is that shard's to check", () => {
    const broken = objectOf([JSON.stringify(events[0]), '{"id": not json']);
    for (let s = 0; s < 3; s++)
      expect(() => decodeBatch(broken, (id) => shardOf(id, 3) === s)).toThrow(/line 2: invalid JSON/);
    // An invalid record (no offerId) is refused by the shard that owns its ID.
    const { offerId: _o, ...invalid } = events[5]!;
    const owner = shardOf(invalid.id, 3);
    const body = objectOf([JSON.stringify(invalid)]);
    expect(() => decodeBatch(body, (id) => shardOf(id, 3) === owner)).toThrow(/line 1: offerId/);
    // Two "id" keys: the first decides who skips it, the last is what JSON.parse reads; refused, not lost.
    const twice = `{"id":"${events[6]!.id}",${JSON.stringify(events[7]).slice(1)}`;
    const first = shardOf(events[6]!.id, 1_000_003);
    expect(() => decodeBatch(objectOf([twice]), (id) => shardOf(id, 1_000_003) === first)).toThrow(
      /two different IDs/,
    );
  });
});
