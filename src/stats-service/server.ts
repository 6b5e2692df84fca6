import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import { installRequestBodies } from './bodies';
import { errorBody, toHttpError } from './errors';
import { installBearerAuth, installOverloadGuard } from './guards';
import { createHandlers } from './handlers';
import { loadApiOperations, type ApiOperation } from './schema';
import { StatsStore } from './store';

export interface StatsServiceOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** 0 picks a free port. */
  port: number;
  dbPath: string;
  /** When set, every route but /v1/health requires `Authorization: Bearer <token>`. */
  token?: string;
  /** Default 8 MiB. */
  bodyLimitBytes?: number;
  /** Requests in progress beyond which the service answers 503; default 64. */
  maxInFlight?: number;
  /** pino level; default info. */
  logLevel?: string;
}

export interface StatsService {
  url: string;
  close(): Promise<void>;
}

export const DEFAULT_BODY_LIMIT_BYTES = 8 * 1024 * 1024;
export const DEFAULT_MAX_IN_FLIGHT = 64;

/** Drops requests whose body has not fully arrived after this long, so slow clients cannot hold slots forever. */
const REQUEST_TIMEOUT_MS = 60_000;

/** Opens the store and serves the stats API; resolves once it listens. */
export async function startStatsService(options: StatsServiceOptions): Promise<StatsService> {
  const operations = loadApiOperations();
  const store = new StatsStore(options.dbPath);
  let app: FastifyInstance | undefined;
  try {
    app = buildApp(operations, store, options);
    await app.listen({ host: options.host ?? '127.0.0.1', port: options.port });
  } catch (err) {
    // Closing the app closes the store (onClose hook); without an app, close the store directly.
    if (app) await app.close();
    else store.close();
    throw err;
  }
  const { address, family, port } = app.server.address() as AddressInfo;
  return {
    url: `http://${family === 'IPv6' ? `[${address}]` : address}:${port}`,
    close: () => app.close(),
  };
}

function buildApp(
  operations: ApiOperation[],
  store: StatsStore,
  options: StatsServiceOptions,
): FastifyInstance {
  const app = Fastify({
    logger: { level: options.logLevel ?? 'info' },
    bodyLimit: options.bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES,
    requestTimeout: REQUEST_TIMEOUT_MS,
    // Event IDs may be 128 characters long and appear in paths.
    routerOptions: { maxParamLength: 256 },
    ajv: {
      customOptions: {
        // Report every bad record, not just the first; bounded by bodyLimit and maxItems.
        allErrors: true,
        // Bodies are validated as sent: no silent dropping of unknown fields, no type coercion.
        removeAdditional: false,
        coerceTypes: false,
        allowUnionTypes: true,
      },
    },
  });
  app.addHook('onClose', () => store.close());
  // The API takes JSON and NDJSON only; fastify's built-in text parser would turn a text body into a
  // confusing 400.
  app.removeContentTypeParser('text/plain');
  installRequestBodies(app);
  installOverloadGuard(app, options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT);
  if (options.token) installBearerAuth(app, options.token);

  app.setErrorHandler((err: FastifyError, request, reply) => {
    const httpError = toHttpError(err);
    if (httpError.statusCode >= 500) request.log.error({ err }, 'request failed');
    return reply.code(httpError.statusCode).send(httpError.body());
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send(errorBody('NotFound', `no route ${request.method} ${request.url}`)),
  );

  registerRoutes(app, operations, createHandlers(store));
  return app;
}

/** Serves each operation of openapi.yaml with the handler of the same operationId; both sides must match. */
function registerRoutes(
  app: FastifyInstance,
  operations: ApiOperation[],
  handlers: ReturnType<typeof createHandlers>,
): void {
  const unused = new Set(Object.keys(handlers));
  for (const op of operations) {
    const handler = handlers[op.operationId];
    if (!handler) throw new Error(`openapi.yaml operation ${op.operationId} has no handler`);
    unused.delete(op.operationId);
    const { querystring, params } = op.integerParams;
    app.route({
      method: op.method,
      url: op.url,
      schema: op.schema,
      config: { isPublic: op.isPublic },
      preValidation: (request, _reply, done) => {
        parseIntegers(request.query, querystring);
        parseIntegers(request.params, params);
        done();
      },
      // A returned value is sent as the reply; a thrown error goes to the error handler.
      handler: (request) => handler(request),
    });
  }
  if (unused.size > 0)
    throw new Error(`handlers without an openapi.yaml operation: ${[...unused].join(', ')}`);
}

/**
 * Query and path parameters always arrive as strings; those the contract declares as integers are
 * converted here, since ajv runs without type coercion (which would also loosen body validation).
 */
function parseIntegers(target: unknown, names: string[]): void {
  if (target === null || typeof target !== 'object') return;
  const values = target as Record<string, unknown>;
  for (const name of names) {
    const value = values[name];
    if (typeof value === 'string' && /^-?\d{1,15}$/.test(value)) values[name] = Number(value);
  }
}
