import type { FastifyInstance } from 'fastify';
import type { RegionControlReader } from '../client/regionControlReader';

/**
 * `GET /v1/routing-health`: 200 while this region takes traffic, 503 while regionControl has it drained. A
 * Route 53 health check on this URL moves the region's traffic away without any Route 53 API call. Until
 * regionControl has answered once, the region serves (an outage of Temporal must not drain every region).
 */
export function registerRoutingHealth(
  app: FastifyInstance,
  region: string,
  reader: RegionControlReader,
): void {
  app.get('/v1/routing-health', async (_req, reply) => {
    const state = await reader.read();
    const drained = state?.regions.find((r) => r.name === region)?.drained === true;
    return reply.code(drained ? 503 : 200).send({ region, status: drained ? 'draining' : 'serving' });
  });
}
