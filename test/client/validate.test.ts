import { validateRecords } from '../../src/client/validate';

/** What the ingest's validation hands on besides the events: positions and the parsed instants. */
describe('validateRecords', () => {
  const record = (id: string, timestamp: string) => ({
    id,
    type: 'click',
    timestamp,
    region: 'us-east-1',
    offerId: 'o-1',
    affiliateId: 'a-1',
  });

  it("gives each valid event's position and parsed timestamp, in the events' order", () => {
    const now = Date.parse('2026-12-04T12:00:00.000Z');
    const { events, positions, instants, rejected } = validateRecords(
      [
        record('a', '2026-12-04T11:00:00.000Z'),
        record('late', '2026-11-01T00:00:00.000Z'),
        record('b', '2026-12-04T11:30:00.500+01:00'),
      ],
      new Set(['us-east-1']),
      [7, 8, 9],
      { maxAgeMs: 24 * 3_600_000, maxFutureMs: 3_600_000 },
      now,
    );
    expect(events.map((e) => e.id)).toEqual(['a', 'b']);
    expect(positions).toEqual([7, 9]);
    expect(instants).toEqual([
      Date.parse('2026-12-04T11:00:00.000Z'),
      Date.parse('2026-12-04T10:30:00.500Z'),
    ]);
    expect(rejected).toEqual([
      { index: 8, field: 'timestamp', reason: expect.stringContaining('older than') },
    ]);
  });
});
