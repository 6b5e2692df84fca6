import { encodeLines, ndjsonOf, readBatchLines } from '../../src/archive/format';

/** The archive object's body written line by line into one buffer (the ingest's lines and their cap ends). */
describe('an archive object body from held lines', () => {
  const lines = [
    JSON.stringify({ id: 'a', note: 'naïve ✓ 𝄞' }),
    JSON.stringify({ id: 'b' }),
    JSON.stringify({ id: 'c', s: '\n"quoted"\u2028' }),
  ];
  const end = `,${JSON.stringify({ capStatus: 'within', capId: 'cap-é', capHolder: 'us-east-1/ingest-1-abc' }).slice(1)}`;
  const ends = [end, undefined, end];
  // As the ingest holds them: UTF-8, encoded once.
  const lineEnds = ends.map((e) => (e === undefined ? undefined : Buffer.from(e)));
  /** What the body must be: each line with its `}` replaced by its end, then a newline. */
  const expected = lines.map((l, i) => (ends[i] ? l.slice(0, -1) + ends[i] : l)).join('\n') + '\n';

  it('is the lines, each closed by its end where it has one, byte for byte', () => {
    expect(ndjsonOf({ lines, lineEnds }).toString('utf8')).toBe(expected);
    const bytes = Buffer.byteLength(expected) - lines.length;
    expect(ndjsonOf({ lines, lineEnds, bytes }).equals(Buffer.from(expected))).toBe(true);
    expect(ndjsonOf({ lines }).toString('utf8')).toBe(lines.join('\n') + '\n');
  });

  it('refuses a miscounted size rather than archive a cut or padded line', () => {
    const bytes = Buffer.byteLength(expected) - lines.length;
    expect(() => ndjsonOf({ lines, lineEnds, bytes: bytes - 1 })).toThrow(/counted as .* written as/);
    expect(() => ndjsonOf({ lines, lineEnds, bytes: bytes + 1 })).toThrow(/counted as .* written as/);
  });

  it('reads back as the same lines from the gzip object', async () => {
    const { body, count } = await encodeLines({ lines, lineEnds }, ['a', 'b', 'c']);
    expect(count).toBe(3);
    expect(await readBatchLines(body)).toEqual(expected.split('\n').filter(Boolean));
  });
});
