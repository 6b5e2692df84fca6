import type { AwsClients } from '../aws/clients';
import type { AppConfig } from '../config/schema';
import { createArchiveActivities } from './archive/archiveEvents';
import type { BucketBreakers } from './archive/breakers';
import { createProbeTarget } from './archive/probeTarget';
import { configuredTargets, type ArchiveTargetSource } from './archive/targets';
import { createMonitorActivities } from './monitor';
import { createNotifyActivities } from './notify/webhook';
import { createHealthActivities } from './regionControl/health';
import { createRehome } from './regionControl/rehome';
import { createTrafficActivities } from './regionControl/traffic';
import { createVerifyArchive } from './regionControl/verifyArchive';
import { createRegionActivities } from './regions';
import { createReconcileActivities } from './reconcile';
import { createStatsActivities, createStatsApi, type StatsActivitiesOptions } from './stats';

export interface ActivityDeps {
  config: AppConfig;
  aws: AwsClients;
  /** One set per worker process: every activity shares what it learned about each bucket's health. */
  breakers: BucketBreakers;
  /** Where archiving reads each region's bucket order; the worker passes regionControl's, default the config's. */
  targets?: ArchiveTargetSource;
}

/** Every activity of the project, built from the clients the worker (or a test) hands in. */
export function createActivities({
  config,
  aws,
  breakers,
  targets = configuredTargets(config),
}: ActivityDeps) {
  const statsOptions: StatsActivitiesOptions = {
    endpoints: Object.fromEntries(
      config.regions.map((r) => [r.name, { url: r.statsUrl, token: r.statsToken }]),
    ),
    requestTimeoutMs: config.stats.requestTimeoutMs,
    chunkSize: config.stats.chunkSize,
  };
  const notifier = createNotifyActivities({
    url: config.notifications.webhookUrl,
    timeoutMs: config.notifications.timeoutMs,
  });
  return {
    ...createRegionActivities(config),
    probeArchiveTarget: createProbeTarget(aws),
    ...notifier,
    ...createArchiveActivities({ aws, targets, breakers }),
    ...createStatsActivities(statsOptions),
    ...createReconcileActivities({
      config,
      aws,
      stats: createStatsApi(statsOptions),
      notify: notifier.notify,
    }),
    ...createTrafficActivities(aws),
    ...createHealthActivities(config.stats.requestTimeoutMs),
    verifyArchiveTarget: createVerifyArchive(aws, targets),
    rehomeObjects: createRehome(aws),
    ...createMonitorActivities(config),
  };
}

export type Activities = ReturnType<typeof createActivities>;
