import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { BatchStatus } from './batch';
import type { ReconcileReport } from './reconcile';

/** Signal, update and query definitions: the one module both workflows and their callers import. */

/** Ends a captured batch's wait now instead of at the end of its backoff timer. */
export const retryNowSignal = defineSignal('retryNow');

export const batchStatusQuery = defineQuery<BatchStatus>('batchStatus');

/** The live report of a reconciliation run: what it compared, read and replayed so far. */
export const reconcileReportQuery = defineQuery<ReconcileReport>('reconcileReport');
