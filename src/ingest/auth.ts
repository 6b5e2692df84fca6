import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { bearerTokenCheck } from '../auth/bearerTokens';
import type { IngestAuthConfig } from '../config/securitySchema';
import { readSecrets, type SecretValue } from '../config/secrets';
import { ingestMetrics } from '../metrics/ingestMetrics';
import { hmacVerifier, SIGNATURE_HEADER, type SignatureClaim } from './signature';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route checks a credential of its own (the caps API); a sender's token does not open it. */
    ownAuth?: boolean;
  }
}

/** Routes anyone may call: load balancers' and Route 53's health checks carry no token. */
const OPEN_ROUTES = new Set(['/v1/health', '/v1/routing-health']);

export interface IngestCredentials {
  /** Accepted bearer tokens (several during a rotation). */
  tokens: SecretValue[];
  /** Accepted HMAC signing keys; none means signatures are not accepted. */
  hmacKeys?: SecretValue[];
}

/** Reads the configured tokens and keys from their files or environment variables. */
export function readIngestCredentials(auth: IngestAuthConfig): IngestCredentials {
  return { tokens: readSecrets(auth.tokens ?? []), hmacKeys: auth.hmacKeys && readSecrets(auth.hmacKeys) };
}

/**
 * Puts `bindings` on the request's own log lines. The ingest's logger is pino's (buildIngestServer), whose
 * request logger takes more bindings in place: a second child logger per request cost as much as the first.
 */
const bindToLog = (request: FastifyRequest, bindings: Record<string, string>): void =>
  (request.log as Logger).setBindings(bindings);

class Unauthorized extends Error {
  readonly statusCode = 401;
}

/**
 * Authentication of the ingest: a bearer token, checked on `onRequest` before the body is read, or an HMAC
 * signature, whose header is checked there and whose MAC over the raw body is checked before the body is
 * parsed. Either way a request that fails is answered 401 and nothing of it is parsed or accepted. The ID of
 * the token or key used is put on the request's log line (never the secret). Also counts every answer.
 */
export function ingestAuthHooks(
  app: FastifyInstance,
  credentials: IngestCredentials,
  bodyLimitBytes: number,
): void {
  const bearer = credentials.tokens.length > 0 ? bearerTokenCheck(credentials.tokens) : () => undefined;
  const hmac = credentials.hmacKeys?.length ? hmacVerifier(credentials.hmacKeys) : undefined;
  if (credentials.tokens.length === 0 && !hmac)
    throw new Error('the ingest needs bearer tokens or HMAC keys');
  const claims = new WeakMap<FastifyRequest, SignatureClaim>();
  const refuse = (reason: string): Unauthorized => {
    ingestMetrics.authFailures.inc();
    return new Unauthorized(`${reason}; nothing was accepted`);
  };

  // Callback hooks, not async ones: two promises less per request, which a click decision feels.
  app.addHook('onRequest', (request, reply, done) => {
    if (OPEN_ROUTES.has(request.routeOptions.url ?? '')) return done();
    // Routes with a credential of their own (the caps API) check it themselves; a sender's token is not enough.
    if (request.routeOptions.config.ownAuth) return done();
    const tokenId = bearer(request.headers.authorization);
    if (tokenId !== undefined) {
      bindToLog(request, { tokenId });
      return done();
    }
    const signature = request.headers[SIGNATURE_HEADER];
    if (hmac && typeof signature === 'string') {
      const claim = hmac.claim(signature);
      if (typeof claim === 'string') return done(refuse(claim));
      claims.set(request, claim);
      bindToLog(request, { signingKeyId: claim.keyId });
      return done();
    }
    void reply.header('www-authenticate', 'Bearer');
    done(refuse('missing or invalid bearer token (Authorization: Bearer <token>)'));
  });

  // Reads the raw body of a signed request (up to the body limit), checks its MAC, then hands it on to parsing.
  app.addHook('preParsing', async (request, _reply, payload) => {
    const claim = claims.get(request);
    if (!claim) return payload;
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of payload as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > bodyLimitBytes) {
        throw Object.assign(new Error('Request body is too large'), {
          statusCode: 413,
          code: 'FST_ERR_CTP_BODY_TOO_LARGE',
        });
      }
      chunks.push(chunk);
    }
    const body = Buffer.concat(chunks);
    if (!hmac!.verify(claim, body)) throw refuse(`signature does not match the body (key ${claim.keyId})`);
    return Readable.from([body]);
  });

  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unknown';
    const labels = { route, status: String(reply.statusCode) };
    ingestMetrics.requests.inc(labels);
    ingestMetrics.requestSeconds.observe(labels, reply.elapsedTime / 1000);
    done();
  });
}
