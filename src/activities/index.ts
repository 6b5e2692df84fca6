import type { AwsClients } from '../aws/clients';
import type { AppConfig } from '../config/schema';
import { Context } from '@temporalio/activity';
import type { BucketBreakers } from '../archive/breakers';
import { createArchiveWriter } from '../archive/writer';
import { createArchiveActivities } from './archive/archiveEvents';
import { createProbeTarget } from './archive/probeTarget';
import { configuredTargets, type ArchiveTargetSource } from '../archive/targets';
import { createMonitorActivities } from './monitor';
import { createNotifyActivities } from './notify/webhook';
import { createHealthActivities } from './regionControl/health';
import { createRehome } from './regionControl/rehome';
import { createTrafficActivities } from './regionControl/traffic';
import { createVerifyArchive } from './regionControl/verifyArchive';
import { createRegionActivities } from './regions';
import { createReconcileActivities } from './reconcile';
import { createSealActivities } from './seal';
import { createHourSealed } from './seal/hourSealed';
import { createCountCapSpend } from './caps/countCapSpend';
import { createCapRegionActivities } from './caps/regionAllowance';
import { pendingCapturesOf } from './seal/pending';
import { createLateSealedHours } from './seal/sweep';
import { createStatsActivities, createStatsApi, statsOptionsOf } from './stats';

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
  const statsOptions = statsOptionsOf(config);
  const notifier = createNotifyActivities({
    url: config.notifications.webhookUrl,
    timeoutMs: config.notifications.timeoutMs,
  });
  const writer = createArchiveWriter({
    aws,
    targets,
    breakers,
    onSkip: (bucket, reason) => {
      Context.current().log.warn('archive target refused the batch', { bucket, reason });
    },
  });
  return {
    ...createRegionActivities(config),
    probeArchiveTarget: createProbeTarget(aws),
    ...notifier,
    ...createArchiveActivities(writer),
    ...createStatsActivities(statsOptions, aws),
    ...createReconcileActivities({
      config,
      aws,
      stats: createStatsApi(statsOptions, () => Context.current().cancellationSignal),
      notify: notifier.notify,
    }),
    ...createTrafficActivities(aws),
    ...createHealthActivities(config.stats.requestTimeoutMs),
    verifyArchiveTarget: createVerifyArchive(aws, targets),
    rehomeObjects: createRehome(aws, writer),
    ...createSealActivities({ config, aws, writer }),
    hourSealed: createHourSealed(config, aws),
    countCapSpend: createCountCapSpend(config, aws),
    ...createCapRegionActivities(config),
    ...createMonitorActivities(config),
    pendingCapturesOf,
    lateSealedHours: createLateSealedHours(config, aws),
  };
}

export type Activities = ReturnType<typeof createActivities>;
