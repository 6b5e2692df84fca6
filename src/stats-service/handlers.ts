import type { FastifyRequest } from 'fastify';
import { ATTRIBUTES_TOO_LARGE, attributesFit, type Attributes, type TrackingEvent } from '../shared/event';
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
import { HttpError } from './errors';
import type { StatsStore } from './store';

// Request shapes as openapi.yaml guarantees them: the route schemas validated them before any handler runs.
interface IngestBody {
  /** Each checked field by field against openapi.yaml's TrackingEvent; `attributes` may be left out. */
  events: (Omit<TrackingEvent, 'attributes'> & { attributes?: Attributes })[];
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
 * An ingest request's events, which the route's schema (openapi.yaml's TrackingEvent) has checked field by
 * field: left are the attributes' default and their serialized size, the one check a JSON schema cannot make,
 * so the API accepts exactly what the rest of the system accepts. All-or-nothing: one bad event rejects the
 * batch, naming every bad one. Parsing each event again with the shared zod schema cost 1.2-1.7 µs per event,
 * about a tenth of the service's CPU, for the same verdicts (docs/benchmarks.md).
 */
function checkEvents(events: IngestBody['events']): TrackingEvent[] {
  const details: ErrorDetail[] = [];
  const valid = events.map((e, index): TrackingEvent => {
    const attributes = e.attributes ?? {};
    if (!attributesFit(attributes))
      details.push({ index, field: 'attributes', reason: ATTRIBUTES_TOO_LARGE });
    return e.attributes ? (e as TrackingEvent) : { ...e, attributes };
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
