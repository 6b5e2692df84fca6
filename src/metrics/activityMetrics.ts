import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import type { ArchiveBatchInput, ArchivedObject } from '../shared/batch';
import type { DeliverEventsInput } from '../activities/stats';
import { workerMetrics } from './workerMetrics';

/**
 * Counts archived and delivered events from the outside of the activities, on their success, so the
 * activities themselves stay free of metrics code.
 */
export const activityMetricsInterceptor: ActivityInterceptorsFactory = (ctx) => ({
  inbound: {
    async execute(input, next) {
      const result: unknown = await next(input);
      const type = ctx.info.activityType;
      if (type === 'archiveEvents') {
        const batch = input.args[0] as ArchiveBatchInput;
        const { bucket } = result as ArchivedObject;
        workerMetrics.eventsArchived.inc({ region: batch.region, bucket }, batch.events.length);
      } else if (type === 'deliverEvents') {
        const { region, events } = input.args[0] as DeliverEventsInput;
        workerMetrics.eventsDelivered.inc({ region }, events.length);
      }
      return result;
    },
  },
});
