import { ApplicationFailure } from '@temporalio/activity';
import { waitUntil } from '../../util/waitUntil';

/** A region's stats API answers its health route; anything else is a failed preflight, with the reason. */
export function createHealthActivities(requestTimeoutMs: number) {
  return {
    /** Waits up to `withinMs` until an ingest's routing-health answers as expected (503 draining, 200 serving). */
    async routingHealthIs(input: { url: string; draining: boolean; withinMs: number }): Promise<void> {
      let last = 'no answer';
      const reached = await waitUntil(
        async () => {
          try {
            const res = await fetch(input.url, { signal: AbortSignal.timeout(requestTimeoutMs) });
            last = `HTTP ${res.status}`;
            return res.status === (input.draining ? 503 : 200);
          } catch (err) {
            last = (err as Error).message;
            return false;
          }
        },
        input.withinMs,
        200,
      );
      if (!reached)
        throw ApplicationFailure.create({
          type: 'Unhealthy',
          nonRetryable: true,
          message: `routing health ${input.url} answers ${last}, expected ${input.draining ? '503 draining' : '200 serving'}`,
        });
    },

    /** Preflight form: throws the reason when the stats API at this URL is not healthy. */
    async requireStatsHealthy(statsUrl: string): Promise<void> {
      const url = new URL('/v1/health', statsUrl);
      let res: Response;
      try {
        res = await fetch(url, { signal: AbortSignal.timeout(requestTimeoutMs) });
      } catch (err) {
        throw ApplicationFailure.create({
          type: 'Unhealthy',
          nonRetryable: true,
          message: `stats API ${url.href} unreachable: ${(err as Error).message}`,
        });
      }
      if (!res.ok)
        throw ApplicationFailure.create({
          type: 'Unhealthy',
          nonRetryable: true,
          message: `stats API ${url.href} answered HTTP ${res.status}`,
        });
    },
  };
}
