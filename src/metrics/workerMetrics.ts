import { Counter, Gauge } from 'prom-client';
import { workerRegistry } from './registries';

const registers = [workerRegistry];

export const workerMetrics = {
  eventsArchived: new Counter({
    name: 'stormproof_events_archived_total',
    help: 'Events written to S3 by archiveEvents, by origin region and the bucket that took them',
    labelNames: ['region', 'bucket'] as const,
    registers,
  }),
  eventsDelivered: new Counter({
    name: 'stormproof_events_delivered_total',
    help: 'Events delivered to the stats API by deliverEvents, by region',
    labelNames: ['region'] as const,
    registers,
  }),
};

/** What a breaker gauge reads: the state of one bucket's circuit breaker. */
export type BreakerStateSource = (bucket: string) => 'closed' | 'half-open' | 'open';
const BREAKER_VALUE = { closed: 0, 'half-open': 1, open: 2 } as const;
const breakerSources = new Set<{ buckets: string[]; state: BreakerStateSource }>();

new Gauge({
  name: 'stormproof_archive_breaker_state',
  help: 'Circuit breaker of each archive bucket in this worker: 0 closed, 1 half-open (probing), 2 open (skipped)',
  labelNames: ['bucket'] as const,
  registers,
  collect() {
    this.reset();
    for (const source of breakerSources) {
      for (const bucket of source.buckets) this.set({ bucket }, BREAKER_VALUE[source.state(bucket)]);
    }
  },
});

/** Exposes the breakers of these buckets until the returned function is called (at worker shutdown). */
export function watchBreakers(buckets: string[], state: BreakerStateSource): () => void {
  const source = { buckets, state };
  breakerSources.add(source);
  return () => breakerSources.delete(source);
}
