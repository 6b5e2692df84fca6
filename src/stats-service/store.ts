import Database from 'better-sqlite3';
import type { TrackingEvent } from '../shared/event';
import { IdDigest } from '../archive/idDigest';
import type { Bucket, Granularity, IngestResult } from './contract';
import { bucketStart, type IdPosition } from './buckets';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS events (
  id TEXT PRIMARY KEY,
  region TEXT NOT NULL,
  type TEXT NOT NULL,
  ts INTEGER NOT NULL,      -- the event's timestamp, epoch ms (UTC)
  minute INTEGER NOT NULL,  -- start of its minute bucket, epoch ms
  offer_id TEXT NOT NULL,
  affiliate_id TEXT NOT NULL,
  attributes TEXT NOT NULL, -- JSON
  cap_status TEXT,          -- the ingest's cap judgement: within, exceeded, or NULL (no cap covers it)
  cap_id TEXT
);
-- Keyset pagination of a bucket's IDs by (minute, id), for minute and hour buckets alike. There is
-- deliberately no (region, hour, id) index: random IDs would land all over an hour's key range, and
-- maintaining it halved ingest throughput (docs/benchmarks.md).
CREATE INDEX IF NOT EXISTS events_by_minute ON events (region, minute, id);
-- Kept exact in the same transaction as every insert and delete, so bucket queries never scan events.
-- Keyed by minute first: windows are queried across all regions as often as for one.
CREATE TABLE IF NOT EXISTS minute_buckets (
  minute INTEGER NOT NULL,
  region TEXT NOT NULL,
  count INTEGER NOT NULL CHECK (count >= 0),
  digest TEXT NOT NULL,
  exceeded INTEGER NOT NULL DEFAULT 0, -- of count, events past a cap (counted apart: recorded, not paid)
  PRIMARY KEY (minute, region)
) WITHOUT ROWID;
`;

interface BucketRow {
  region: string;
  minute: number;
  count: number;
  digest: string;
  exceeded: number;
}

interface BucketTotal {
  region: string;
  start: number;
  count: number;
  exceeded: number;
  digest: IdDigest;
}

/** Columns added after the first release: a database file from before gets them when it is opened. */
const ADDED_COLUMNS = [
  { table: 'events', column: 'cap_status', ddl: 'cap_status TEXT' },
  { table: 'events', column: 'cap_id', ddl: 'cap_id TEXT' },
  { table: 'minute_buckets', column: 'exceeded', ddl: 'exceeded INTEGER NOT NULL DEFAULT 0' },
] as const;

export interface BucketsQuery {
  granularity: Granularity;
  fromMs: number;
  toMs: number;
  region?: string;
}

export interface BucketIdsQuery {
  region: string;
  /** The bucket is [startMs, endMs). */
  startMs: number;
  endMs: number;
  /** Only entries after this position; omit for the first page. */
  after?: IdPosition;
  limit: number;
}

/** Events and their per-(region, minute) count and ID digest, in one SQLite file. */
export class StatsStore {
  private readonly db: Database.Database;
  private readonly insertEvent;
  private readonly addToBucket;
  private readonly deleteEvent;
  private readonly removeFromBucket;
  private readonly dropEmptyBucket;
  private readonly selectBuckets;
  private readonly selectIds;
  private readonly selectOne;
  private readonly insertTx: (events: readonly TrackingEvent[]) => IngestResult;
  private readonly deleteTx: (id: string) => boolean;

  constructor(dbPath: string) {
    this.db = new Database(dbPath);
    this.db.pragma('journal_mode = WAL');
    // NORMAL in WAL mode survives a crash of this process (committed pages are in the OS cache) and skips
    // an fsync per commit; only an OS crash or power loss can undo the last commits, and reconciliation
    // replays whatever the stats are missing from the archive, the source of truth.
    this.db.pragma('synchronous = NORMAL');
    // Checkpoint every ~40 MB of WAL instead of every ~4 MB: each checkpoint costs an fsync of the
    // database, and checkpointing less often raised ingest throughput by half (docs/benchmarks.md).
    this.db.pragma('wal_autocheckpoint = 10000');
    this.db.pragma('busy_timeout = 5000');
    this.db.function('xor_digest', { deterministic: true }, (a: unknown, b: unknown) =>
      IdDigest.fromHex(String(a)).merge(String(b)).toHex(),
    );
    this.db.exec(SCHEMA);
    for (const c of ADDED_COLUMNS) {
      const columns = this.db.pragma(`table_info(${c.table})`) as { name: string }[];
      if (!columns.some((col) => col.name === c.column))
        this.db.exec(`ALTER TABLE ${c.table} ADD COLUMN ${c.ddl}`);
    }

    this.insertEvent = this.db.prepare<
      [string, string, string, number, number, string, string, string, string | null, string | null]
    >(
      `INSERT INTO events (id, region, type, ts, minute, offer_id, affiliate_id, attributes, cap_status, cap_id)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
    );
    this.addToBucket = this.db.prepare<[number, string, number, string, number]>(
      `INSERT INTO minute_buckets (minute, region, count, digest, exceeded) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (minute, region) DO UPDATE
       SET count = count + excluded.count, digest = xor_digest(digest, excluded.digest),
           exceeded = exceeded + excluded.exceeded`,
    );
    this.deleteEvent = this.db.prepare<
      [string],
      { region: string; minute: number; cap_status: string | null }
    >('DELETE FROM events WHERE id = ? RETURNING region, minute, cap_status');
    this.removeFromBucket = this.db.prepare<[string, number, number, string]>(
      `UPDATE minute_buckets SET count = count - 1, digest = xor_digest(digest, ?), exceeded = exceeded - ?
       WHERE minute = ? AND region = ?`,
    );
    this.dropEmptyBucket = this.db.prepare<[number, string]>(
      'DELETE FROM minute_buckets WHERE minute = ? AND region = ? AND count = 0',
    );
    this.selectBuckets = this.db.prepare<{ from: number; to: number; region: string | null }, BucketRow>(
      `SELECT region, minute, count, digest, exceeded FROM minute_buckets
       WHERE minute >= @from AND minute < @to AND (@region IS NULL OR region = @region)
       ORDER BY region, minute`,
    );
    this.selectIds = this.db.prepare<
      { region: string; endMs: number; afterMinute: number; afterId: string; limit: number },
      IdPosition
    >(
      `SELECT minute, id FROM events
       WHERE region = @region AND (minute, id) > (@afterMinute, @afterId) AND minute < @endMs
       ORDER BY minute, id LIMIT @limit`,
    );
    this.selectOne = this.db.prepare('SELECT 1');
    this.insertTx = this.db.transaction((events: readonly TrackingEvent[]) => this.insertBatch(events));
    this.deleteTx = this.db.transaction((id: string) => this.deleteOne(id));
  }

  /**
   * Stores the new events of a batch in one transaction; events whose ID is already stored (or repeated
   * in the batch) are duplicates. SQLite serialises transactions, so concurrent identical batches also
   * store each event once.
   */
  insert(events: readonly TrackingEvent[]): IngestResult {
    return this.insertTx(events);
  }

  /** Removes one event and takes it out of its bucket; false when the ID was not stored. */
  delete(id: string): boolean {
    return this.deleteTx(id);
  }

  /** Non-empty buckets with fromMs <= start < toMs, by region then start; hour buckets merge their minutes. */
  buckets(q: BucketsQuery): Bucket[] {
    const rows = this.selectBuckets.all({ from: q.fromMs, to: q.toMs, region: q.region ?? null });
    const merged = new Map<string, BucketTotal>();
    for (const row of rows) {
      const start = bucketStart(row.minute, q.granularity);
      const key = `${row.region}/${start}`;
      const bucket = merged.get(key);
      if (bucket) {
        bucket.count += row.count;
        bucket.exceeded += row.exceeded;
        bucket.digest.merge(row.digest);
      } else {
        merged.set(key, {
          region: row.region,
          start,
          count: row.count,
          exceeded: row.exceeded,
          digest: IdDigest.fromHex(row.digest),
        });
      }
    }
    return [...merged.values()].map((b) => ({
      region: b.region,
      granularity: q.granularity,
      start: new Date(b.start).toISOString(),
      count: b.count,
      capExceeded: b.exceeded,
      digest: b.digest.toHex(),
    }));
  }

  /** Up to `limit` entries of one bucket, ordered by minute then ID, after `q.after`. */
  bucketIds(q: BucketIdsQuery): IdPosition[] {
    // '' sorts before every ID, so the first page starts with the bucket's first minute.
    const after = q.after ?? { minute: q.startMs, id: '' };
    return this.selectIds.all({
      region: q.region,
      endMs: q.endMs,
      afterMinute: after.minute,
      afterId: after.id,
      limit: q.limit,
    });
  }

  /** Proves the database answers; throws otherwise. */
  ping(): void {
    this.selectOne.get();
  }

  close(): void {
    this.db.close();
  }

  private insertBatch(events: readonly TrackingEvent[]): IngestResult {
    const added = new Map<string, BucketTotal>();
    let accepted = 0;
    for (const e of events) {
      const ts = Date.parse(e.timestamp);
      const minute = bucketStart(ts, 'minute');
      const { changes } = this.insertEvent.run(
        e.id,
        e.region,
        e.type,
        ts,
        minute,
        e.offerId,
        e.affiliateId,
        JSON.stringify(e.attributes),
        e.capStatus ?? null,
        e.capId ?? null,
      );
      if (changes === 0) continue;
      accepted++;
      // One bucket update per (region, minute) of the batch rather than per event.
      const key = `${minute}/${e.region}`;
      let bucket = added.get(key);
      if (!bucket) {
        bucket = { region: e.region, start: minute, count: 0, exceeded: 0, digest: new IdDigest() };
        added.set(key, bucket);
      }
      bucket.count++;
      if (e.capStatus === 'exceeded') bucket.exceeded++;
      bucket.digest.add(e.id);
    }
    for (const b of added.values())
      this.addToBucket.run(b.start, b.region, b.count, b.digest.toHex(), b.exceeded);
    return { accepted, duplicates: events.length - accepted };
  }

  private deleteOne(id: string): boolean {
    const row = this.deleteEvent.get(id);
    if (!row) return false;
    const exceeded = row.cap_status === 'exceeded' ? 1 : 0;
    this.removeFromBucket.run(IdDigest.of([id]).toHex(), exceeded, row.minute, row.region);
    this.dropEmptyBucket.run(row.minute, row.region);
    return true;
  }
}
