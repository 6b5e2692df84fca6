import { prepareBatch } from '../../src/archive/format';
import { configuredTargets } from '../../src/archive/targets';
import { archiveBreakers, createArchiveWriter } from '../../src/archive/writer';
import { createAwsClients } from '../../src/aws/clients';
import { startSeal } from '../../src/client/seal';
import { hourOf } from '../../src/shared/batch';
import { uniqueName } from '../helpers/env';
import { makeEvents } from '../helpers/pipeline';
import type { RecordContext } from './captureScenarios';

/**
 * sealHour's paths: an hour with a resent batch sealed (write, verify, manifest), the same hour sealed
 * again (the manifest found, nothing written), and an hour with no raw object.
 */
export async function recordSealHour({ client, config, save }: RecordContext): Promise<void> {
  const aws = createAwsClients(config);
  const breakers = archiveBreakers();
  try {
    const writer = createArchiveWriter({ aws, targets: configuredTargets(config), breakers });
    const events = makeEvents(40, 'us-east-1');
    const hour = hourOf(events[0]!.timestamp);
    // Two batches, the second resending ten events of the first: one duplicate set to drop.
    for (const slice of [events.slice(0, 25), events.slice(15)]) {
      const { manifest, body } = await prepareBatch({
        batchId: uniqueName('seal-record'),
        region: 'us-east-1',
        hour,
        events: slice,
      });
      await writer.archive(manifest, body, AbortSignal.timeout(30_000));
    }
    const sealed = (await startSeal(client, config, { region: 'us-east-1', hour })).handle;
    await sealed.result();
    await save('sealHour-sealed', sealed);

    const again = (await startSeal(client, config, { region: 'us-east-1', hour })).handle;
    await again.result();
    await save('sealHour-already-sealed', again);

    const emptyHour = hourOf(makeEvents(1, 'us-east-1')[0]!.timestamp);
    const empty = (await startSeal(client, config, { region: 'us-east-1', hour: emptyHour })).handle;
    await empty.result();
    await save('sealHour-empty', empty);
  } finally {
    breakers.shutdown();
    aws.destroy();
  }
}
