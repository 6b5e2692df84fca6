import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { AppConfig } from '../config/schema';
import { regionControlStateQuery } from '../shared/messages';
import type { RegionControlState } from '../shared/regionControl';

export interface RegionControlReader {
  /**
   * regionControl's state, at most `targetCacheMs` plus one query old; undefined while it has never answered.
   */
  read(): Promise<RegionControlState | undefined>;
}

/**
 * Reads regionControl's state with a query, at most once per `targetCacheMs` (concurrent callers share one
 * query). Only the first read waits for it: later ones answer from the last state while a stale one is being
 * refreshed, because a query is a worker's task (tens of ms) and every batch on the fast path reads this.
 * When regionControl is not running, or does not answer within `queryTimeoutMs`, the last state is kept.
 */
export function regionControlReader(
  config: AppConfig,
  client: Client,
  log: (message: string) => void,
): RegionControlReader {
  const { workflowId, targetCacheMs, queryTimeoutMs } = config.regionControl;
  let cached: { at: number; state?: RegionControlState } | undefined;
  let inflight: Promise<void> | undefined;

  async function refresh(): Promise<void> {
    try {
      const state = await client.connection.withDeadline(Date.now() + queryTimeoutMs, () =>
        client.workflow.getHandle(workflowId).query(regionControlStateQuery),
      );
      cached = { at: Date.now(), state };
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError))
        log(
          `regionControl ${workflowId} did not answer (${(err as Error).message}); keeping the last known state`,
        );
      // Not running (or not answering): ask again after a full cache period, not on every call.
      cached = { at: Date.now(), state: cached?.state };
    }
  }

  return {
    async read() {
      if (!cached || Date.now() - cached.at >= targetCacheMs) {
        inflight ??= refresh().finally(() => (inflight = undefined));
        if (!cached) await inflight;
      }
      return cached?.state;
    },
  };
}
