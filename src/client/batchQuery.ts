import { BATCH_WORKFLOW_TYPES, type BatchState } from '../shared/batch';
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
