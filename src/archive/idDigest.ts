import { hash } from 'node:crypto';

const DIGEST_BYTES = 16;

/**
 * Order-independent digest of a set of event IDs: XOR of the first 128 bits of SHA-256 of each ID.
 * The archive (object metadata) and the stats API compute it the same way, so equal (count, digest)
 * pairs mean equal sets with overwhelming probability, and digests of buckets combine with `merge`.
 */
export class IdDigest {
  private readonly acc = Buffer.alloc(DIGEST_BYTES);

  static of(ids: Iterable<string>): IdDigest {
    const d = new IdDigest();
    for (const id of ids) d.add(id);
    return d;
  }

  static fromHex(hex: string): IdDigest {
    return new IdDigest().merge(hex);
  }

  /** Adds an ID; adding the same ID twice removes it again, so callers add each distinct ID once. */
  add(id: string): this {
    // One-shot, as a 'binary' (latin1) string of one character per byte: no Hash object and no Buffer per ID,
    // a third of the CPU (0.36 against 1.2 µs); the ingest and every stats service digest each event.
    const h = hash('sha256', id, 'binary');
    for (let i = 0; i < DIGEST_BYTES; i++) this.acc[i] = this.acc[i]! ^ h.charCodeAt(i);
    return this;
  }

  /** Combines with the digest of a disjoint set. */
  merge(other: IdDigest | string): this {
    const b = typeof other === 'string' ? parseHex(other) : other.acc;
    for (let i = 0; i < DIGEST_BYTES; i++) this.acc[i] = this.acc[i]! ^ b[i]!;
    return this;
  }

  toHex(): string {
    return this.acc.toString('hex');
  }
}

/** The digest of the empty set. */
export const EMPTY_DIGEST = new IdDigest().toHex();

function parseHex(hex: string): Buffer {
  if (!/^[0-9a-f]{32}$/.test(hex)) throw new Error(`not a 128-bit hex digest: ${JSON.stringify(hex)}`);
  return Buffer.from(hex, 'hex');
}
