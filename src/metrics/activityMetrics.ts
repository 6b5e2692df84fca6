import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import type { ArchivedObject, BatchManifest } from '../shared/batch';
import type { IngestResult } from '../activities/stats';
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
        const batch = input.args[0] as BatchManifest;
        const { bucket } = result as ArchivedObject;
        workerMetrics.eventsArchived.inc({ region: batch.region, bucket }, batch.count);
      } else if (type === 'deliverArchiveObject' || type === 'deliverArchivedObject') {
        const { region } = input.args[0] as { region: string };
        const { accepted, duplicates } = result as IngestResult;
        workerMetrics.eventsDelivered.inc({ region }, accepted + duplicates);
      }
      return result;
    },
  },
});
