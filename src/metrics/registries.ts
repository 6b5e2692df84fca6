import { collectDefaultMetrics, Registry } from 'prom-client';

/** One registry per process kind, so each `/metrics` shows only the series its process moves. */
export const ingestRegistry = new Registry();
export const workerRegistry = new Registry();

// Node's own health (heap, event-loop lag, GC, open handles) next to the project's series.
collectDefaultMetrics({ register: ingestRegistry, prefix: 'stormproof_ingest_' });
collectDefaultMetrics({ register: workerRegistry, prefix: 'stormproof_worker_' });
