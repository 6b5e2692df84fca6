import type { AppConfig } from '../config/schema';
import type { RegionTopology } from '../shared/regions';

/** The configured regions and their ordered archive targets, for workflows that must not read configuration. */
export function createRegionActivities(config: AppConfig) {
  return {
    // eslint-disable-next-line @typescript-eslint/require-await -- activities are async by contract
    async listRegions(): Promise<RegionTopology[]> {
      return config.regions.map((r) => ({ name: r.name, archive: r.archive.map((t) => ({ ...t })) }));
    },
  };
}
