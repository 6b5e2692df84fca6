import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { forEachHourEvent, readableHour } from '../../archive/hour';
import type { AwsClients } from '../../aws/clients';
import { pendingCapturesQuery } from '../../client/batchQuery';
import type { AppConfig } from '../../config/schema';
import { capAmountOf, capCovers, capWindowOf, type CapSpendQuery } from '../../shared/capLedger';
import type { TrackingEvent } from '../../shared/event';
import { fanOutSignal } from '../fanOutSignal';
import { withHeartbeat } from '../heartbeat';

/**
 * What a cap's window spent, counted from the archive: its events judged `within` that cap, each ID once; of
 * one holder (whose lease ended unrenewed) or of all (the window's close). Every acknowledged event is in S3 or in a batch workflow, so the count is
 * final only when no batch of those hours is still held in Temporal: until then this fails (retryable) and the ledger keeps
 * the allowance stranded, which keeps the cap safe. A holder spends only in event hours it announced to the
 * ledger, so only those hours are read.
 */
export function createCountCapSpend(config: AppConfig, aws: AwsClients) {
  return async function countCapSpend(q: CapSpendQuery): Promise<number> {
    const client = Context.current().client;
    for (const hour of q.hours)
      for (const region of config.regions) {
        const { count } = await client.workflow.count(pendingCapturesQuery(region.name, hour));
        if (count > 0)
          throw ApplicationFailure.retryable(
            `${count} captured batch(es) of ${region.name} ${hour} not archived yet may hold events of cap ${q.cap.id}: counted once they land`,
            'BatchesInFlight',
          );
      }
    const signal = fanOutSignal(4);
    return withHeartbeat(async () => {
      const ids = new Map<string, number>();
      const keep = (e: TrackingEvent): void => {
        if (e.capStatus !== 'within' || !capCovers(q.cap, e)) return;
        if (q.holder !== undefined && e.capHolder !== q.holder) return;
        if (capWindowOf(q.cap, Date.parse(e.timestamp)).key !== q.window.key) return;
        ids.set(e.id, capAmountOf(q.cap, e));
      };
      for (const hour of q.hours) {
        for (const region of config.regions) {
          const readable = await readableHour(aws, region.archive, region.name, hour, signal);
          await forEachHourEvent(aws, readable, signal, keep);
        }
      }
      let spent = 0;
      for (const amount of ids.values()) spent += amount;
      return spent;
    });
  };
}
