import { createHash } from 'node:crypto';
import { EMPTY_DIGEST, IdDigest } from '../../src/archive/idDigest';

/** The contract, spelt out the slow way: XOR of the first 16 bytes of SHA-256 of each ID's UTF-8. */
function reference(ids: string[]): string {
  const acc = Buffer.alloc(16);
  for (const id of ids) {
    const h = createHash('sha256').update(Buffer.from(id, 'utf8')).digest();
    for (let i = 0; i < 16; i++) acc[i] = acc[i]! ^ h[i]!;
  }
  return acc.toString('hex');
}

describe('IdDigest', () => {
  it('is the XOR of the first 128 bits of each ID’s SHA-256, whatever the ID’s characters', () => {
    const ids = ['e-1', 'run-abc-17-499', 'ünïcödé-€-😀', 'x'.repeat(128)];
    expect(IdDigest.of(ids).toHex()).toBe(reference(ids));
    expect(IdDigest.of([]).toHex()).toBe(EMPTY_DIGEST);
    expect(EMPTY_DIGEST).toBe('0'.repeat(32));
  });

  it('does not depend on order, merges disjoint sets, and removes an ID added twice', () => {
    const a = ['a-1', 'a-2', 'a-3'];
    const b = ['b-1', 'b-2'];
    expect(IdDigest.of([...b, ...a]).toHex()).toBe(IdDigest.of([...a, ...b]).toHex());
    expect(IdDigest.of(a).merge(IdDigest.of(b)).toHex()).toBe(IdDigest.of([...a, ...b]).toHex());
    expect(IdDigest.of(a).merge(IdDigest.of(b).toHex()).toHex()).toBe(reference([...a, ...b]));
    expect(IdDigest.of([...a, 'b-1', 'b-1']).toHex()).toBe(IdDigest.of(a).toHex());
  });
});
