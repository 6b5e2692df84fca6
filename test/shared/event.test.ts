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
