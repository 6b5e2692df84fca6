import { Context } from '@temporalio/activity';
import { readableHour } from '../../archive/hour';
import type { AwsClients } from '../../aws/clients';
import type { AppConfig } from '../../config/schema';
import { mapLimit } from '../../shared/mapLimit';
import { HOUR_MS } from '../../shared/reconcile';
import { fanOutSignal } from '../fanOutSignal';

/** Hours listed at once; each is two LISTs (raw objects, manifests) and one GET per bucket at most. */
const LANES = 8;
/** Hours handed back per run: a history stays small; the rest are found by the next hourly run. */
export const MAX_LATE_HOURS = 24;

/**
 * Sealed hours of a region that raw objects landed in after their latest version: a batch the ingest's fast
 * path archived late (timestamps are accepted up to `ingest.timestampWindow.maxAgeMs` old), which no
 * captureBatch re-seals. Looks at every hour from the oldest one an event may still be accepted for (at most
 * `seal.lateSweepHours` back) up to `before` (exclusive): the raw listing against the latest manifest's
 * sources, nothing read.
 */
export function createLateSealedHours(config: AppConfig, aws: AwsClients) {
  return async function lateSealedHours(input: { region: string; before: string }): Promise<string[]> {
    const r = config.regions.find((x) => x.name === input.region);
    if (!r) throw new Error(`region ${input.region} is not configured`);
    // A window of years (a test stack's) is not listed hour by hour: seal.lateSweepHours bounds it.
    const before = Date.parse(input.before);
    const oldest = Math.max(
      Date.now() - config.ingest.timestampWindow.maxAgeMs,
      before - config.seal.lateSweepHours * HOUR_MS,
    );
    const hours: string[] = [];
    for (let h = oldest - (oldest % HOUR_MS); h < before; h += HOUR_MS) hours.push(new Date(h).toISOString());
    const signal = fanOutSignal(LANES);
    const late = await mapLimit(hours, LANES, async (hour) => {
      const { sealed, unsealed } = await readableHour(aws, r.archive, input.region, hour, signal);
      Context.current().heartbeat();
      return sealed && unsealed.length > 0 ? hour : undefined;
    });
    return late.filter((h): h is string => h !== undefined).slice(0, MAX_LATE_HOURS);
  };
}
