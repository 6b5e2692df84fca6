import type { ArchiveTargetRef } from './regions';

/** Plain data shared by the regionControl workflow, its activities and its callers (workflow-safe). */

export type OperationKind = 'failover' | 'failback';
/** full: archive and traffic; archive-only and traffic-only move one of them. */
export type OperationMode = 'full' | 'archive-only' | 'traffic-only';
export const OPERATION_MODES: OperationMode[] = ['full', 'archive-only', 'traffic-only'];
/**
 * weights: shift Route 53 weighted records (control plane calls on the recovery path). health-check: drain the
 * region's ingest routing-health endpoint, so Route 53 health checks move traffic (data plane only).
 */
export type TrafficStrategy = 'weights' | 'health-check';
export const TRAFFIC_STRATEGIES: TrafficStrategy[] = ['weights', 'health-check'];

export type StepName =
  | 'preflight'
  | 'approval'
  | 'redirect-archive'
  | 'shift-traffic'
  | 'verify'
  /** failover moving traffic: the region's cap allowance is revoked and waited for (issue 15). */
  | 'hand-over-caps'
  /** failback moving traffic: the region's holders may be granted cap allowance again. */
  | 'restore-caps'
  | 'rehome';
export type StepState =
  'pending' | 'running' | 'done' | 'failed' | 'skipped' | 'compensating' | 'compensated';

export interface StepRecord {
  name: StepName;
  state: StepState;
  startedAt?: string;
  finishedAt?: string;
  detail?: string;
}

/** The weighted tracking record of one region, as Route 53 holds it. */
export interface WeightedRecord {
  setIdentifier: string;
  weight: number;
  value: string;
  ttl: number;
}

export interface ControlledRegion {
  name: string;
  /** Ordered archive targets in force now (the home bucket first unless the region is failed over). */
  archive: ArchiveTargetRef[];
  /** The configured order, which a failback restores. */
  homeArchive: ArchiveTargetRef[];
  statsUrl: string;
  /** The region's ingest routing-health endpoint, when it has one (verifies a drain). */
  routingHealthUrl?: string;
  /** Its ingest answers 503 on routing-health: Route 53 health checks take its traffic away. */
  drained?: boolean;
  /** Set while the region's archive and/or traffic are moved away: what a failback restores. */
  failedOver?: {
    operationId: string;
    to: string;
    since: string;
    previousWeights: WeightedRecord[];
    trafficStrategy: TrafficStrategy;
  };
}

export interface TrafficConfig {
  hostedZoneName: string;
  recordName: string;
}

export interface OperationRequest {
  kind: OperationKind;
  /** failover: the failing region; failback: the region coming home. */
  region: string;
  /** failover: where traffic and archive go; failback: the region that carried the load. */
  to: string;
  reason: string;
  operator: string;
  mode: OperationMode;
  /** failover only (default weights); a failback undoes what its failover did. */
  trafficStrategy?: TrafficStrategy;
  dryRun?: boolean;
  /** Pre-approved: skip the approval gate. */
  approved?: boolean;
  /** Test hook and operator option: how long the approval gate waits before aborting. */
  approvalTimeoutMs?: number;
  /**
   * failback only: re-home the objects written to the stand-in buckets since this ISO-8601 time (default
   * REHOME_LOOKBACK_MS before the failover was requested), so a failback's cost follows the outage's length.
   */
  rehomeSince?: string;
}

/**
 * The failure type of a request refused at preflight (the target not ready right now), as opposed to an invalid
 * request: asking again later may succeed.
 */
export const PREFLIGHT_FAILED = 'PreflightFailed';

/**
 * How far before a failover's request re-homing looks by default: the circuit breaker may have sent batches to
 * the failover bucket while the outage was still being detected.
 */
export const REHOME_LOOKBACK_MS = 60 * 60 * 1000;

/** Every change an operation makes, computed before it makes any. */
export interface OperationPlan {
  archive?: { region: string; from: ArchiveTargetRef[]; to: ArchiveTargetRef[] };
  traffic?: { zone: string; record: string; from: WeightedRecord[]; to: WeightedRecord[] };
  /** health-check strategy: the region's routing-health state before → after. */
  drain?: { region: string; from: boolean; to: boolean };
  /** failback: objects of the region written to these buckets since `since` are copied to its home bucket. */
  rehome?: { region: string; from: ArchiveTargetRef[]; home: ArchiveTargetRef; since: string };
}

export type OperationOutcome = 'running' | 'succeeded' | 'rolled-back' | 'aborted' | 'dry-run';

export interface OperationRecord {
  id: string;
  request: OperationRequest;
  plan: OperationPlan;
  requestedAt: string;
  approvedBy?: string;
  abortedBy?: string;
  outcome: OperationOutcome;
  /** Why it rolled back or aborted. */
  error?: string;
  steps: StepRecord[];
  finishedAt?: string;
  /** Request to traffic shifted and archive redirected, in milliseconds. */
  recoveryMs?: number;
  rehomed?: { copied: number; alreadyPresent: number };
}

export interface RegionControlInput {
  regions: ControlledRegion[];
  traffic: TrafficConfig;
  /** Carried over a continue-as-new. */
  history?: OperationRecord[];
  weights?: WeightedRecord[];
  /** Default wait at the approval gate before an operation aborts. */
  approvalTimeoutMs: number;
  /** How long verification waits for workers to see a redirect (their target cache period, plus margin). */
  verifyWithinMs: number;
  /** History events after which it continues as new between operations (default 5,000; tests set it low). */
  maxHistoryEvents?: number;
  /** The cap hand-over step (absent in runs started before it: CAPS_HANDOVER_DEFAULTS). */
  capsHandover?: CapsHandoverSettings;
}

export interface CapsHandoverSettings {
  /** How long the step waits for the region's holders to give back or lose their grants (a lease, the reclaim delay, margin). */
  withinMs: number;
  /** Between two looks at what the region's holders still hold. */
  checkEveryMs: number;
}

/** The configured defaults' lease (60 s) and reclaim delay (60 s), plus a minute for counting. */
export const CAPS_HANDOVER_DEFAULTS: CapsHandoverSettings = { withinMs: 180_000, checkEveryMs: 5_000 };

export interface RegionControlState {
  regions: ControlledRegion[];
  traffic: TrafficConfig;
  /** The weights last written or read by an operation. */
  weights?: WeightedRecord[];
  current?: OperationRecord;
  /** Newest first, bounded. */
  history: OperationRecord[];
}

export interface ApproveRequest {
  operationId: string;
  operator: string;
}
export type AbortRequest = ApproveRequest;

/** The default ID: one regionControl per deployment. */
export const REGION_CONTROL_ID = 'region-control';

/** Weights after moving `from`'s share to `to` (the failing region goes to 0, nothing else changes). */
export function shiftedWeights(current: WeightedRecord[], from: string, to: string): WeightedRecord[] {
  const moved = current.find((r) => r.setIdentifier === from)?.weight ?? 0;
  return current.map((r) => {
    if (r.setIdentifier === from) return { ...r, weight: 0 };
    if (r.setIdentifier === to) return { ...r, weight: r.weight + moved };
    return r;
  });
}

/** A failing region's archive order: buckets in `to` first, then any other bucket outside the failing region. */
export function redirectedTargets(targets: ArchiveTargetRef[], from: string, to: string): ArchiveTargetRef[] {
  const outside = targets.filter((t) => t.region !== from);
  return [...outside.filter((t) => t.region === to), ...outside.filter((t) => t.region !== to)];
}
