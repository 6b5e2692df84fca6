import { Context } from '@temporalio/activity';
import { ApplicationFailure, WorkflowUpdateFailedError } from '@temporalio/client';
import { RegionControlClient } from '../../client/regionControl';
import type { AppConfig } from '../../config/schema';
import type { FailoverAsk } from '../../shared/monitor';
import { PREFLIGHT_FAILED, type OperationRequest } from '../../shared/regionControl';
import { runningBatchesQuery } from '../../client/batchQuery';

/** What the health monitor does besides probing: ask region-control for a failover, read the backlog. */
export function createMonitorActivities(config: AppConfig) {
  return {
    /**
     * Asks region-control for a failover through its Update. A refusal is an answer for the monitor, not an
     * activity failure to retry: an invalid request (another operation running, already failed over) is final,
     * a failed preflight (the target not ready right now) is worth asking again. Idempotent in effect:
     * region-control refuses a second operation while the first runs.
     */
    requestFailover: async (req: OperationRequest): Promise<FailoverAsk> => {
      const control = new RegionControlClient(Context.current().client, config);
      try {
        const op = await control.request(req);
        return { started: true, operationId: op.id, detail: `operation ${op.id} ${op.outcome}` };
      } catch (err) {
        if (!(err instanceof WorkflowUpdateFailedError)) throw err;
        const preflightFailed =
          err.cause instanceof ApplicationFailure && err.cause.type === PREFLIGHT_FAILED;
        return { started: false, retryable: preflightFailed, detail: err.cause?.message ?? err.message };
      }
    },

    /** Captured batches right now (a visibility count: what `stormproof batches` lists). */
    capturedBacklog: async (): Promise<number> =>
      (await Context.current().client.workflow.count(runningBatchesQuery('captured'))).count,
  };
}
