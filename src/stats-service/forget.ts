import { mapLimit } from '../shared/mapLimit';

/**
 * Makes the reference stats service forget events through its admin route (DELETE /v1/events/:id): how tests
 * and benchmarks make a pipeline that lost events, for reconciliation to find.
 */
export async function forgetStatsEvents(statsUrl: string, ids: readonly string[]): Promise<void> {
  await mapLimit([...ids], 8, async (id) => {
    const res = await fetch(`${statsUrl}/v1/events/${encodeURIComponent(id)}`, {
      method: 'DELETE',
      signal: AbortSignal.timeout(10_000),
    });
    if (!res.ok) throw new Error(`DELETE ${id}: HTTP ${res.status}`);
  });
}
