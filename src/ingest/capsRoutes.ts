import { WorkflowUpdateFailedError } from '@temporalio/client';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { bearerTokenCheck } from '../auth/bearerTokens';
import type { CapsClient } from '../client/caps';
import type { SecretValue } from '../config/secrets';
import { describeCapErrors, parseCap, type StoredCap } from '../shared/caps';

const OWN_AUTH = { ownAuth: true };

/**
 * The cap definitions over HTTP, for the tools that manage offers: `GET /v1/caps`, `GET|PUT|DELETE
 * /v1/caps/:id`. Callers need a caps API token (`capsApi.tokens`), not a sender's; the token's ID is recorded
 * as who made the change (`api:<tokenId>`). The registry workflow is the judge; this answers its refusals as
 * 400 (each field at fault) or 409 (taken ID, stale revision).
 */
export function registerCapsRoutes(app: FastifyInstance, caps: CapsClient, tokens: SecretValue[]): void {
  const check = bearerTokenCheck(tokens);
  const routes = (scope: FastifyInstance): void => {
    scope.addHook('onRequest', async (req, reply) => {
      const tokenId = check(req.headers.authorization);
      if (tokenId === undefined) {
        return reply.code(401).header('www-authenticate', 'Bearer').send({
          error: 'Unauthorized',
          message: 'a caps API token is needed (Authorization: Bearer <token>)',
        });
      }
      (req as { capsBy?: string }).capsBy = `api:${tokenId}`;
    });
    const by = (req: object): string => (req as { capsBy: string }).capsBy;

    scope.get('/v1/caps', { config: OWN_AUTH }, async () => ({ caps: await caps.list() }));
    scope.get<{ Params: { id: string } }>('/v1/caps/:id', { config: OWN_AUTH }, async (req, reply) => {
      const cap = await caps.get(req.params.id);
      return cap ?? notFound(reply, req.params.id);
    });
    scope.put<{ Params: { id: string }; Headers: { 'if-match'?: string } }>(
      '/v1/caps/:id',
      { config: OWN_AUTH },
      async (req, reply) => {
        const body = { ...(req.body as object), id: req.params.id };
        const parsed = parseCap(body);
        if ('errors' in parsed) {
          return reply.code(400).send({
            error: 'InvalidCap',
            message: describeCapErrors(body, parsed.errors),
            fields: parsed.errors,
          });
        }
        const ifMatch = req.headers['if-match'];
        const expected = ifMatch === undefined ? undefined : Number(ifMatch.replace(/"/g, ''));
        try {
          const existing = await caps.get(req.params.id);
          let stored: StoredCap;
          if (existing) stored = await caps.update(parsed.cap, by(req), expected);
          else if (expected !== undefined) return notFound(reply, req.params.id);
          else stored = await caps.create(parsed.cap, by(req));
          return reply
            .code(existing ? 200 : 201)
            .header('etag', `"${stored.revision}"`)
            .send(stored);
        } catch (err) {
          return refused(reply, err);
        }
      },
    );
    scope.delete<{ Params: { id: string } }>('/v1/caps/:id', { config: OWN_AUTH }, async (req, reply) => {
      if (!(await caps.get(req.params.id))) return notFound(reply, req.params.id);
      try {
        return await caps.delete(req.params.id, by(req));
      } catch (err) {
        return refused(reply, err);
      }
    });
  };
  void app.register((scope, _opts, done) => {
    routes(scope);
    done();
  });
}

function notFound(reply: FastifyReply, id: string): FastifyReply {
  return reply.code(404).send({ error: 'NotFound', message: `no cap ${id}` });
}

/** The registry said no (a race with another change): 409 with its reason. */
function refused(reply: FastifyReply, err: unknown): FastifyReply {
  if (!(err instanceof WorkflowUpdateFailedError)) throw err;
  const message = err.cause?.message ?? err.message;
  return reply.code(409).send({ error: 'Conflict', message });
}
