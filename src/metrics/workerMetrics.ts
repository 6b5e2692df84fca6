import { Counter } from 'prom-client';
import { workerRegistry } from './registries';

const registers = [workerRegistry];

export const workerMetrics = {
  eventsArchived: new Counter({
    name: 'stormproof_events_archived_total',
    help: 'Events written to S3 by the capture workflows (archiveEvents), by origin region and the bucket that took them',
    labelNames: ['region', 'bucket'] as const,
    registers,
  }),
  eventsDelivered: new Counter({
    name: 'stormproof_events_delivered_total',
    help: 'Events delivered to the stats API by the capture workflows, by region',
    labelNames: ['region'] as const,
    registers,
  }),
};
