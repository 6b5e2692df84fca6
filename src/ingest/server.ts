import underPressure from '@fastify/under-pressure';
import { getHeapStatistics } from 'node:v8';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import { Overloaded } from '../client/batcher';
import { NotAccepted, type EventSender, type SendResult } from '../client/eventSender';
import type { RejectedRecord } from '../client/validate';
import { ingestAuthHooks, type IngestCredentials } from './auth';
import { ingestMetrics } from '../metrics/ingestMetrics';
import { logOptions } from '../util/logger';
import { parseNdjson, recordsOfJson, type ParsedBody } from './parseBody';

export interface IngestOptions {
  sender: EventSender;
  bodyLimitBytes: number;
  /** Who may send (bearer tokens and/or HMAC keys); POST /v1/events without a valid credential is 401. */
  credentials: IngestCredentials;
  /** Past this event-loop delay (ms) POST /v1/events answers 503 at once; 0 or absent: never. */
  maxEventLoopDelayMs?: number;
  /**
   * Past this much V8 heap in use POST /v1/events answers 503 at once, so overload is refused before the heap
   * limit is reached; 0: never. Default: three quarters of the process's heap limit.
   */
  maxHeapUsedBytes?: number;
  logLevel?: string;
}

interface ErrorBody {
  error: string;
  message: string;
  rejected?: RejectedRecord[];
  /** A partial acceptance: how many events are durable, and which records to resend (and only those). */
  accepted?: number;
  notAccepted?: number[];
}

/**
 * The HTTP ingest: POST /v1/events takes NDJSON or a JSON array. Valid records are archived and the answer
 * (200) comes only once they are durable (in S3, or captured in Temporal); invalid ones are listed by index
 * and field and not kept. A request with no valid record is 400. Overload, and S3 and Temporal both refusing,
 * are 503 with Retry-After: then nothing of the request was accepted, or the answer lists exactly the records
 * that were not (`notAccepted`), which are the only ones to resend.
 */
export function buildIngestServer(opts: IngestOptions): FastifyInstance {
  const app = Fastify({
    bodyLimit: opts.bodyLimitBytes,
    logger: logOptions('ingest', opts.logLevel),
    // fastify hands pino `{}` as the request logger's options, which takes pino's slow path for a child (its
    // formatters rebuilt per request); without options it takes the fast one. A child per request is ~3 µs less.
    childLoggerFactory: (logger, bindings, options) =>
      Object.keys(options).length > 0 ? logger.child(bindings, options) : logger.child(bindings),
  });
  const maxHeapUsedBytes = opts.maxHeapUsedBytes ?? Math.floor(getHeapStatistics().heap_size_limit * 0.75);
  if (opts.maxEventLoopDelayMs || maxHeapUsedBytes) {
    // A saturated process answers late: requests wait in the socket backlog and behind each other's parsing,
    // and each one read holds its body. Refuse new events before reading their body while the loop lags or
    // the heap fills; health and metrics keep answering.
    void app.register(underPressure, {
      maxEventLoopDelay: opts.maxEventLoopDelayMs ?? 0,
      maxHeapUsedBytes,
      sampleInterval: 250,
      // Rejecting makes the plugin pass the error on to the error handler below: 503 with Retry-After.
      pressureHandler: async (req, _reply, type, value) => {
        if (req.method === 'POST' && req.url === '/v1/events') throw new Saturated(type, value ?? 0);
      },
    });
  }
  ingestAuthHooks(app, opts.credentials, opts.bodyLimitBytes);
  // With the pending-events cap reached, any event would be refused: refuse before reading and parsing the
  // body, whose CPU a saturated machine needs for the batches it already holds.
  app.addHook('onRequest', (req, _reply, done) => {
    if (req.method === 'POST' && req.url === '/v1/events' && opts.sender.full)
      return done(new Overloaded(opts.sender.pendingEvents));
    done();
  });
  // NDJSON or JSON only: fastify's text parser would let a text body through to a confusing 400 further on.
  app.removeContentTypeParser('text/plain');
  app.addContentTypeParser(
    ['application/x-ndjson', 'application/ndjson'],
    { parseAs: 'string' },
    (_req, body, done) => done(null, parseNdjson(body as string)),
  );

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, _req, reply) => {
    if (err instanceof Overloaded) return unavailable(reply, err);
    if (err instanceof Saturated) {
      ingestMetrics.overloadRefusals.inc({ reason: err.reason });
      return reply
        .code(503)
        .header('Retry-After', '1')
        .send({
          error: 'Overloaded',
          message: `${err.message}; nothing of this request was accepted, resend it`,
        } satisfies ErrorBody);
    }
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    const error =
      err.code === 'FST_ERR_CTP_BODY_TOO_LARGE'
        ? 'BodyTooLarge'
        : err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE'
          ? 'UnsupportedMediaType'
          : err.code === 'FST_ERR_CTP_EMPTY_JSON_BODY'
            ? 'EmptyBody'
            : status === 401
              ? 'Unauthorized'
              : status === 400
                ? 'InvalidJson'
                : 'InternalError';
    if (status === 500) app.log.error(err);
    return reply.code(status).send({ error, message: err.message } satisfies ErrorBody);
  });

  app.post('/v1/events', async (req, reply) => {
    const parsed = toParsed(req.body);
    if (!parsed) {
      return reply.code(400).send({
        error: 'InvalidBody',
        message: 'expected NDJSON (application/x-ndjson), a JSON array of events, or {"events": [...]}',
      } satisfies ErrorBody);
    }
    if (parsed.records.length === 0 && parsed.malformed.length === 0) {
      return reply
        .code(400)
        .send({ error: 'EmptyBody', message: 'the request holds no events' } satisfies ErrorBody);
    }
    const records = parsed.records.length + parsed.malformed.length;
    let result: SendResult;
    try {
      const sending = opts.sender.send(parsed.records, parsed.indexes);
      // Validated and batched: the request (req.body) must not hold the parsed records until it is answered.
      parsed.records = [];
      result = await sending;
    } catch (err) {
      return unavailable(reply, err);
    }
    ingestMetrics.eventsAccepted.inc(result.accepted);
    ingestMetrics.eventsRejected.inc(parsed.malformed.length + result.rejected.length);
    const rejected = [
      ...parsed.malformed.map((m) => ({ index: m.index, field: '(record)', reason: m.reason })),
      ...result.rejected,
    ].sort((a, b) => a.index - b.index);
    if (result.notAccepted) {
      return reply
        .code(503)
        .header('Retry-After', '2')
        .send({
          error: 'PartiallyAccepted',
          message: `${result.accepted} events are durable, ${result.notAccepted.indexes.length} were not (${result.notAccepted.reason}): resend only the records listed in notAccepted`,
          accepted: result.accepted,
          notAccepted: result.notAccepted.indexes,
          rejected,
        } satisfies ErrorBody);
    }
    if (result.accepted === 0) {
      return reply.code(400).send({
        error: 'NoValidEvents',
        message: `none of the ${records} records is valid`,
        rejected,
      } satisfies ErrorBody);
    }
    return reply.code(200).send({ accepted: result.accepted, rejected, batches: result.batches });
  });

  app.get('/v1/health', () => ({ status: 'ok', pendingEvents: opts.sender.pendingEvents }));
  return app;
}

class Saturated extends Error {
  readonly reason: 'event-loop' | 'memory';
  constructor(type: string, value: number) {
    const memory = type === underPressure.TYPE_HEAP_USED_BYTES;
    super(
      memory
        ? `the ingest is saturated (${Math.round(value / 1048576)} MiB of heap in use)`
        : `the ingest is saturated (event-loop delay ${Math.round(value)} ms)`,
    );
    this.reason = memory ? 'memory' : 'event-loop';
  }
}

function toParsed(body: unknown): ParsedBody | undefined {
  if (body && typeof body === 'object' && 'malformed' in body) return body as ParsedBody;
  const records = recordsOfJson(body);
  return records && { records, malformed: [], indexes: records.map((_, i) => i) };
}

function unavailable(reply: FastifyReply, err: unknown): FastifyReply {
  const overloaded = err instanceof Overloaded;
  // Overload is expected under load and counted by a metric; a stack trace per refused request is noise.
  if (overloaded) {
    ingestMetrics.overloadRefusals.inc({ reason: 'pending-events' });
    reply.log.debug({ pending: err.pending }, 'refusing: overloaded');
  } else if (!(err instanceof NotAccepted))
    throw err; // a defect: fastify answers 500 and logs it
  else reply.log.warn({ err }, 'neither S3 nor Temporal took the request');
  return reply
    .code(503)
    .header('Retry-After', overloaded ? '1' : '2')
    .send({
      error: overloaded ? 'Overloaded' : 'Unavailable',
      message: `${err.message}; nothing of this request was accepted, resend it`,
    } satisfies ErrorBody);
}
