import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import type { AppConfig } from '../config/schema';
import { watchCapturedBacklog } from '../metrics/ingestMetrics';
import { searchAttributes } from '../shared/searchAttributes';

const COUNT_TIMEOUT_MS = 5_000;

/** Feeds the captured-backlog gauge from Temporal visibility, one count per configured region. */
export function watchBacklog(client: Client, config: AppConfig, log: Logger): () => void {
  const { batchState, region } = searchAttributes;
  return watchCapturedBacklog({
    regions: config.regions.map((r) => r.name),
    countCaptured: async (name) => {
      const query =
        `WorkflowType = 'archiveBatch' AND ExecutionStatus = 'Running' AND ` +
        `${batchState.name} = 'captured' AND ${region.name} = '${name}'`;
      const { count } = await client.withDeadline(Date.now() + COUNT_TIMEOUT_MS, () =>
        client.workflow.count(query),
      );
      return count;
    },
    onError: (err) => log.warn({ err }, 'could not count the captured backlog for metrics'),
  });
}
