import type { AwsClients } from '../aws/clients';
import type { ArchiveTargetRef } from '../shared/regions';
import type { SealManifest } from '../shared/seal';
import type { TrackingEvent } from '../shared/event';
import { getObject, listHourObjects, readCopy, type ArchiveObject } from './reader';
import { latestManifest, readSealedEvents } from './sealed';

/** An hour of a region's archive as every reader sees it. */
export interface ReadableHour {
  /** Every raw object of the hour, over the region's buckets. */
  objects: ArchiveObject[];
  /** Its sealed hour (latest manifest, and the bucket holding it), where one exists: each event ID once. */
  sealed?: { target: ArchiveTargetRef; key: string; manifest: SealManifest };
  /** The raw objects the seal does not hold (late ones); every raw object when the hour is not sealed. */
  unsealed: ArchiveObject[];
}

/**
 * Reads an hour the way reconciliation and the drill do: the sealed hour where one exists, plus what landed
 * after it. One place decides this, so no reader counts a sealed hour's raw duplicates again.
 */
export async function readableHour(
  aws: AwsClients,
  targets: ArchiveTargetRef[],
  region: string,
  hour: string,
  signal: AbortSignal,
): Promise<ReadableHour> {
  const [objects, sealed] = await Promise.all([
    listHourObjects(aws, targets, region, hour, signal),
    latestManifest(aws, targets, region, hour, signal),
  ]);
  const inSeal = new Set(sealed?.manifest.sources.keys);
  return { objects, sealed, unsealed: objects.filter((o) => !inSeal.has(o.key)) };
}

/**
 * Every event of a readable hour, whole: the sealed files' (latest version), then the raw objects the seal does
 * not hold (an event in two of them, seen twice). The one walk over an hour that counts events as readers do.
 */
export async function forEachHourEvent(
  aws: AwsClients,
  hour: ReadableHour,
  signal: AbortSignal,
  fn: (e: TrackingEvent) => void,
): Promise<void> {
  const { sealed, unsealed } = hour;
  for (const file of sealed?.manifest.files ?? [])
    (await readSealedEvents(await getObject(aws, sealed!.target, file.key, signal))).forEach(fn);
  for (const obj of unsealed) {
    const read = await readCopy(aws, obj.copies[0]!, obj.key, signal);
    if ('error' in read) throw new Error(`${obj.key} is corrupt: ${read.error}`);
    read.events.forEach(fn);
  }
}
