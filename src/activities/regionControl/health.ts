import { ApplicationFailure } from '@temporalio/activity';

/** A region's stats API answers its health route; anything else is a failed preflight, with the reason. */
export function createHealthActivities(requestTimeoutMs: number) {
  return {
    async checkStatsHealth(statsUrl: string): Promise<void> {
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
