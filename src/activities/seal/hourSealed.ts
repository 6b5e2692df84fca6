import type { AwsClients } from '../../aws/clients';
import type { AppConfig } from '../../config/schema';
import { latestManifest } from '../../archive/sealed';
import { fanOutSignal } from '../fanOutSignal';

/**
 * Whether a region's hour has a seal (any version) in any bucket of the region: a captured batch that lands
 * in such an hour is late, and the hour is sealed again so that its next version holds it.
 */
export function createHourSealed(config: AppConfig, aws: AwsClients) {
  return async function hourSealed(input: { region: string; hour: string }): Promise<boolean> {
    const r = config.regions.find((x) => x.name === input.region);
    if (!r) throw new Error(`region ${input.region} is not configured`);
    return (await latestManifest(aws, r.archive, input.region, input.hour, fanOutSignal(1))) !== undefined;
  };
}
