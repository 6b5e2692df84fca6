import type { FastifyInstance } from 'fastify';
import type { CapEnforcer } from '../client/capEnforcer';

const idParam = { type: 'string', minLength: 1, maxLength: 64 } as const;

/**
 * The tracking redirect's question, answered from this ingest's own allowances (no call to Temporal):
 * `GET /v1/decisions/click?offerId=&affiliateId=` is `allow`, or `fallback` with the cap and its fallback URL
 * once a clicks cap covering them is spent here. It spends nothing: the click event, when sent, is judged
 * and spends. `GET /v1/allowances` lists what this ingest holds, and its holder session. Both take a sender's
 * credential.
 */
export function registerCapDecisionRoutes(app: FastifyInstance, caps: CapEnforcer): void {
  app.get<{ Querystring: { offerId: string; affiliateId: string } }>(
    '/v1/decisions/click',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          required: ['offerId', 'affiliateId'],
          properties: { offerId: idParam, affiliateId: idParam },
        },
      },
    },
    (req, reply) => reply.send(caps.decide(req.query.offerId, req.query.affiliateId)),
  );
  app.get('/v1/allowances', (_req, reply) =>
    reply.send({ holder: caps.holder, session: caps.sessionId(), allowances: caps.holdings() }),
  );
}
