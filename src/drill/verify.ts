import { forEachHourEvent, readableHour } from '../archive/hour';
import type { AwsClients } from '../aws/clients';
import type { AppConfig } from '../config/schema';
import type { TrackingEvent } from '../shared/event';

/**
 * How many times the archive holds each event ID starting with `prefix`, over every bucket of each region,
 * for the given hours, as readers see it: once per sealed hour that holds it (its latest version), plus once
 * per raw object the seal does not hold; an hour not sealed counts every raw object. The same key in two
 * buckets (failover copy, re-homed copy) is one object. `onEvent` sees each of those events whole (e.g. its
 * cap judgement), a duplicate as often as it is counted.
 */
export async function archivedCounts(
  aws: AwsClients,
  config: AppConfig,
  hours: string[],
  prefix: string,
  onEvent?: (e: TrackingEvent) => void,
): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  const signal = AbortSignal.timeout(10 * 60_000);
  for (const region of config.regions) {
    for (const hour of hours) {
      const readable = await readableHour(aws, region.archive, region.name, hour, signal);
      await forEachHourEvent(aws, readable, signal, (e) => {
        if (!e.id.startsWith(prefix)) return;
        counts.set(e.id, (counts.get(e.id) ?? 0) + 1);
        onEvent?.(e);
      });
    }
  }
  return counts;
}

/** Event IDs starting with `prefix` that the stats API of each region counts in the given hours. */
export async function deliveredIds(config: AppConfig, hours: string[], prefix: string): Promise<Set<string>> {
  const ids = new Set<string>();
  for (const region of config.regions) {
    for (const hour of hours) {
      let cursor: string | undefined;
      do {
        const q = new URLSearchParams({ limit: '5000', ...(cursor ? { cursor } : {}) });
        const bucket = [region.name, 'hour', hour].map(encodeURIComponent).join('/');
        const res = await fetch(`${region.statsUrl}/v1/buckets/${bucket}/ids?${q.toString()}`, {
          headers: region.statsToken ? { authorization: `Bearer ${region.statsToken}` } : {},
          signal: AbortSignal.timeout(10_000),
        });
        if (res.status === 404) break;
        if (!res.ok) throw new Error(`stats API ${region.name}: HTTP ${res.status} ${await res.text()}`);
        const page = (await res.json()) as { ids: string[]; nextCursor: string | null };
        for (const id of page.ids) if (id.startsWith(prefix)) ids.add(id);
        cursor = page.nextCursor ?? undefined;
      } while (cursor);
    }
  }
  return ids;
}
