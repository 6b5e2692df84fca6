import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { startSeal } from '../../src/client/seal';
import { hourOf } from '../../src/shared/batch';
import { uniqueName } from '../helpers/env';
import { makeEvents } from '../helpers/pipeline';
import { statsHour } from '../helpers/verify';
import { sideOf, startReconcileWorld, type ReconcileWorld } from './world';

jest.setTimeout(180_000);

const REGION = 'us-east-1';

/**
 * Reconciliation reads a sealed hour from its seal: the manifest's count and digest (each event ID once) and
 * its Parquet files, plus the raw objects that landed after the seal. Real worker, S3 and stats API.
 */
describe('reconcile: a sealed hour is read from its seal', () => {
  let w: ReconcileWorld;
  beforeAll(async () => {
    w = await startReconcileWorld();
  });
  afterAll(() => w.stop());

  const seal = async (hour: string): Promise<void> => {
    const { handle } = await startSeal(w.client, w.config, { region: REGION, hour, partRows: 100 });
    expect((await handle.result()).outcome).toBe('sealed');
  };

  it('compares a sealed hour holding a resent batch as equal from its manifest, reading no object', async () => {
    const events = makeEvents(300, REGION);
    const hour = hourOf(events[0]!.timestamp);
    await w.archive(events, { batchSize: 100, batchPrefix: uniqueName('a') });
    // A resend under another batch ID: the raw objects hold 350 events, 50 of them twice.
    await w.archive(events.slice(0, 50), { batchSize: 50, batchPrefix: uniqueName('resent') });
    await w.deliver(events);
    await seal(hour);

    // Raw manifests would sum to 350 against the stats' 300 and send the hour to be read and repaired.
    expect(await w.reconcile(hour)).toMatchObject({
      verdict: 'equal',
      bucketsCompared: 1,
      bucketsDiffered: 0,
      objectsRead: 0,
      eventsReplayed: 0,
      archiveDuplicates: 0,
      corruptObjects: [],
    });
  });

  it('replays from the sealed files with the raw objects gone, and from a raw object that landed after the seal', async () => {
    const events = makeEvents(400, REGION);
    const hour = hourOf(events[0]!.timestamp);
    const sealedEvents = events.slice(0, 300);
    const late = events.slice(300);
    const raw = await w.archive(sealedEvents, { batchSize: 100, batchPrefix: uniqueName('a') });
    await w.deliver(sealedEvents);
    await seal(hour);
    // Retired after the seal: only the Parquet files hold these events now.
    for (const o of raw) {
      await w.aws.s3(REGION).send(new DeleteObjectCommand({ Bucket: o.bucket, Key: o.key }));
    }
    const lost = sealedEvents.filter((_, i) => i % 15 === 0).map((e) => e.id);
    await w.forget(lost);
    // Lands after the seal and never reaches the stats API.
    await w.archive(late, { batchSize: 100, batchPrefix: uniqueName('late') });

    expect(await w.reconcile(hour)).toMatchObject({
      verdict: 'equal',
      bucketsDiffered: 1,
      objectsRead: 1, // the late object; the sealed events come from the Parquet files
      eventsRead: 400,
      eventsReplayed: lost.length + late.length,
      extraEvents: 0,
      corruptObjects: [],
    });
    expect(await statsHour(w.config, REGION, hour)).toMatchObject(sideOf(events));
  });
});
