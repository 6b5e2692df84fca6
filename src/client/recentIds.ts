/** Longest ID remembered (event IDs are at most 128 characters, src/shared/event.ts): fits a length byte. */
const MAX_ID_LENGTH = 255;
/** Characters reserved per entry on average; a generation whose IDs are longer fills (and turns) sooner. */
const AVERAGE_ID_CHARS = 48;

/** One generation: IDs copied into a character arena, found through an open-addressing hash index. */
class Generation {
  readonly chars: Uint16Array;
  readonly offsets: Int32Array;
  readonly lengths: Uint8Array;
  readonly values: Int32Array;
  /** Each entry's hash: IDs share long prefixes, so most probes end here instead of comparing characters. */
  readonly hashes: Int32Array;
  /** Entry number + 1 per slot; 0 is empty. */
  readonly slots: Int32Array;
  readonly mask: number;
  count = 0;
  used = 0;

  constructor(readonly capacity: number) {
    // At least one longest ID, so an emptied generation always takes the next one.
    this.chars = new Uint16Array(Math.max(capacity * AVERAGE_ID_CHARS, MAX_ID_LENGTH));
    this.offsets = new Int32Array(capacity);
    this.lengths = new Uint8Array(capacity);
    this.values = new Int32Array(capacity);
    this.hashes = new Int32Array(capacity);
    let size = 1;
    while (size < capacity * 2) size *= 2;
    this.slots = new Int32Array(size);
    this.mask = size - 1;
  }

  clear(): void {
    this.slots.fill(0);
    this.count = 0;
    this.used = 0;
  }

  full(id: string): boolean {
    return this.count >= this.capacity || this.used + id.length > this.chars.length;
  }

  /** The value stored for `id`, or -1. */
  get(id: string, hash: number): number {
    for (let slot = hash & this.mask; ; slot = (slot + 1) & this.mask) {
      const entry = this.slots[slot]! - 1;
      if (entry < 0) return -1;
      if (this.hashes[entry] === hash && this.lengths[entry] === id.length && this.holds(entry, id))
        return this.values[entry]!;
    }
  }

  add(id: string, hash: number, value: number): void {
    const entry = this.count++;
    const offset = this.used;
    for (let i = 0; i < id.length; i++) this.chars[offset + i] = id.charCodeAt(i);
    this.used += id.length;
    this.offsets[entry] = offset;
    this.lengths[entry] = id.length;
    this.values[entry] = value;
    this.hashes[entry] = hash;
    let slot = hash & this.mask;
    while (this.slots[slot] !== 0) slot = (slot + 1) & this.mask;
    this.slots[slot] = entry + 1;
  }

  private holds(entry: number, id: string): boolean {
    const offset = this.offsets[entry]!;
    for (let i = 0; i < id.length; i++) if (this.chars[offset + i] !== id.charCodeAt(i)) return false;
    return true;
  }
}

/**
 * The last `capacity` event IDs seen, each with a small integer, in two generations of `capacity / 2`: when
 * the newer fills (or its IDs average more than 48 characters), the older is emptied and becomes the newer.
 * Exact (IDs are compared, not only hashed) and without an object per ID: a Map of 100,000 ID strings cost
 * the ingest about 0.5 µs per event in garbage collection, as every ID outlived the young generation.
 */
export class RecentIds {
  private newer: Generation;
  private older: Generation;
  /** The ID `get` hashed last, and its hash: `set` of the same ID (a miss judged) does not hash it again. */
  private lastId = '';
  private lastHash = 0;

  constructor(capacity: number) {
    const half = Math.max(1, Math.ceil(capacity / 2));
    this.newer = new Generation(half);
    this.older = new Generation(half);
  }

  /** The value last set for `id` while remembered, or -1. */
  get(id: string): number {
    if (id.length > MAX_ID_LENGTH) return -1;
    const hash = this.hashOf(id);
    const found = this.newer.get(id, hash);
    return found >= 0 ? found : this.older.get(id, hash);
  }

  /** Remembers `id` (not already remembered: callers look it up first) with a value ≥ 0. */
  set(id: string, value: number): void {
    if (id.length > MAX_ID_LENGTH) return;
    if (this.newer.full(id)) {
      const emptied = this.older;
      emptied.clear();
      this.older = this.newer;
      this.newer = emptied;
    }
    this.newer.add(id, this.hashOf(id), value);
  }

  /** FNV-1a over the UTF-16 code units (a signed 32-bit integer, as the entries store it). */
  private hashOf(id: string): number {
    if (id === this.lastId) return this.lastHash;
    let h = 0x811c9dc5;
    for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193);
    this.lastId = id;
    return (this.lastHash = h);
  }
}
