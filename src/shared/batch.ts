/**
 * A batch is the unit of hand-over: events of one origin region and one UTC hour (so its archive object
 * belongs to exactly one Hive partition), archived as one object and delivered to the stats API.
 *
 * The events travel as the archive object itself (gzip NDJSON, made once at hand-over) next to this
 * manifest: workflow and activities pass bytes along instead of re-serialising and re-compressing a thousand
 * events at every step, and the codec server shows them to a person as JSON.
 */
export interface BatchManifest {
  batchId: string;
  /** Origin region of every event in the batch. */
  region: string;
  /** Start of the UTC hour every event's timestamp falls in, ISO-8601. */
  hour: string;
  /** Events in the batch. */
  count: number;
  /** Order-independent digest of the event IDs (shared/idDigest). */
  digest: string;
  /** SHA-256 of the archive object, hex: checked before every PUT, and how a retry recognises its own PUT. */
  sha256: string;
  /** When the batch was handed over (ingest/client clock), ISO-8601. */
  acceptedAt: string;
}

export interface ArchiveBatchInput extends BatchManifest {
  capture: CaptureBackoff;
  /** Carried over continue-as-new so finished halves are never redone. */
  progress?: BatchProgress;
}

/** The durable timer between attempts of a captured batch: exponential, capped. */
export interface CaptureBackoff {
  initialMs: number;
  maxMs: number;
}

export const DEFAULT_CAPTURE_BACKOFF: CaptureBackoff = { initialMs: 5_000, maxMs: 300_000 };

export type BatchState = 'pending' | 'captured' | 'archived' | 'delivered' | 'done';

export interface ArchivedObject {
  bucket: string;
  /** Region of the bucket (differs from the batch's region when it went to a failover bucket). */
  bucketRegion: string;
  key: string;
  /** True when an earlier attempt had already written it (its answer was lost). */
  alreadyPresent: boolean;
  /** Buckets tried before this one and why they were passed over. */
  skipped: { bucket: string; reason: string }[];
}

export interface Delivery {
  accepted: number;
  duplicates: number;
}

export interface BatchProgress {
  archived?: ArchivedObject;
  delivered?: Delivery;
  /** Attempt rounds so far, over every run of the workflow. */
  attempts: number;
  capturedSince?: string;
}

export interface BatchStatus extends BatchProgress {
  batchId: string;
  region: string;
  events: number;
  state: BatchState;
  lastError?: string;
  nextAttemptAt?: string;
}

/** Workflow ID of a batch: deterministic, so handing the same batch over twice starts one workflow. */
export const archiveWorkflowId = (region: string, batchId: string): string => `archive-${region}-${batchId}`;

/** The Hive-partitioned key of a batch's archive object, the same in every bucket. */
export function archiveKey(region: string, hour: string, batchId: string): string {
  const dt = hour.slice(0, 10);
  const hh = hour.slice(11, 13);
  return `events/v1/region=${region}/dt=${dt}/hour=${hh}/${batchId}.ndjson.gz`;
}

/** Start of the UTC hour of an ISO timestamp, in ms since the epoch. */
export function hourStartMs(timestamp: string): number {
  const ms = Date.parse(timestamp);
  return ms - (ms % 3_600_000);
}

/** Start of the UTC hour of an ISO timestamp, as ISO-8601 (`2026-11-28T05:00:00.000Z`). */
export function hourOf(timestamp: string): string {
  return new Date(hourStartMs(timestamp)).toISOString();
}
