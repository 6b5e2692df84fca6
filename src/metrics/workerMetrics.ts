import { Counter, Gauge } from 'prom-client';
import { workerRegistry } from './registries';

const registers = [workerRegistry];

export const workerMetrics = {
  eventsArchived: new Counter({
    name: 'stormproof_events_archived_total',
    help: 'Events written to S3 by the capture workflows (archiveEvents), by origin region and the bucket that took them',
    labelNames: ['region', 'bucket'] as const,
    registers,
  }),
  eventsDelivered: new Counter({
    name: 'stormproof_events_delivered_total',
    help: 'Events delivered to the stats API by the capture workflows, by region',
    labelNames: ['region'] as const,
    registers,
  }),
};

const failoverPhase = new Gauge({
  name: 'stormproof_failover_phase',
  help: 'Current failover phase of each region: 1 on the series of the phase it is in, 0 on the others',
  labelNames: ['region', 'phase'] as const,
  registers,
});
const phaseOf = new Map<string, string>();

/**
 * Records that a region's failover (or failback) entered a phase, e.g. from the saga's activities. The phase
 * left is set to 0 rather than removed, so a dashboard sees the transition.
 */
export function setFailoverPhase(region: string, phase: string): void {
  const previous = phaseOf.get(region);
  if (previous !== undefined && previous !== phase) failoverPhase.set({ region, phase: previous }, 0);
  failoverPhase.set({ region, phase }, 1);
  phaseOf.set(region, phase);
}
