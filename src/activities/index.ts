import type { AwsClients } from '../aws/clients';
import type { AppConfig } from '../config/schema';
import { createProbeTarget } from './archive/probeTarget';
import { createRegionActivities } from './regions';

export interface ActivityDeps {
  config: AppConfig;
  aws: AwsClients;
}

/** Every activity of the project, built from the clients the worker (or a test) hands in. */
export function createActivities({ config, aws }: ActivityDeps) {
  return {
    ...createRegionActivities(config),
    probeArchiveTarget: createProbeTarget(aws),
  };
}

export type Activities = ReturnType<typeof createActivities>;
