import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { BatchStatus } from './batch';

/** Signal, update and query definitions: the one module both workflows and their callers import. */

/** Ends a captured batch's wait now instead of at the end of its backoff timer. */
export const retryNowSignal = defineSignal('retryNow');

export const batchStatusQuery = defineQuery<BatchStatus>('batchStatus');
