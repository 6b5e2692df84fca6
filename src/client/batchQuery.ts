import type { Client } from '@temporalio/client';
import { batchIdHour } from '../archive/format';
import { BATCH_WORKFLOW_TYPES, captureWorkflowId, type BatchState } from '../shared/batch';
import { searchAttributes } from '../shared/searchAttributes';

/**
 * The visibility query for running batch workflows in a state (the captured backlog, the quarantined ones),
 * optionally of one origin region: the one place the CLI, the ingest's gauges and the monitor ask it.
 */
export function runningBatchesQuery(state: BatchState, region?: string): string {
  const types = BATCH_WORKFLOW_TYPES.map((t) => `'${t}'`).join(', ');
  const where = [
    `WorkflowType IN (${types})`,
    `ExecutionStatus = 'Running'`,
    `${searchAttributes.batchState.name} = '${state}'`,
  ];
  if (region !== undefined) where.push(`${searchAttributes.region.name} = '${region}'`);
  return where.join(' AND ');
}

/** Running captureBatch workflows of one region's hour: their IDs begin with the hour (see batchIdHour). */
export function pendingCapturesQuery(region: string, hour: string): string {
  const prefix = `${captureWorkflowId(region, batchIdHour(hour))}-`;
  return `WorkflowType = 'captureBatch' AND ExecutionStatus = 'Running' AND WorkflowId STARTS_WITH '${prefix}'`;
}

/**
 * The hour's captured batches not archived yet (at most `limit` IDs, and how many in all): each of them, when
 * it lands, seals the hour again if it is sealed by then.
 */
export async function pendingCaptures(
  client: Client,
  region: string,
  hour: string,
  limit = 20,
): Promise<{ count: number; workflowIds: string[] }> {
  const query = pendingCapturesQuery(region, hour);
  const { count } = await client.workflow.count(query);
  const workflowIds: string[] = [];
  if (count > 0)
    for await (const w of client.workflow.list({ query, pageSize: limit })) {
      workflowIds.push(w.workflowId);
      if (workflowIds.length >= limit) break;
    }
  return { count, workflowIds };
}
