import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { RegionProbeReport } from '../shared/regions';

const { listRegions, probeArchiveTarget } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 3, initialInterval: '1 second' },
});

/**
 * Checks every archive target of every region at once (canary write, read, delete) and reports which are
 * writable: the preflight of a failover and the eyes of the health monitor.
 */
export async function probeRegions(): Promise<RegionProbeReport> {
  const regions = await listRegions();
  const probed = await Promise.all(
    regions.map(async (r) => ({
      name: r.name,
      targets: await Promise.all(r.archive.map(probeArchiveTarget)),
    })),
  );
  return { checkedAt: workflowInfo().runStartTime.toISOString(), regions: probed };
}
