/**
 * The sealed hour's shapes, shared by the workflow, its activities, the client and the CLI. Pure (no Node
 * imports): the workflow bundle includes this file. The format itself (keys, Parquet schema, encoding) is
 * owned by src/archive/sealed.ts.
 */
import type { ArchiveTargetRef } from './regions';

/** The manifest's format version; bumped only with a change readers must know about. */
export const SEAL_FORMAT = 1;

/** What sealHour is started with: an hour (the CLI), or the lag after which the hour it is due for closed. */
export interface SealHourInput {
  region: string;
  /** Hour start, ISO-8601 UTC with milliseconds (`2026-12-04T03:00:00.000Z`). Absent with `closedHourLagMinutes`. */
  hour?: string;
  /**
   * Scheduled runs: seal the last hour that had been closed this many minutes when the run was due (a
   * Schedule's action cannot compute arguments, so the workflow derives its hour).
   */
  closedHourLagMinutes?: number;
  /** Rows per Parquet file; default the format's PART_ROWS (tests make several small files). */
  partRows?: number;
  /** Shards of the version; default planned from the hour's bytes and `seal.shardBytes` (tests force several). */
  shards?: number;
  /** Versions this seal already wrote in earlier runs (continue-as-new of a seal whose hour kept changing). */
  passes?: number;
}

/** One region's hour to seal, as the workflow hands it to its activities. */
export interface SealHourJob {
  region: string;
  /** Hour start, ISO-8601 UTC with milliseconds (`2026-12-04T03:00:00.000Z`). */
  hour: string;
  partRows?: number;
  shards?: number;
}

/**
 * How a version is sealed (sharded, patch `seal-shards`): planned once from the listing, handed to every
 * shard and to the commit. Small: no key lists (an hour can have 72,000 raw objects).
 */
export interface SealPlan {
  region: string;
  hour: string;
  version: number;
  /** Shards (each event ID in exactly one: `shardOf` in src/archive/sealed.ts), and how many run at once. */
  shards: number;
  concurrency: number;
  partRows: number;
  /** Every raw object of the hour when planned; each shard and the commit check they are still these. */
  sources: { count: number; keysSha256: string; bytes: number };
  /** The buckets the parts may go to, in order: the region's (version 1) or the earlier versions' bucket. */
  targets: ArchiveTargetRef[];
  /** From version 2: the manifest this version extends, where it is, and the late raw objects. */
  previous?: SealPrevious & { target: ArchiveTargetRef };
  late?: { sources: number; bytes: number };
  /**
   * Where the planned raw object keys are (sorted, one a line: its SHA-256 is `sources.keysSha256`). Shards
   * read exactly these, so a batch landing while the seal runs is left to the next version instead of
   * failing this one. Absent in plans made before it: those compare the listing with `sources`.
   */
  sourcesAt?: ArchiveTargetRef & { key: string };
  /** `seal.retainRawHours` when planned: after the seal, raw retirement is due this long after the hour. */
  retainRawHours?: number;
}

export type SealPlanResult =
  | { kind: 'plan'; plan: SealPlan }
  | { kind: 'already-sealed'; summary: SealSummary; unsealedSources: number }
  | { kind: 'empty' };

/** What one shard wrote: the shard's share of the hour (its IDs only), verified and then committed. */
export interface SealShardDraft {
  shard: number;
  bucket: string;
  bucketRegion: string;
  /** This version's parts of this shard (none when it added no ID). */
  parts: SealedPart[];
  /** The shard's IDs in the whole hour (earlier versions' included), per hour and per minute. */
  total: CountDigest;
  minutes: Record<string, CountDigest>;
  /** Events of this shard read from this version's raw objects, duplicates included. */
  eventsRead: number;
  /** IDs of this shard no earlier version held (all of them in version 1): the rows of its parts. */
  added: number;
  /** From version 2: the shard's IDs in the earlier versions' parts (they combine into that manifest's total). */
  earlier?: CountDigest;
}

/** Count and order-independent ID digest (IdDigest) of a set of event IDs. */
export interface CountDigest {
  count: number;
  digest: string;
}

export interface SealedPart {
  key: string;
  rows: number;
  bytes: number;
  sha256: string;
}

/** What the writing activity produced and the verifying one checks and commits (kept small: it is in history). */
export interface SealDraft {
  region: string;
  hour: string;
  version: number;
  bucket: string;
  bucketRegion: string;
  parts: SealedPart[];
  /** The union of the sources' unique event IDs, as read from the raw objects. */
  total: CountDigest;
  /** Per minute of the event timestamps, keyed by `HH:MM` (UTC). */
  minutes: Record<string, CountDigest>;
  /** Raw objects sealed (a key held by several buckets counts once), and SHA-256 of their sorted keys. */
  sources: { count: number; keysSha256: string };
  /** Events read from the sources, including the duplicates dropped. */
  eventsRead: number;
  /** Events whose ID was already read from another object: kept once. */
  duplicatesDropped: number;
  writer: { name: string; version: string };
  /** From version 2: the manifest this version extends, and what its late raw objects added. */
  previous?: SealPrevious;
  delta?: SealDelta;
}

/** The version a late-event version extends: its parts are all listed again in the new manifest. */
export interface SealPrevious {
  version: number;
  key: string;
}

/** What a version's late raw objects (those no earlier version sealed) added to the hour. */
export interface SealDelta {
  /** Late raw objects read. */
  sources: number;
  /** Events read from them, duplicates included. */
  eventsRead: number;
  /** Event IDs no earlier version held: the rows of this version's own part files (none when 0). */
  added: number;
}

/** The JSON object readers follow, written last at `manifest-<version>.json`. */
export interface SealManifest {
  format: typeof SEAL_FORMAT;
  version: number;
  region: string;
  hour: string;
  bucket: string;
  files: { key: string; rows: number; bytes: number; sha256: string }[];
  total: CountDigest;
  minutes: Record<string, CountDigest>;
  sources: { count: number; keysSha256: string; keys: string[] };
  eventsRead: number;
  duplicatesDropped: number;
  writer: { name: string; version: string };
  /** When the workflow sealed it (workflow time, so a retried write makes the same bytes). */
  sealedAt: string;
  /** From version 2 (late events): the version it extends; `files`, `total`, `minutes`, `sources` are the whole hour's. */
  previous?: SealPrevious;
  delta?: SealDelta;
  /** Captured batches of the hour still pending when it was sealed: each makes a new version when it lands. */
  pending?: PendingCaptures;
  /** Raw objects deleted after verification (carried by every later version): see SealRetirement. */
  retired?: SealRetirement;
}

/** Captured batches of a region's hour not archived yet (visibility query: at most a few IDs, and the count). */
export interface PendingCaptures {
  count: number;
  workflowIds: string[];
}

/**
 * The hour's raw objects were deleted (retireRawHour): every source of version `verifiedVersion`, after its
 * files were read back and matched it. Written as a version of its own (same files and sources) before any
 * object is deleted, so a reader never misses a raw object without being told. Late sources of later versions
 * stay until a later retirement.
 */
export interface SealRetirement {
  /** When (workflow time of the retirement). */
  at: string;
  /** Raw objects retired in all: the sources of the version verified. */
  objects: number;
  verifiedVersion: number;
}

/** The part of a manifest worth showing in the Temporal UI and the CLI (no key lists). */
export interface SealSummary {
  region: string;
  hour: string;
  version: number;
  bucket: string;
  manifestKey: string;
  files: number;
  total: CountDigest;
  sources: number;
  eventsRead: number;
  duplicatesDropped: number;
  sealedAt: string;
  /** From version 2: the version it extends and what the late raw objects added. */
  previous?: SealPrevious;
  delta?: SealDelta;
  pending?: PendingCaptures;
  retired?: SealRetirement;
}

export type SealOutcome = 'sealed' | 'already-sealed' | 'empty';

export interface SealResult {
  outcome: SealOutcome;
  /** Absent when the hour holds no raw object (nothing is written for an empty hour). */
  summary?: SealSummary;
  /**
   * Raw objects of the hour that the summary's manifest does not include. Always 0 since late raw objects
   * make a new version; kept so results of seals made before that read the same.
   */
  unsealedSources: number;
}

export type SealPhase = 'writing' | 'verifying' | 'sealed' | 'already-sealed' | 'empty' | 'failed';

/** Hour start of an `YYYY-MM-DDTHH` (or any ISO time on the hour), normalised; throws naming the value. */
export function normalizeHour(value: string): string {
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2})(?::00(?::00(?:\.000)?)?)?(?:Z|[+-]00:?00)?$/.exec(value);
  const ms = m ? Date.parse(`${m[1]}T${m[2]}:00:00.000Z`) : NaN;
  if (!m || Number.isNaN(ms)) {
    throw new Error(`hour: ${JSON.stringify(value)} is not an hour such as 2026-12-04T03 (UTC)`);
  }
  return new Date(ms).toISOString();
}

/** One seal workflow per region and hour: `seal-us-east-1-2026120403`. */
export const sealWorkflowId = (region: string, hour: string): string =>
  `seal-${region}-${hour.slice(0, 13).replace(/[-T]/g, '')}`;

/** The hourly Schedule of a region's seals: `stormproof-seal-hourly-us-east-1`. */
export const sealScheduleId = (prefix: string, region: string): string => `${prefix}-${region}`;

/**
 * The workflow ID of a region's scheduled seals; Temporal appends each run's scheduled time
 * (`seal-us-east-1-hourly-2026-12-04T04:15:00Z`).
 */
export const scheduledSealWorkflowId = (region: string): string => `seal-${region}-hourly`;

export function summaryOf(m: SealManifest, manifestKey: string): SealSummary {
  return {
    region: m.region,
    hour: m.hour,
    version: m.version,
    bucket: m.bucket,
    manifestKey,
    files: m.files.length,
    total: m.total,
    sources: m.sources.count,
    eventsRead: m.eventsRead,
    duplicatesDropped: m.duplicatesDropped,
    sealedAt: m.sealedAt,
    ...(m.previous && { previous: m.previous }),
    ...(m.delta && { delta: m.delta }),
    ...(m.pending && { pending: m.pending }),
    ...(m.retired && { retired: m.retired }),
  };
}

/** One raw retirement workflow per region and hour: `retire-us-east-1-2026120403`. */
export const retireWorkflowId = (region: string, hour: string): string =>
  `retire-${region}-${hour.slice(0, 13).replace(/[-T]/g, '')}`;

export interface RetireRawHourInput {
  region: string;
  hour: string;
  /** Raw objects are deleted this many hours after the hour closed (and never before a verified seal). */
  retainRawHours: number;
}

export type RetireOutcome = 'retired' | 'already-retired' | 'not-sealed' | 'pending-captures';

export interface RetireResult {
  outcome: RetireOutcome;
  /** The manifest that says so (retired, already-retired). */
  summary?: SealSummary;
  /** Raw objects deleted by this run (copies in several buckets count once). */
  deleted: number;
  pending?: PendingCaptures;
}
