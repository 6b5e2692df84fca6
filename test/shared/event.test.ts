import { MAX_ATTRIBUTES_BYTES, trackingEventSchema } from '../../src/shared/event';

const event = (attributes: Record<string, string>) => ({
  id: 'e-1',
  type: 'click',
  timestamp: '2026-12-03T04:00:00.000Z',
  region: 'us-east-1',
  offerId: 'o-1',
  affiliateId: 'a-1',
  attributes,
});

/** Attributes whose JSON text is exactly `bytes` long in UTF-8, made of values of ≤ 1024 characters. */
function attributesOf(bytes: number, char: string): Record<string, string> {
  const attributes: Record<string, string> = {};
  let size = 2; // {}
  for (let i = 0; size < bytes; i++) {
    const key = `k${String(i).padStart(3, '0')}`;
    const overhead = Buffer.byteLength(JSON.stringify({ [key]: '' })) - 2 + (i > 0 ? 1 : 0);
    const room = Math.floor((bytes - size - overhead) / Buffer.byteLength(char));
    const value = char.repeat(Math.min(1024, room));
    attributes[key] = value;
    size += overhead + Buffer.byteLength(value);
    if (room <= 1024) break;
  }
  return attributes;
}

describe('event attributes size limit', () => {
  it.each([
    ['ASCII', 'x'],
    ['3-byte UTF-8', '€'],
  ])('counts UTF-8 bytes of the serialised attributes (%s)', (_name, char) => {
    const within = attributesOf(MAX_ATTRIBUTES_BYTES - Buffer.byteLength(char) + 1, char);
    expect(Buffer.byteLength(JSON.stringify(within))).toBeLessThanOrEqual(MAX_ATTRIBUTES_BYTES);
    expect(trackingEventSchema.safeParse(event(within)).success).toBe(true);

    const over = { ...within, zz: char.repeat(2) };
    expect(Buffer.byteLength(JSON.stringify(over))).toBeGreaterThan(MAX_ATTRIBUTES_BYTES);
    const parsed = trackingEventSchema.safeParse(event(over));
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.path).toEqual(['attributes']);
  });

  it('refuses multi-byte attributes whose character count alone would pass', () => {
    // 1,500 characters but 4,500 bytes: a check by string length would let it through.
    const attributes = { a: '€'.repeat(1000), b: '€'.repeat(500) };
    expect(JSON.stringify(attributes).length).toBeLessThan(MAX_ATTRIBUTES_BYTES);
    expect(trackingEventSchema.safeParse(event(attributes)).success).toBe(false);
  });

  it('agrees with the serialized size for escapes, numbers and lone surrogates around the limit', () => {
    // Values whose JSON is up to 6 bytes per character, in sizes on both sides of the limit: the check's
    // shortcut (a bound taken without serializing) must never accept what serializes too large.
    const pieces = ['a', '"', '\u0001', '€', '\ud800', '😀'];
    let checked = 0;
    for (const piece of pieces)
      for (let n = 300; n <= 4200; n += 97) {
        const attributes: Record<string, string | number | boolean | null> = {
          text: piece.repeat(Math.floor(n / piece.length)).slice(0, 1024),
          more: piece.repeat(Math.max(0, Math.floor(n / piece.length) - 1024)).slice(0, 1024),
          n: -1.7976931348623157e308,
          yes: true,
          none: null,
        };
        const fits = Buffer.byteLength(JSON.stringify(attributes)) <= MAX_ATTRIBUTES_BYTES;
        expect(trackingEventSchema.safeParse({ ...event({}), attributes }).success).toBe(fits);
        checked++;
      }
    expect(checked).toBeGreaterThan(200);
  });
});

describe('event attributes, one by one', () => {
  const issuesOf = (attributes: unknown) => {
    const parsed = trackingEventSchema.safeParse({ ...event({}), attributes });
    return parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  };

  it('accepts strings, finite numbers, booleans and null, and no attributes at all', () => {
    expect(issuesOf({ s: 'x'.repeat(1024), n: -0.5, t: true, f: false, z: null })).toEqual([]);
    const { attributes: _none, ...bare } = event({});
    expect(trackingEventSchema.parse(bare).attributes).toEqual({});
  });

  it('names every bad attribute by its key, and why', () => {
    expect(
      issuesOf({
        nested: { not: 'allowed' },
        list: [1],
        long: 'x'.repeat(1025),
        nan: Number.NaN,
        ['k'.repeat(129)]: 'v',
        fine: 'ok',
      }),
    ).toEqual([
      expect.stringMatching(/^attributes\.nested: must be a string/),
      expect.stringMatching(/^attributes\.list: must be a string/),
      'attributes.long: longer than 1024 characters',
      'attributes.nan: not a finite number',
      `attributes.${'k'.repeat(129)}: key longer than 128 characters`,
    ]);
  });

  it('refuses what is not a plain object', () => {
    for (const attributes of ['a=b', 3, ['a'], null, new Map([['a', 'b']])])
      expect(issuesOf(attributes)).toEqual(['attributes: must be an object of attributes']);
  });
});
