import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { z } from 'zod';
import type { TrackingEvent } from '../../shared/event';
import {
  bucketListSchema,
  errorBodySchema,
  healthSchema,
  idPageSchema,
  ingestResultSchema,
  type Bucket,
  type Granularity,
  type IdPage,
  type IngestResult,
} from '../../stats-service/contract';
import { readBatchLines } from '../archive/encodeBatch';
import { statsRequest, type StatsEndpoint } from './http';

export type { Bucket, Granularity, IdPage, IngestResult } from '../../stats-service/contract';
export type { StatsEndpoint } from './http';

export interface StatsActivitiesOptions {
  /** Stats API per region name. */
  endpoints: Record<string, StatsEndpoint>;
  /** Deadline of every single HTTP call (connect, send, read the answer). */
  requestTimeoutMs: number;
  /** Events per POST; the API takes at most 5,000. */
  chunkSize: number;
}

export interface DeliverEventsInput {
  region: string;
  events: TrackingEvent[];
}

export interface FetchStatsBucketsInput {
  region: string;
  granularity: Granularity;
  /** ISO-8601, aligned to the granularity; inclusive. */
  from: string;
  /** ISO-8601, aligned to the granularity; exclusive. */
  to: string;
}

export interface FetchBucketIdsInput {
  region: string;
  granularity: Granularity;
  /** The bucket's start as returned by fetchStatsBuckets. */
  start: string;
  cursor?: string;
  limit?: number;
}

export interface StatsHealth {
  healthy: boolean;
  detail: string;
}

/** One event serialised as JSON, as it is posted inside the stats API's `events` array. */
export type EventJson = string;
export const toEventJson = (event: TrackingEvent): EventJson => JSON.stringify(event);

/** Largest batch the stats API accepts in one request (openapi.yaml, IngestRequest.maxItems). */
const MAX_EVENTS_PER_REQUEST = 5000;

/**
 * deliverEvents' checkpoint. It records how many events are delivered rather than a chunk number, so a
 * retry resumes at the right event even if the worker restarted with another chunkSize meanwhile.
 */
const deliveryProgress = z.object({
  delivered: z.number().int().nonnegative(),
  accepted: z.number().int().nonnegative(),
  duplicates: z.number().int().nonnegative(),
});
type DeliveryProgress = z.infer<typeof deliveryProgress>;

/**
 * The stats API calls, for use inside any activity (they take the activity's cancellation signal); the
 * stats activities below and reconciliation's activities both build on them.
 */
export function createStatsApi(opts: StatsActivitiesOptions) {
  if (!Number.isInteger(opts.chunkSize) || opts.chunkSize < 1 || opts.chunkSize > MAX_EVENTS_PER_REQUEST) {
    throw new RangeError(
      `chunkSize must be an integer in 1..${MAX_EVENTS_PER_REQUEST}, got ${opts.chunkSize}`,
    );
  }
  if (!(opts.requestTimeoutMs > 0))
    throw new RangeError(`requestTimeoutMs must be positive, got ${opts.requestTimeoutMs}`);
  for (const [region, { url }] of Object.entries(opts.endpoints)) {
    if (!URL.canParse(url)) throw new TypeError(`stats endpoint of ${region} is not a URL: ${url}`);
  }

  function endpointOf(region: string): StatsEndpoint {
    const endpoint = Object.hasOwn(opts.endpoints, region) ? opts.endpoints[region] : undefined;
    if (!endpoint) {
      throw ApplicationFailure.create({
        type: 'UnknownRegion',
        message: `no stats endpoint configured for region ${JSON.stringify(region)} (known: ${Object.keys(opts.endpoints).join(', ') || 'none'})`,
        nonRetryable: true,
      });
    }
    return endpoint;
  }

  return {
    endpointOf,
    chunkSize: opts.chunkSize,

    /**
     * POSTs one chunk (at most chunkSize events, each as JSON text); `offset` is its position in the caller's
     * batch.
     */
    postChunk: (region: string, chunk: readonly EventJson[], offset: number): Promise<IngestResult> =>
      statsRequest({
        endpoint: endpointOf(region),
        method: 'POST',
        path: '/v1/events',
        body: `{"events":[${chunk.join(',')}]}`,
        timeoutMs: opts.requestTimeoutMs,
        response: ingestResultSchema,
      }).catch((err: unknown) => {
        throw withBatchIndexes(err, offset);
      }),

    /** Non-empty buckets of one region in [from, to). */
    buckets: async (input: FetchStatsBucketsInput): Promise<Bucket[]> => {
      const query = new URLSearchParams({
        granularity: input.granularity,
        from: input.from,
        to: input.to,
        region: input.region,
      });
      const { buckets } = await statsRequest({
        endpoint: endpointOf(input.region),
        method: 'GET',
        path: `/v1/buckets?${query.toString()}`,
        timeoutMs: opts.requestTimeoutMs,
        response: bucketListSchema,
      });
      return buckets;
    },

    /** One page of a bucket's event IDs; pass `nextCursor` back until it is null. */
    bucketIds: (input: FetchBucketIdsInput): Promise<IdPage> => {
      const query = new URLSearchParams();
      if (input.limit !== undefined) query.set('limit', String(input.limit));
      if (input.cursor !== undefined) query.set('cursor', input.cursor);
      const bucket = [input.region, input.granularity, input.start].map(encodeURIComponent).join('/');
      return statsRequest({
        endpoint: endpointOf(input.region),
        method: 'GET',
        path: `/v1/buckets/${bucket}/ids${query.size > 0 ? `?${query.toString()}` : ''}`,
        timeoutMs: opts.requestTimeoutMs,
        response: idPageSchema,
      });
    },

    health: (endpoint: StatsEndpoint) =>
      statsRequest({
        endpoint,
        method: 'GET',
        path: '/v1/health',
        timeoutMs: opts.requestTimeoutMs,
        response: healthSchema,
      }),
  };
}

export type StatsApi = ReturnType<typeof createStatsApi>;

export function createStatsActivities(opts: StatsActivitiesOptions) {
  const api = createStatsApi(opts);

  /**
   * POSTs the events in chunks, heartbeating after each; a retried attempt resumes after the last
   * checkpoint (re-sending a chunk is harmless: the API is idempotent by event ID). `accepted` counts
   * events new to the stats API, `duplicates` those it already had. A local activity has no heartbeat:
   * its retry starts over, which the API's idempotency makes harmless too.
   */
  async function deliver(region: string, events: readonly EventJson[]): Promise<IngestResult> {
    const ctx = Context.current();
    const resumed = ctx.info.isLocal ? undefined : deliveryProgress.safeParse(ctx.info.heartbeatDetails);
    let progress: DeliveryProgress =
      resumed?.success && resumed.data.delivered <= events.length
        ? resumed.data
        : { delivered: 0, accepted: 0, duplicates: 0 };
    while (progress.delivered < events.length) {
      const offset = progress.delivered;
      const chunk = events.slice(offset, offset + opts.chunkSize);
      const result = await api.postChunk(region, chunk, offset);
      // A new object each time: the SDK may serialise heartbeat details later (it throttles them).
      progress = {
        delivered: progress.delivered + chunk.length,
        accepted: progress.accepted + result.accepted,
        duplicates: progress.duplicates + result.duplicates,
      };
      if (!ctx.info.isLocal) ctx.heartbeat(progress);
    }
    return { accepted: progress.accepted, duplicates: progress.duplicates };
  }

  return {
    /** Delivers events to the stats API of their region (see deliver). */
    deliverEvents: (input: DeliverEventsInput): Promise<IngestResult> =>
      deliver(input.region, input.events.map(toEventJson)),

    /**
     * Delivers the events of a batch's archive object (gzip NDJSON, validated at hand-over), exactly as
     * deliverEvents does. Its lines go to the API as they are: parsing and serialising each event again
     * would cost the worker CPU per event and change nothing (gzip's CRC has checked the bytes).
     */
    deliverArchiveObject: async (input: { region: string }, body: Uint8Array): Promise<IngestResult> =>
      deliver(input.region, await readBatchLines(body)),

    /** Non-empty buckets of one region in [from, to). */
    fetchStatsBuckets: (input: FetchStatsBucketsInput): Promise<Bucket[]> => api.buckets(input),

    /** One page of a bucket's event IDs; pass `nextCursor` back until it is null. */
    fetchBucketIds: (input: FetchBucketIdsInput): Promise<IdPage> => api.bucketIds(input),

    /** Whether the region's stats API answers; failures become `healthy: false` with the reason. */
    checkStatsHealth: async (input: { region: string }): Promise<StatsHealth> => {
      const endpoint = api.endpointOf(input.region);
      try {
        const { status } = await api.health(endpoint);
        return { healthy: true, detail: status };
      } catch (err) {
        // Only classified HTTP failures mean "unhealthy"; cancellation must still end the activity.
        if (err instanceof ApplicationFailure) return { healthy: false, detail: err.message };
        throw err;
      }
    },
  };
}

export type StatsActivities = ReturnType<typeof createStatsActivities>;

/**
 * The API numbers bad records within the chunk it received; in a rejection, renumber them as positions
 * in the caller's whole batch.
 */
function withBatchIndexes(err: unknown, offset: number): unknown {
  if (offset === 0 || !(err instanceof ApplicationFailure) || err.type !== 'StatsRejected') return err;
  const body = errorBodySchema.safeParse(err.details?.[0]);
  if (!body.success || !body.data.details) return err;
  const details = body.data.details.map((d) =>
    d.index === undefined ? d : { ...d, index: d.index + offset },
  );
  return ApplicationFailure.create({
    type: err.type,
    message: err.message,
    nonRetryable: true,
    details: [{ ...body.data, details }],
  });
}
