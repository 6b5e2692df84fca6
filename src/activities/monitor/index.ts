import { Context } from '@temporalio/activity';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { RegionControlClient } from '../../client/regionControl';
import type { AppConfig } from '../../config/schema';
import type { FailoverAsk } from '../../shared/monitor';
import type { OperationRequest } from '../../shared/regionControl';
import { searchAttributes } from '../../shared/searchAttributes';

/** What the health monitor does besides probing: ask region-control for a failover, read the backlog. */
export function createMonitorActivities(config: AppConfig) {
  return {
    /**
     * Asks region-control for a failover through its Update. A refusal (another operation running, a failing
     * preflight) is an answer for the monitor to report, not an activity failure to retry. Idempotent in
     * effect: region-control refuses a second operation while the first runs.
     */
    requestFailover: async (req: OperationRequest): Promise<FailoverAsk> => {
      const control = new RegionControlClient(Context.current().client, config);
      try {
        const op = await control.request(req);
        return { started: true, operationId: op.id, detail: `operation ${op.id} ${op.outcome}` };
      } catch (err) {
        if (!(err instanceof WorkflowUpdateFailedError)) throw err;
        return { started: false, detail: err.cause?.message ?? err.message };
      }
    },

    /** Captured archive batches right now (a visibility count: what `stormproof batches` lists). */
    capturedBacklog: async (): Promise<number> => {
      const query = `WorkflowType = 'archiveBatch' AND ExecutionStatus = 'Running' AND ${searchAttributes.batchState.name} = 'captured'`;
      return (await Context.current().client.workflow.count(query)).count;
    },
  };
}
