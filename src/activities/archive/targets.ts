import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { AppConfig } from '../../config/schema';
import { regionControlStateQuery } from '../../shared/messages';
import type { ArchiveTargetRef } from '../../shared/regions';

/** Where a region's events may be archived, best first. */
export interface ArchiveTargetSource {
  targetsFor(region: string): Promise<ArchiveTargetRef[]>;
}

/** The configured order: home bucket, then failover buckets. */
export function configuredTargets(config: AppConfig): ArchiveTargetSource {
  const byRegion = new Map(config.regions.map((r) => [r.name, r.archive]));
  return {
    // eslint-disable-next-line @typescript-eslint/require-await -- the interface is async for live sources
    async targetsFor(region) {
      const targets = byRegion.get(region);
      if (!targets) throw new Error(`no archive targets configured for region ${region}`);
      return targets;
    },
  };
}

/**
 * The order regionControl holds (so a failover's redirect reaches every worker), read by a query and cached for
 * `cacheMs`: archiving pays a query at most once per `cacheMs`. When regionControl is not running, or does not
 * answer, the last order it gave is kept; with none yet, the configured order applies.
 */
export function regionControlTargets(
  config: AppConfig,
  client: Client,
  log: (message: string) => void,
): ArchiveTargetSource {
  const fallback = configuredTargets(config);
  const { workflowId, targetCacheMs, queryTimeoutMs } = config.regionControl;
  let cached: { at: number; byRegion: Map<string, ArchiveTargetRef[]> } | undefined;
  let inflight: Promise<void> | undefined;

  async function refresh(): Promise<void> {
    try {
      const state = await client.connection.withDeadline(Date.now() + queryTimeoutMs, () =>
        client.workflow.getHandle(workflowId).query(regionControlStateQuery),
      );
      cached = { at: Date.now(), byRegion: new Map(state.regions.map((r) => [r.name, r.archive])) };
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError))
        log(
          `regionControl ${workflowId} did not answer (${(err as Error).message}); keeping the last known order`,
        );
      // Not running (or not answering): try again after a full cache period, not on every batch.
      cached = { at: Date.now(), byRegion: cached?.byRegion ?? new Map<string, ArchiveTargetRef[]>() };
    }
  }

  return {
    async targetsFor(region) {
      if (!cached || Date.now() - cached.at >= targetCacheMs) {
        inflight ??= refresh().finally(() => (inflight = undefined));
        await inflight;
      }
      return cached?.byRegion.get(region) ?? fallback.targetsFor(region);
    },
  };
}
