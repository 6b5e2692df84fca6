import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { BatchStatus, QuarantineDecision } from './batch';
import type { CapChange, CapDeletion, StoredCap } from './caps';
import type {
  AllowanceGrant,
  AllowanceRequest,
  AllowanceReturn,
  CapLedgerStatus,
  CapRevocation,
  RegionRevocation,
} from './capLedger';
import type {
  HolderSessionEnded,
  HolderSessionStatus,
  SessionEnd,
  SessionLease,
  SessionRenewal,
} from './holderSession';
import type { MonitorStatus } from './monitor';
import type { ReconcileReport } from './reconcile';
import type {
  AbortRequest,
  ApproveRequest,
  OperationRecord,
  OperationRequest,
  RegionControlState,
} from './regionControl';

/** Signal, update and query definitions: the one module both workflows and their callers import. */

/** Ends a captured batch's wait now instead of at the end of its backoff timer. */
export const retryNowSignal = defineSignal('retryNow');

export const batchStatusQuery = defineQuery<BatchStatus>('batchStatus');

/** Releases a quarantined batch (try again) or discards it, recording who and why; refused when not quarantined. */
export const resolveQuarantineUpdate = defineUpdate<BatchStatus, [QuarantineDecision]>('resolveQuarantine');

/** The live report of a reconciliation run: what it compared, read and replayed so far. */
export const reconcileReportQuery = defineQuery<ReconcileReport>('reconcileReport');
/** regionControl: regions, archive targets, traffic, the operation in progress and past ones. */
export const regionControlStateQuery = defineQuery<RegionControlState>('regionControlState');

/**
 * Starts a failover or failback (or answers its plan, for a dry run). Refused, with the reason, before anything
 * changes: unknown region, from = to, another operation running, or a failing preflight.
 */
export const requestOperationUpdate = defineUpdate<OperationRecord, [OperationRequest]>('requestOperation');

/** Passes the approval gate of the operation waiting at it. */
export const approveOperationUpdate = defineUpdate<OperationRecord, [ApproveRequest]>('approveOperation');

/** Stops the running operation: waiting for approval nothing has changed; later, completed steps are undone. */
export const abortOperationUpdate = defineUpdate<OperationRecord, [AbortRequest]>('abortOperation');

/** regionHealthMonitor: each region's health, the captured backlog, and what the monitor did. */
export const monitorStatusQuery = defineQuery<MonitorStatus>('monitorStatus');

/** capRegistry: every cap definition. */
export const capsQuery = defineQuery<StoredCap[]>('caps');

/** Adds a cap; refused (naming each field at fault) when invalid or when its ID is taken. */
export const createCapUpdate = defineUpdate<StoredCap, [CapChange]>('createCap');

/** Replaces a cap's definition; refused when invalid, unknown, or not at `expectedRevision`. */
export const updateCapUpdate = defineUpdate<StoredCap, [CapChange]>('updateCap');

/** Removes a cap; answers the definition removed; refused when unknown. */
export const deleteCapUpdate = defineUpdate<StoredCap, [CapDeletion]>('deleteCap');

/** capRegistry: the regions whose cap allowance a failover took, for ledgers that start later. */
export const capRevocationsQuery = defineQuery<RegionRevocation[]>('capRevocations');

/** capRegistry: records a failover's revocation of a region (idempotent); answers every revocation. */
export const recordCapRevocationUpdate = defineUpdate<RegionRevocation[], [RegionRevocation]>(
  'recordCapRevocation',
);

/** capRegistry: lifts a region's revocation (its rollback or failback); answers every revocation left. */
export const liftCapRevocationUpdate = defineUpdate<RegionRevocation[], [RegionRevocation]>(
  'liftCapRevocation',
);

/**
 * capLedger: a holder asks for allowance (totals: a retry grants nothing more); one without a session renews its
 * lease with it.
 */
export const requestAllowanceUpdate = defineUpdate<AllowanceGrant, [AllowanceRequest]>('requestAllowance');

/** capLedger: a holder gives back what it did not spend, reporting its final spend. */
export const returnAllowanceUpdate = defineUpdate<void, [AllowanceReturn]>('returnAllowance');

/** capLedger: limit, spent, grants and leases per holder. */
export const capLedgerStatusQuery = defineQuery<CapLedgerStatus>('capLedgerStatus');

/**
 * capLedger: a failover takes a region's allowance back: its holders are granted and renewed nothing more; one
 * that asks is told to give back at once, one that does not loses its grant when its lease ends. Idempotent.
 */
export const revokeRegionUpdate = defineUpdate<CapRevocation, [RegionRevocation]>('revokeRegion');

/** capLedger: lifts a region's revocation (a rollback or failback); answers whether one was lifted. Idempotent. */
export const restoreRegionUpdate = defineUpdate<boolean, [RegionRevocation]>('restoreRegion');

/** capHolderSession: the holder renews its one lease for all its grants; refused once the session ended. */
export const renewHolderSessionUpdate = defineUpdate<SessionLease, [SessionRenewal]>('renewHolderSession');

/** capHolderSession: the holder closes (it spends nothing more); the session tells its other ledgers and ends. */
export const endHolderSessionUpdate = defineUpdate<void, [SessionEnd]>('endHolderSession');

/** capHolderSession: a ledger (its workflow ID) tells the session it grants to the holder. */
export const holderHoldsLedgerSignal = defineSignal<[string]>('holderHoldsLedger');

/** capLedger: a holder's session ended: a holder still holding under it is expired (stranded, then reclaimed). */
export const holderSessionEndedSignal = defineSignal<[HolderSessionEnded]>('holderSessionEnded');

/** capHolderSession: its lease and ledgers. */
export const holderSessionStatusQuery = defineQuery<HolderSessionStatus>('holderSessionStatus');
