import { Counter, Gauge, Histogram } from 'prom-client';
import { ingestRegistry } from './registries';

const registers = [ingestRegistry];
/** Seconds; from well under the batch linger time to past the default hand-over timeout (10 s). */
const latencyBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export const ingestMetrics = {
  eventsAccepted: new Counter({
    name: 'stormproof_ingest_events_accepted_total',
    help: 'Events the ingest accepted: durably handed over to Temporal',
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
    help: 'POST /v1/events refused with 503 for overload: event-loop delay, or too many events pending hand-over',
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
    help: "Time from a batch sealed to Temporal durably holding its workflow (the object's encoding included), by outcome",
    labelNames: ['outcome'] as const,
    buckets: latencyBuckets,
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
  countCaptured: (region: string) => Promise<number>;
  onError: (err: unknown) => void;
}
const backlogSources = new Set<BacklogSource>();

new Gauge({
  name: 'stormproof_captured_batches',
  help: 'Running archiveBatch workflows in state captured, by origin region (Temporal visibility)',
  labelNames: ['region'] as const,
  registers,
  async collect() {
    const counts = [...backlogSources].flatMap((s) =>
      s.regions.map(async (region) => {
        try {
          this.set({ region }, await s.countCaptured(region));
        } catch (err) {
          s.onError(err); // the series keeps its last value rather than fail the whole scrape
        }
      }),
    );
    await Promise.all(counts);
  },
});

/**
 * Exposes the captured backlog (batches waiting for S3 or the stats API to come back), counted through
 * Temporal visibility at scrape time, until the returned function is called.
 */
export function watchCapturedBacklog(source: BacklogSource): () => void {
  backlogSources.add(source);
  return () => backlogSources.delete(source);
}
