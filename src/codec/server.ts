import type { AddressInfo } from 'node:net';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import Fastify, {
  LogController,
  type FastifyError,
  type FastifyInstance,
  type FastifyRequest,
} from 'fastify';
import { z } from 'zod';
import { bearerTokenCheck } from '../auth/bearerTokens';
import type { SecretValue } from '../config/secrets';
import { logOptions } from '../util/logger';
import { PayloadCodecError } from './compressionCodec';
import { registerLogin, tokenFromCookie } from './login';
import { decodeWithChain, encodeWithChain } from './dataConverter';
import { presentArchiveObjects } from './presentArchiveObject';

export interface CodecServerOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** 0 picks a free port. */
  port: number;
  /** Exact origins (`scheme://host[:port]`) of the Temporal Web UIs that may call from a browser. */
  allowedOrigins: string[];
  /** The chain served (see `codecsFor`): holds the keyring, so only token holders may use it. */
  codecs: PayloadCodec[];
  /** Accepted bearer tokens (several during a rotation); every encode/decode request must present one. */
  tokens: SecretValue[];
  /** Default 8 MiB: a 2 MiB payload is ~2.7 MB as base64, and the UI may send several at once. */
  bodyLimitBytes?: number;
  /** pino level; default info. */
  logLevel?: string;
  /** Mark the sign-in cookie Secure: set when the server is reached over HTTPS (behind a TLS proxy). */
  secureCookie?: boolean;
}

export interface CodecServer {
  url: string;
  close(): Promise<void>;
}

export const DEFAULT_BODY_LIMIT_BYTES = 8 * 1024 * 1024;
export const CORS_ALLOW_HEADERS = 'content-type,x-namespace,authorization';
const CORS_ALLOW_METHODS = 'GET,POST,OPTIONS';
/** Lets the browser reuse a preflight answer for a while instead of sending one before every decode. */
const CORS_MAX_AGE_SECONDS = 600;
/** Drops requests whose body has not fully arrived after this long, so slow clients cannot hold sockets. */
const REQUEST_TIMEOUT_MS = 30_000;

const CLIENT_ERRORS: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  413: 'PayloadTooLarge',
  415: 'UnsupportedMediaType',
};

const ProtoPayload = temporal.api.common.v1.Payload;
/** protobufjs options for the proto3 JSON mapping the protocol prescribes: bytes as base64, int64 as strings. */
const PROTO3_JSON = { bytes: String, longs: String, enums: String, json: true };

const base64 = z.string().regex(/^[A-Za-z0-9+/_-]*={0,2}$/, 'must be base64');
/** Loose: other Payload fields (e.g. externalPayloads) pass through to protobufjs instead of being dropped. */
const payloadJson = z.looseObject({
  metadata: z.record(z.string(), base64).nullish(),
  data: base64.nullish(),
});
const codecRequest = z.object({ payloads: z.array(payloadJson) });

class BadRequestError extends Error {
  readonly statusCode = 400;
}

/**
 * Serves Temporal's remote codec protocol for the Web UI and the CLI (`--codec-endpoint`): the project's
 * codec chain over HTTP, so history can be read decoded without the codec in the browser or the CLI.
 */
export async function startCodecServer(options: CodecServerOptions): Promise<CodecServer> {
  const app = buildApp(options);
  try {
    await app.listen({ host: options.host ?? '127.0.0.1', port: options.port });
  } catch (err) {
    await app.close();
    throw err;
  }
  const { address, family, port } = app.server.address() as AddressInfo;
  return {
    url: `http://${family === 'IPv6' ? `[${address}]` : address}:${port}`,
    close: () => app.close(),
  };
}

function buildApp(options: CodecServerOptions): FastifyInstance {
  const allowedOrigins = new Set(options.allowedOrigins.map(checkOrigin));
  const authorized = bearerTokenCheck(options.tokens);
  const app = Fastify({
    logger: logOptions('codec-server', options.logLevel),
    // The UI decodes every payload of a page it shows: one log line per request would drown the rest.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: options.bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES,
    requestTimeout: REQUEST_TIMEOUT_MS,
  });
  // JSON only; fastify's text parser would turn a text body into a confusing error further on.
  app.removeContentTypeParser('text/plain');

  app.addHook('onRequest', async (request, reply) => {
    const origin = request.headers.origin;
    // Not a browser (CLI, curl), or the sign-in page posting to itself: CORS does not apply.
    if (origin === undefined || request.url === '/login') return;
    void reply.header('vary', 'Origin');
    if (!allowedOrigins.has(origin)) {
      return reply.code(403).send(errorBody('Forbidden', `origin ${origin} is not allowed`));
    }
    void reply.header('access-control-allow-origin', origin);
    // The UI's "Include cross-origin credentials" sends the sign-in cookie; the browser needs this to allow it.
    void reply.header('access-control-allow-credentials', 'true');
  });
  // After the CORS hook, so a browser can read the 401; preflights, health and sign-in carry no token.
  app.addHook('onRequest', async (request, reply) => {
    if (request.method === 'OPTIONS' || request.url === '/health' || request.url === '/login') return;
    if (authorized(request.headers.authorization) !== undefined) return;
    const cookieToken = tokenFromCookie(request.headers.cookie);
    if (cookieToken !== undefined && authorized(`Bearer ${cookieToken}`) !== undefined) return;
    return reply
      .code(401)
      .header('www-authenticate', 'Bearer')
      .send(errorBody('Unauthorized', 'missing or invalid bearer token (Authorization: Bearer <token>)'));
  });

  app.setErrorHandler((err: FastifyError, request, reply) => {
    const status = err instanceof PayloadCodecError ? 400 : (err.statusCode ?? 500);
    if (status >= 500) {
      request.log.error({ err }, 'codec request failed');
      return reply.code(500).send(errorBody('InternalError', 'internal error'));
    }
    return reply.code(status).send(errorBody(CLIENT_ERRORS[status] ?? 'RequestFailed', err.message));
  });
  app.setNotFoundHandler((request, reply) =>
    reply
      .code(404)
      .send(
        errorBody(
          'NotFound',
          `no route ${request.method} ${request.url}; use POST /{namespace}/encode|decode`,
        ),
      ),
  );

  app.options('/*', (_request, reply) =>
    reply
      .code(204)
      .header('access-control-allow-methods', CORS_ALLOW_METHODS)
      .header('access-control-allow-headers', CORS_ALLOW_HEADERS)
      .header('access-control-max-age', String(CORS_MAX_AGE_SECONDS))
      .send(),
  );
  app.get('/health', () => ({ status: 'ok' }));
  registerLogin(app, (token) => authorized(`Bearer ${token}`) !== undefined, options.secureCookie ?? false);
  for (const [operation, run] of [
    ['encode', encodeWithChain],
    // What the UI and the CLI show to people: archive objects riding in history read as their events.
    [
      'decode',
      async (codecs: PayloadCodec[], p: Payload[]) => presentArchiveObjects(await decodeWithChain(codecs, p)),
    ],
  ] as const) {
    const handler = async (request: FastifyRequest<{ Params: { namespace?: string } }>) => {
      const namespace = namespaceOf(request);
      const payloads = parseBody(request.body);
      const result = await run(options.codecs, payloads);
      request.log.debug({ namespace, operation, payloads: payloads.length }, 'codec request');
      return { payloads: result.map((p) => ProtoPayload.toObject(ProtoPayload.create(p), PROTO3_JSON)) };
    };
    app.post(`/:namespace/${operation}`, handler);
    app.post(`/${operation}`, handler);
  }
  return app;
}

function checkOrigin(origin: string): string {
  if (URL.canParse(origin) && new URL(origin).origin === origin) return origin;
  throw new Error(
    `allowed origin ${JSON.stringify(origin)} must be scheme://host[:port], without path or slash`,
  );
}

/** The path names the namespace (`/{namespace}/decode`); without it, the X-Namespace header that the UI sends. */
function namespaceOf(request: FastifyRequest<{ Params: { namespace?: string } }>): string {
  const namespace = request.params.namespace ?? request.headers['x-namespace'];
  if (typeof namespace === 'string' && namespace !== '') return namespace;
  throw new BadRequestError(
    'namespace missing: POST /{namespace}/encode|decode or send the X-Namespace header',
  );
}

function parseBody(body: unknown): Payload[] {
  const parsed = codecRequest.safeParse(body);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${fieldPath(i.path)}: ${i.message}`);
    throw new BadRequestError(`invalid codec request: ${problems.join('; ')}`);
  }
  return parsed.data.payloads.map((p, i) => {
    try {
      return ProtoPayload.fromObject(p);
    } catch (err) {
      throw new BadRequestError(`invalid codec request: payloads[${i}]: ${(err as Error).message}`);
    }
  });
}

/** `payloads[2].metadata.encoding`, the way a reader of the request body would point at it. */
function fieldPath(path: PropertyKey[]): string {
  const joined = path.reduce<string>(
    (out, key) => (typeof key === 'number' ? `${out}[${key}]` : out ? `${out}.${String(key)}` : String(key)),
    '',
  );
  return joined || '(body)';
}

function errorBody(error: string, message: string): { error: string; message: string } {
  return { error, message };
}
