import { Counter, Gauge, Histogram } from 'prom-client';
import { ingestRegistry } from './registries';

const registers = [ingestRegistry];
/** Seconds; from well under the batch linger time to past the fast path's and a capture start's deadlines. */
const latencyBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export const ingestMetrics = {
  eventsAccepted: new Counter({
    name: 'stormproof_ingest_events_accepted_total',
    help: 'Events the ingest accepted: durable in S3, or captured in Temporal',
    registers,
  }),
  eventsRejected: new Counter({
    name: 'stormproof_ingest_events_rejected_total',
    help: 'Records the ingest refused as invalid (named in the 400/200 answer, not kept)',
    registers,
  }),
  requests: new Counter({
    name: 'stormproof_ingest_requests_total',
    help: 'HTTP requests answered by the ingest, by route and status',
    labelNames: ['route', 'status'] as const,
    registers,
  }),
  overloadRefusals: new Counter({
    name: 'stormproof_ingest_overload_refusals_total',
    help: 'POST /v1/events refused with 503 for overload: event-loop delay, heap in use, or too many events pending hand-over',
    labelNames: ['reason'] as const,
    registers,
  }),
  requestSeconds: new Histogram({
    name: 'stormproof_ingest_request_duration_seconds',
    help: 'Time to answer HTTP requests, by route and status: for POST /v1/events, what a sender waits for durable acceptance',
    labelNames: ['route', 'status'] as const,
    buckets: latencyBuckets,
    registers,
  }),
  handOverSeconds: new Histogram({
    name: 'stormproof_ingest_handover_seconds',
    help: "Time from a batch sealed to it being durable (the object's encoding included), by outcome: archived (S3 confirmed the PUT), captured (a captureBatch workflow holds it), refused (neither took it)",
    labelNames: ['outcome'] as const,
    buckets: latencyBuckets,
    registers,
  }),
  batchEvents: new Counter({
    name: 'stormproof_ingest_batch_events_total',
    help: 'Events by how their batch became durable: archived on the fast path, captured in Temporal, or refused (503)',
    labelNames: ['outcome'] as const,
    registers,
  }),
  deliveryEvents: new Counter({
    name: 'stormproof_ingest_delivery_events_total',
    help: 'Events of archived batches by how their stats delivery went: delivered on the fast path, captured in Temporal, or abandoned at shutdown (left to reconciliation)',
    labelNames: ['outcome'] as const,
    registers,
  }),
  authFailures: new Counter({
    name: 'stormproof_ingest_auth_failures_total',
    help: 'Requests refused with 401: no or an unknown bearer token',
    registers,
  }),
};

interface BacklogSource {
  regions: string[];
  count: (state: 'captured' | 'quarantined', region: string) => Promise<number>;
  onError: (err: unknown) => void;
}
const backlogSources = new Set<BacklogSource>();

for (const state of ['captured', 'quarantined'] as const) {
  new Gauge({
    name: `stormproof_${state}_batches`,
    help:
      state === 'captured'
        ? 'Running batch workflows waiting for S3 or the stats API to come back, by origin region (Temporal visibility)'
        : 'Batches held for an operator after a failure no retry can cure, by origin region (Temporal visibility)',
    labelNames: ['region'] as const,
    registers,
    async collect() {
      const counts = [...backlogSources].flatMap((s) =>
        s.regions.map(async (region) => {
          try {
            this.set({ region }, await s.count(state, region));
          } catch (err) {
            s.onError(err); // the series keeps its last value rather than fail the whole scrape
          }
        }),
      );
      await Promise.all(counts);
    },
  });
}

/**
 * Exposes the captured backlog (batches waiting for S3 or the stats API to come back) and the quarantined
 * batches, counted through Temporal visibility at scrape time, until the returned function is called.
 */
export function watchCapturedBacklog(source: BacklogSource): () => void {
  backlogSources.add(source);
  return () => backlogSources.delete(source);
}
