/** Shapes of reconciliation (archive vs stats API), shared by its workflow, activities, client and CLI. */

export const HOUR_MS = 3_600_000;

export interface ReconcileOptions {
  /** Replay rounds per hour bucket before the run gives up on it and fails. */
  attemptBudget: number;
  /** Wait after a replay round before comparing again, so the stats pipeline has settled. */
  settleMs: number;
  /** Hours per slice of the window; a slice is compared, repaired and settled as a unit. */
  hoursPerSlice: number;
  /** Hour buckets repaired at the same time. */
  concurrency: number;
  /** Slices per workflow run before it continues as new (bounds history); 20 when absent. */
  slicesPerRun?: number;
}

export interface ReconcileInput extends ReconcileOptions {
  /** Start of the window, aligned to an hour; inclusive. Absent with `closedHourLagMinutes`. */
  from?: string;
  /** End of the window, aligned to an hour; exclusive. */
  to?: string;
  /**
   * Scheduled runs: reconcile the last hour that closed at least this many minutes before the run's start
   * (a Schedule's action cannot compute arguments, so the workflow derives its window).
   */
  closedHourLagMinutes?: number;
  /** Regions to reconcile; all configured regions when absent or empty. */
  regions?: string[];
  /** Carried over continue-as-new. */
  carry?: { cursor: string; report: ReconcileReport };
}

/** Count and ID digest of one side of a bucket. */
export interface BucketSide {
  count: number;
  digest: string;
}

/** One region's hour as the archive manifests (object metadata) and the stats API see it. */
export interface HourComparison {
  region: string;
  hour: string;
  archive: BucketSide;
  stats: BucketSide;
  /** Raw archive objects of the hour (distinct keys over the region's buckets). */
  objects: number;
  /** The sealed hour's version the archive side was read from (with the raw objects it does not hold). */
  sealedVersion?: number;
}

export interface CorruptObject {
  bucket: string;
  key: string;
  error: string;
}

/** What repairing one hour found and did. */
export interface HourRepair {
  region: string;
  hour: string;
  /** Raw objects read: every object of the hour, or those its seal does not hold. */
  objectsRead: number;
  /** The sealed hour read instead of the raw objects it holds: its version and the Parquet files read. */
  sealed?: { version: number; filesRead: number };
  /** Distinct events read. */
  eventsRead: number;
  /**
   * The archive side as read (distinct IDs), when no object was corrupt. Differs from the manifests' sum
   * when one event is in two objects (a batch resubmitted under a new batch ID).
   */
  archiveRead?: BucketSide;
  /** Events read more than once, in different objects. */
  duplicates: number;
  minutesDiffered: number;
  /** Events the stats API was missing, sent to it again. */
  replayed: number;
  /** Events in the stats API that no readable archive object holds: reported, left alone. */
  extra: BucketSide & { sample: string[] };
  /** False when a corrupt object hides part of the archive, so extras cannot be told apart. */
  extraKnown: boolean;
  corrupt: CorruptObject[];
}

export type ReconcileVerdict =
  | 'running'
  /** Archive and stats hold exactly the same events. */
  | 'equal'
  /** Every archived event is counted; the stats API also holds events the archive does not. */
  | 'extra-events'
  /** Some archive objects cannot be read; everything readable is reconciled. */
  | 'corrupt-objects'
  /** The attempt budget was spent while buckets still differed. */
  | 'unresolved';

export type ReconcilePhase = 'comparing' | 'replaying' | 'settling' | 'done' | 'failed';

export interface ReconcileReport {
  from: string;
  to: string;
  regions: string[];
  phase: ReconcilePhase;
  /** Hours of the window finished so far. */
  hoursDone: number;
  hoursTotal: number;
  /** (region, hour) buckets compared by their manifests. */
  bucketsCompared: number;
  /** Buckets whose first comparison differed. */
  bucketsDiffered: number;
  minuteBucketsDiffered: number;
  objectsRead: number;
  eventsRead: number;
  eventsReplayed: number;
  /** Events archived in more than one object (counted once). */
  archiveDuplicates: number;
  /** Most replay rounds any bucket needed. */
  iterations: number;
  extraEvents: number;
  /** Some extra event IDs per bucket, for the operator to look at. */
  extraSamples: { region: string; hour: string; ids: string[] }[];
  corruptObjects: CorruptObject[];
  /** Buckets still differing when the budget was spent. */
  unresolved: HourComparison[];
  verdict: ReconcileVerdict;
}

/** Extra samples and corrupt objects listed in a report at most, so it stays a small payload. */
export const REPORT_LIST_LIMIT = 100;

/** Readable, deterministic ID: a second run of the same window waits for the first instead of racing it. */
export function reconcileWorkflowId(from: string, to: string, regions: string[]): string {
  const scope = regions.length > 0 ? [...regions].sort().join('+') : 'all';
  return `reconcile-${scope}-${from}-${to}`;
}

/** Every hour start in [from, to). */
export function hoursBetween(from: string, to: string): string[] {
  const out: string[] = [];
  for (let t = Date.parse(from); t < Date.parse(to); t += HOUR_MS) out.push(new Date(t).toISOString());
  return out;
}

/** Throws naming the field when a window bound is not an hour-aligned ISO timestamp or the window is empty. */
export function validateWindow(from: string, to: string): void {
  for (const [field, value] of [
    ['from', from],
    ['to', to],
  ] as const) {
    const ms = Date.parse(value);
    if (Number.isNaN(ms)) throw new Error(`${field}: not an ISO-8601 timestamp: ${JSON.stringify(value)}`);
    if (ms % HOUR_MS !== 0)
      throw new Error(`${field}: must be aligned to an hour (e.g. 2026-11-28T10:00:00Z)`);
  }
  if (Date.parse(to) <= Date.parse(from)) throw new Error(`to: must be after from (${from})`);
}

/** Equal (count, digest) pairs: the same set of event IDs, with overwhelming probability. */
export function sidesEqual(a: BucketSide, b: BucketSide): boolean {
  return a.count === b.count && a.digest === b.digest;
}

/** XOR of two 128-bit hex digests, without node:crypto (workflows use it): removes a disjoint subset. */
function xorHex(a: string, b: string): string {
  let out = '';
  for (let i = 0; i < a.length; i += 2) {
    const byte = parseInt(a.slice(i, i + 2), 16) ^ parseInt(b.slice(i, i + 2), 16);
    out += byte.toString(16).padStart(2, '0');
  }
  return out;
}

/** The stats side without the extra events already reported for it: what must equal the archive side. */
export function withoutExtra(stats: BucketSide, extra: BucketSide | undefined): BucketSide {
  return extra ? { count: stats.count - extra.count, digest: xorHex(stats.digest, extra.digest) } : stats;
}

/** An empty bucket: no events, the digest of the empty set. */
export const EMPTY_SIDE: BucketSide = { count: 0, digest: '0'.repeat(32) };
