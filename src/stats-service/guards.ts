import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { errorBody } from './errors';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The operation needs no token (`security: []` in openapi.yaml). */
    isPublic?: boolean;
  }
}

/** What an overloaded service asks clients to wait, in seconds. */
const RETRY_AFTER_SECONDS = 1;

/**
 * Sheds load: with `maxInFlight` requests in progress (headers received, response not yet finished),
 * further requests get 503 with Retry-After at once, before their bodies are read, instead of queueing
 * without bound while memory grows.
 */
export function installOverloadGuard(app: FastifyInstance, maxInFlight: number): void {
  let inFlight = 0;
  app.addHook('onRequest', async (request, reply) => {
    if (inFlight >= maxInFlight) {
      request.log.warn({ inFlight, maxInFlight }, 'overloaded, shedding request');
      return reply
        .code(503)
        .header('retry-after', String(RETRY_AFTER_SECONDS))
        .send(errorBody('Overloaded', `more than ${maxInFlight} requests in progress; retry later`));
    }
    inFlight++;
    // 'close' fires once the response is done or the connection dropped, so the slot is always freed.
    reply.raw.once('close', () => inFlight--);
  });
}

/** Requires `Authorization: Bearer <token>` on every route that is not public. */
export function installBearerAuth(app: FastifyInstance, token: string): void {
  const expected = sha256(token);
  app.addHook('onRequest', async (request, reply) => {
    if (request.routeOptions.config.isPublic) return;
    const match = /^Bearer (.+)$/.exec(request.headers.authorization ?? '');
    // Comparing fixed-length hashes in constant time leaks neither the token nor its length.
    if (match?.[1] !== undefined && timingSafeEqual(sha256(match[1]), expected)) return;
    return reply
      .code(401)
      .header('www-authenticate', 'Bearer')
      .send(errorBody('Unauthorized', 'a valid bearer token is required'));
  });
}

function sha256(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}
