import type { FastifyInstance } from 'fastify';
import { bearerTokenCheck } from '../auth/bearerTokens';
import type { SecretValue } from '../config/secrets';
import { ingestMetrics } from '../metrics/ingestMetrics';

/** Routes anyone may call: load balancers' health checks carry no token. */
const OPEN_ROUTES = new Set(['/v1/health']);

/**
 * Bearer-token authentication of the ingest, checked on `onRequest`, before the body is even read: a request
 * without a valid token is answered 401 and nothing of it is parsed or accepted. The ID of the token used is
 * put on the request's log line (never the token). Also counts every answer by route and status.
 */
export function ingestAuthHooks(app: FastifyInstance, tokens: SecretValue[]): void {
  const authorized = bearerTokenCheck(tokens);
  app.addHook('onRequest', async (request, reply) => {
    if (OPEN_ROUTES.has(request.routeOptions.url ?? '')) return;
    const tokenId = authorized(request.headers.authorization);
    if (tokenId !== undefined) {
      request.log = request.log.child({ tokenId });
      return;
    }
    ingestMetrics.authFailures.inc();
    return reply.code(401).header('www-authenticate', 'Bearer').send({
      error: 'Unauthorized',
      message: 'missing or invalid bearer token (Authorization: Bearer <token>); nothing was accepted',
    });
  });
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unknown';
    ingestMetrics.requests.inc({ route, status: String(reply.statusCode) });
  });
}
