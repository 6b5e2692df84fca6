/**
 * A batch is the unit of archiving: events of one origin region and one UTC hour (so its archive object
 * belongs to exactly one Hive partition), archived as one object and delivered to the stats API.
 *
 * A healthy batch never reaches Temporal: the ingest archives and delivers it itself. What failed is
 * captured: a captureBatch workflow gets the archive object itself (gzip NDJSON, made once at the ingest)
 * next to this manifest when the archive half failed, or only a pointer to the archived object (a claim
 * check) when only the stats delivery did. The codec server shows an object to a person as its events.
 */
export interface BatchManifest {
  batchId: string;
  /** Origin region of every event in the batch. */
  region: string;
  /** Start of the UTC hour every event's timestamp falls in, ISO-8601. */
  hour: string;
  /** Events in the batch. */
  count: number;
  /** Order-independent digest of the event IDs (src/archive/idDigest). */
  digest: string;
  /** SHA-256 of the archive object, hex: checked before every PUT, and how a retry recognises its own PUT. */
  sha256: string;
  /** When the batch was handed over (ingest/client clock), ISO-8601. */
  acceptedAt: string;
}

/** Input of the archiveBatch workflows started by versions before the fast path (kept until they finish). */
export interface ArchiveBatchInput extends BatchManifest {
  capture: CaptureBackoff;
  /** Carried over continue-as-new so finished halves are never redone. */
  progress?: BatchProgress;
}

/** What the fast path hands to a captureBatch workflow; the archive object rides beside it when not archived. */
export interface CaptureInput {
  manifest: BatchManifest;
  capture: CaptureBackoff;
  /** Why the fast path could not finish the batch (the first error), for the UI and the CLI. */
  reason: string;
  /** The claim check: the batch is archived here, and only its stats delivery was captured. */
  archived?: ArchivedObject;
  /** Carried over continue-as-new so finished halves are never redone. */
  progress?: CaptureProgress;
}

/** A batch held for an operator: a failure that no retry can cure (see docs/operations.md). */
export interface Quarantine {
  since: string;
  /** Which half failed for good. */
  half: 'archive' | 'stats';
  /** The failure's type, e.g. ArchiveConflict, CorruptBatch, StatsRejected. */
  type: string;
  reason: string;
}

/** An operator's decision on a quarantined batch: try again (after fixing the cause), or give it up. */
export interface QuarantineDecision {
  action: 'release' | 'discard';
  /** Who decided (recorded in the workflow's history and status). */
  by: string;
  why: string;
}

export interface CaptureProgress extends BatchProgress {
  quarantine?: Quarantine;
  /** Every decision taken on this batch's quarantines, oldest first. */
  decisions?: (QuarantineDecision & { at: string; quarantine: Quarantine })[];
  discarded?: boolean;
}

/** The durable timer between attempts of a captured batch: exponential, capped. */
export interface CaptureBackoff {
  initialMs: number;
  maxMs: number;
}

export const DEFAULT_CAPTURE_BACKOFF: CaptureBackoff = { initialMs: 5_000, maxMs: 300_000 };

export type BatchState =
  'pending' | 'captured' | 'archived' | 'delivered' | 'done' | 'quarantined' | 'discarded';

/** The states a CLI or a visibility query may ask for, in lifecycle order. */
export const BATCH_STATES: readonly BatchState[] = [
  'pending',
  'captured',
  'archived',
  'delivered',
  'done',
  'quarantined',
  'discarded',
];

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

export interface BatchStatus extends CaptureProgress {
  batchId: string;
  region: string;
  events: number;
  state: BatchState;
  lastError?: string;
  nextAttemptAt?: string;
  /** Why the batch was captured (captureBatch only). */
  reason?: string;
}

/** Workflow ID of a captured batch: deterministic, so capturing the same batch twice starts one workflow. */
export const captureWorkflowId = (region: string, batchId: string): string => `capture-${region}-${batchId}`;

/** The workflow types that hold batches: captureBatch, and archiveBatch of versions before the fast path. */
export const BATCH_WORKFLOW_TYPES = ['captureBatch', 'archiveBatch'] as const;

/** Start of the UTC hour of an ISO timestamp, in ms since the epoch. */
export function hourStartMs(timestamp: string): number {
  return hourStartOf(Date.parse(timestamp));
}

/** Start of the UTC hour of an instant, both in ms since the epoch. */
export function hourStartOf(ms: number): number {
  return ms - (ms % 3_600_000);
}

/** Start of the UTC hour of an ISO timestamp, as ISO-8601 (`2026-11-28T05:00:00.000Z`). */
export function hourOf(timestamp: string): string {
  return new Date(hourStartMs(timestamp)).toISOString();
}
