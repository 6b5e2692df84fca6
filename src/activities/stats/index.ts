import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { AwsClients } from '../../aws/clients';
import type { AppConfig } from '../../config/schema';
import type { ArchivedObject } from '../../shared/batch';
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
import { CONTENT_ENCODING, CONTENT_TYPE, readBatchLines } from '../../archive/format';
import { getObject } from '../../archive/reader';
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
  /** The bucket's start as returned by `buckets`. */
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

/** The stats API settings of a configuration: each region's endpoint, timeouts, chunk size. */
export const statsOptionsOf = (config: AppConfig): StatsActivitiesOptions => ({
  endpoints: Object.fromEntries(
    config.regions.map((r) => [r.name, { url: r.statsUrl, token: r.statsToken }]),
  ),
  requestTimeoutMs: config.stats.requestTimeoutMs,
  chunkSize: config.stats.chunkSize,
});

/** Largest batch the stats API accepts in one request (openapi.yaml, IngestRequest.maxItems). */
const MAX_EVENTS_PER_REQUEST = 5000;

/**
 * The stats API calls, for the ingest's fast path and inside any activity: `signal` says whose cancellation
 * they follow (an activity's, or the process's). The stats activities below and reconciliation's build on
 * them, and the fast path delivers with `deliverLines`.
 */
export function createStatsApi(opts: StatsActivitiesOptions, signal: () => AbortSignal) {
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

  /** POSTs one chunk (at most chunkSize events, each as JSON text); `offset` is its position in the batch. */
  const postChunk = (region: string, chunk: readonly EventJson[], offset: number): Promise<IngestResult> =>
    statsRequest({
      endpoint: endpointOf(region),
      method: 'POST',
      path: '/v1/events',
      body: `{"events":[${chunk.join(',')}]}`,
      timeoutMs: opts.requestTimeoutMs,
      response: ingestResultSchema,
      signal: signal(),
    }).catch((err: unknown) => {
      throw withBatchIndexes(err, offset);
    });

  /**
   * Delivers a batch's events (each as JSON text) in chunks. `accepted` counts events new to the stats
   * API, `duplicates` those it already had; a retry from the start is harmless, as the API is idempotent by
   * event ID.
   */
  async function deliverLines(region: string, lines: readonly EventJson[]): Promise<IngestResult> {
    const total = { accepted: 0, duplicates: 0 };
    for (let offset = 0; offset < lines.length; offset += opts.chunkSize) {
      const result = await postChunk(region, lines.slice(offset, offset + opts.chunkSize), offset);
      total.accepted += result.accepted;
      total.duplicates += result.duplicates;
    }
    return total;
  }

  // Endpoints that refused an archive object's bytes (415: a pipeline that takes JSON only): from then on
  // they get the object's lines as JSON.
  const jsonOnly = new Set<string>();

  return {
    endpointOf,
    chunkSize: opts.chunkSize,
    postChunk,

    /**
     * Delivers an archive object (gzip NDJSON, src/archive/format) as its own bytes: no JSON body to build,
     * and a tenth of the bytes to send. An object of more than `chunkSize` events, or an endpoint that
     * answers 415, gets its lines in JSON chunks instead (`deliverLines`).
     */
    async deliverObject(region: string, body: Uint8Array, count: number): Promise<IngestResult> {
      const endpoint = endpointOf(region);
      if (count <= opts.chunkSize && !jsonOnly.has(endpoint.url)) {
        try {
          return await statsRequest({
            endpoint,
            method: 'POST',
            path: '/v1/events',
            body,
            contentType: CONTENT_TYPE,
            contentEncoding: CONTENT_ENCODING,
            timeoutMs: opts.requestTimeoutMs,
            response: ingestResultSchema,
            signal: signal(),
          });
        } catch (err) {
          if (!(err instanceof ApplicationFailure) || err.type !== 'StatsUnsupportedMediaType') throw err;
          jsonOnly.add(endpoint.url);
        }
      }
      return deliverLines(region, await readBatchLines(body));
    },

    deliverLines,

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
        signal: signal(),
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
        signal: signal(),
      });
    },

    health: (endpoint: StatsEndpoint) =>
      statsRequest({
        endpoint,
        method: 'GET',
        path: '/v1/health',
        timeoutMs: opts.requestTimeoutMs,
        response: healthSchema,
        signal: signal(),
      }),
  };
}

export type StatsApi = ReturnType<typeof createStatsApi>;

/**
 * The stats activities of the capture workflow and the monitor. Delivery is a local activity of the capture
 * loop: a retry starts the batch over, which the API's idempotency makes harmless.
 */
export function createStatsActivities(opts: StatsActivitiesOptions, aws: AwsClients) {
  const api = createStatsApi(opts, () => Context.current().cancellationSignal);

  return {
    /**
     * Delivers the events of a batch's archive object (gzip NDJSON, validated at hand-over). Its lines go to
     * the API as they are: parsing and serialising each event again would cost CPU per event and change
     * nothing (gzip's CRC has checked the bytes).
     */
    deliverArchiveObject: async (input: { region: string }, body: Uint8Array): Promise<IngestResult> =>
      api.deliverLines(input.region, await readBatchLines(body)),

    /**
     * Delivers a batch that is already archived, from its object in S3 (the claim check a capture of the
     * delivery half carries instead of the events).
     */
    deliverArchivedObject: async (input: {
      region: string;
      object: ArchivedObject;
    }): Promise<IngestResult> => {
      const { bucket, bucketRegion, key } = input.object;
      const body = await getObject(
        aws,
        { bucket, region: bucketRegion },
        key,
        Context.current().cancellationSignal,
      );
      return api.deliverLines(input.region, await readBatchLines(body));
    },

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
