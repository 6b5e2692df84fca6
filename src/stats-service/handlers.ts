import type { FastifyRequest } from 'fastify';
import { trackingEventSchema, type TrackingEvent } from '../shared/event';
import type {
  BucketList,
  DeleteResult,
  ErrorDetail,
  Granularity,
  Health,
  IdPage,
  IngestResult,
} from './contract';
import { decodeCursor, encodeCursor, GRANULARITY_MS, isAligned } from './buckets';
import { HttpError, zodDetails } from './errors';
import type { StatsStore } from './store';

// Request shapes as openapi.yaml guarantees them: the route schemas validated them before any handler runs.
interface IngestBody {
  events: unknown[];
}
interface EventIdParams {
  id: string;
}
interface BucketsQuery {
  granularity: Granularity;
  from: string;
  to: string;
  region?: string;
}
interface BucketIdsParams {
  region: string;
  granularity: Granularity;
  start: string;
}
interface BucketIdsQuery {
  limit: number;
  cursor?: string;
}

export type OperationHandler = (request: FastifyRequest) => unknown;

/** One handler per operationId of openapi.yaml. */
export function createHandlers(store: StatsStore): Record<string, OperationHandler> {
  return {
    ingestEvents: (request): IngestResult => store.insert(checkEvents((request.body as IngestBody).events)),

    deleteEvent: (request): DeleteResult => ({ deleted: store.delete((request.params as EventIdParams).id) }),

    listBuckets: (request): BucketList => {
      const q = request.query as BucketsQuery;
      const fromMs = alignedInstant(q.from, 'from', q.granularity);
      const toMs = alignedInstant(q.to, 'to', q.granularity);
      if (toMs <= fromMs) throw badRequest([{ field: 'to', reason: 'must be after from' }]);
      return { buckets: store.buckets({ granularity: q.granularity, fromMs, toMs, region: q.region }) };
    },

    listBucketIds: (request): IdPage => {
      const p = request.params as BucketIdsParams;
      const q = request.query as BucketIdsQuery;
      const startMs = alignedInstant(p.start, 'start', p.granularity);
      const endMs = startMs + GRANULARITY_MS[p.granularity];
      const after = q.cursor === undefined ? undefined : decodeCursor(q.cursor);
      if (q.cursor !== undefined && (!after || after.minute < startMs || after.minute >= endMs)) {
        throw badRequest([{ field: 'cursor', reason: 'not a cursor this API returned for this bucket' }]);
      }
      // One extra row tells whether another page exists, so the last page never comes back empty.
      const rows = store.bucketIds({ region: p.region, startMs, endMs, after, limit: q.limit + 1 });
      const page = rows.slice(0, q.limit);
      const last = page[page.length - 1];
      return {
        ids: page.map((r) => r.id),
        nextCursor: rows.length > q.limit && last ? encodeCursor(last) : null,
      };
    },

    health: (): Health => {
      store.ping();
      return { status: 'ok' };
    },
  };
}

/**
 * Semantic check of every event with the shared zod schema after the OpenAPI schema passed, so the API
 * accepts exactly what the rest of the system accepts (e.g. the serialized size of `attributes`).
 * All-or-nothing: one bad event rejects the batch, naming every bad one.
 */
function checkEvents(events: unknown[]): TrackingEvent[] {
  const valid: TrackingEvent[] = [];
  const details: ErrorDetail[] = [];
  events.forEach((raw, index) => {
    const result = trackingEventSchema.safeParse(raw);
    if (result.success) valid.push(result.data);
    else details.push(...zodDetails(index, result.error));
  });
  if (details.length > 0) throw badRequest(details);
  return valid;
}

function alignedInstant(value: string, field: string, granularity: Granularity): number {
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw badRequest([{ field, reason: 'is not a valid date-time' }]);
  if (!isAligned(ms, granularity))
    throw badRequest([{ field, reason: `must be aligned to a whole ${granularity}` }]);
  return ms;
}

function badRequest(details: ErrorDetail[]): HttpError {
  return new HttpError(400, 'ValidationFailed', `${details.length} invalid value(s) in the request`, details);
}
