import { Gauge } from 'prom-client';
import { ingestRegistry, workerRegistry } from './registries';

/** What a breaker gauge reads: the state of one bucket's circuit breaker. */
export type BreakerStateSource = (bucket: string) => 'closed' | 'half-open' | 'open';
const BREAKER_VALUE = { closed: 0, 'half-open': 1, open: 2 } as const;
const breakerSources = new Set<{ buckets: string[]; state: BreakerStateSource }>();

// Both the ingest (fast path) and the worker (capture workflows) archive, each with breakers of its own.
new Gauge({
  name: 'stormproof_archive_breaker_state',
  help: 'Circuit breaker of each archive bucket in this process: 0 closed, 1 half-open (probing), 2 open (skipped)',
  labelNames: ['bucket'] as const,
  registers: [ingestRegistry, workerRegistry],
  collect() {
    this.reset();
    for (const source of breakerSources) {
      for (const bucket of source.buckets) this.set({ bucket }, BREAKER_VALUE[source.state(bucket)]);
    }
  },
});

/** Exposes the breakers of these buckets until the returned function is called (at shutdown). */
export function watchBreakers(buckets: string[], state: BreakerStateSource): () => void {
  const source = { buckets, state };
  breakerSources.add(source);
  return () => breakerSources.delete(source);
}
