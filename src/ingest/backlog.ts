import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import { runningBatchesQuery } from '../client/batchQuery';
import type { AppConfig } from '../config/schema';
import { watchCapturedBacklog } from '../metrics/ingestMetrics';

const COUNT_TIMEOUT_MS = 5_000;

/** Feeds the captured and quarantined gauges from Temporal visibility, one count per state and region. */
export function watchBacklog(client: Client, config: AppConfig, log: Logger): () => void {
  return watchCapturedBacklog({
    regions: config.regions.map((r) => r.name),
    count: async (state, region) => {
      const { count } = await client.withDeadline(Date.now() + COUNT_TIMEOUT_MS, () =>
        client.workflow.count(runningBatchesQuery(state, region)),
      );
      return count;
    },
    onError: (err) => log.warn({ err }, 'could not count captured or quarantined batches for metrics'),
  });
}
