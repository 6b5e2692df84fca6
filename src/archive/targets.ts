import type { RegionControlReader } from '../client/regionControlReader';
import type { AppConfig } from '../config/schema';
import type { ArchiveTargetRef } from '../shared/regions';

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
 * The order regionControl holds (so a failover's redirect reaches every worker within one cache period of the
 * reader); the configured order while regionControl has never answered.
 */
export function regionControlTargets(config: AppConfig, reader: RegionControlReader): ArchiveTargetSource {
  const fallback = configuredTargets(config);
  return {
    async targetsFor(region) {
      const state = await reader.read();
      return state?.regions.find((r) => r.name === region)?.archive ?? fallback.targetsFor(region);
    },
  };
}
