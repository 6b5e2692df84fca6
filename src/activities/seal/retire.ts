import { Context } from '@temporalio/activity';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { ApplicationFailure } from '@temporalio/common';
import type { AwsClients } from '../../aws/clients';
import type { AppConfig } from '../../config/schema';
import { listHourObjects } from '../../archive/reader';
import { HourDigests, latestManifest } from '../../archive/sealed';
import { pendingCaptures } from '../../client/batchQuery';
import { mapLimit } from '../../shared/mapLimit';
import type { ArchiveTargetRef } from '../../shared/regions';
import {
  summaryOf,
  type RetireResult,
  type SealedPart,
  type SealManifest,
  type SealSummary,
} from '../../shared/seal';
import { fanOutSignal } from '../fanOutSignal';
import { withHeartbeat } from '../heartbeat';

const DELETE_LANES = 8;

export interface RetireDeps {
  config: AppConfig;
  aws: AwsClients;
  /** The seal's read-back (SHA-256, rows, each ID once) into `digests`; a mismatch is a SealVerifyFailed. */
  readBack: (
    label: string,
    target: ArchiveTargetRef,
    files: readonly SealedPart[],
    signal: AbortSignal,
    digests: HourDigests,
    seen: Set<string>,
  ) => Promise<void>;
  /** The seal's conditional manifest write (SealConflict when another manifest holds the version). */
  writeManifest: (
    target: ArchiveTargetRef,
    manifest: SealManifest,
    signal: AbortSignal,
  ) => Promise<SealSummary>;
}

/**
 * Deletes a sealed hour's raw objects (retireRawHour). Only objects its latest manifest lists as sources, only
 * after that version's files were read back again and matched it, never while captured batches of the hour
 * are pending; the retirement is written first, as the next version of the manifest (same files, sources,
 * counts, plus `retired`), so no reader finds a raw object missing without the manifest saying why. Idempotent:
 * a retry finds its manifest (same bytes) or one that already covers the sources, and deleting twice is fine.
 * A seal that writes the same version first makes this a retryable failure: the retry retires that version.
 */
export function createRetireRaw({ config, aws, readBack, writeManifest }: RetireDeps) {
  return async function retireRaw(input: {
    region: string;
    hour: string;
    at: string;
  }): Promise<RetireResult> {
    const { region, hour } = input;
    const r = config.regions.find((x) => x.name === region);
    if (!r) throw new Error(`region ${region} is not configured`);
    const signal = fanOutSignal(DELETE_LANES);
    return withHeartbeat(async () => {
      const latest = await latestManifest(aws, r.archive, region, hour, signal);
      if (!latest) return { outcome: 'not-sealed', deleted: 0 };
      const pending = await pendingCaptures(Context.current().client, region, hour);
      if (pending.count > 0) return { outcome: 'pending-captures', deleted: 0, pending };

      const { manifest: m, target } = latest;
      const sources = new Set(m.sources.keys);
      const toDelete = (await listHourObjects(aws, r.archive, region, hour, signal)).filter((o) =>
        sources.has(o.key),
      );
      const covered = m.retired !== undefined && m.retired.objects === m.sources.count;
      if (covered && toDelete.length === 0)
        return { outcome: 'already-retired', deleted: 0, summary: summaryOf(m, latest.key) };

      let summary = summaryOf(m, latest.key);
      if (!covered) {
        const digests = new HourDigests();
        await readBack(
          `${region} ${hour}: version ${m.version}`,
          target,
          m.files,
          signal,
          digests,
          new Set(),
        );
        const read = digests.totalSide();
        if (read.count !== m.total.count || read.digest !== m.total.digest)
          throw ApplicationFailure.create({
            type: 'SealVerifyFailed',
            nonRetryable: true,
            message: `${region} ${hour}: the files of version ${m.version} hold ${read.count} events (${read.digest}), its manifest ${m.total.count} (${m.total.digest}): raw objects kept`,
          });
        const { delta: _delta, pending: _pending, ...rest } = m;
        const retirement: SealManifest = {
          ...rest,
          version: m.version + 1,
          previous: { version: m.version, key: latest.key },
          retired: { at: input.at, objects: m.sources.count, verifiedVersion: m.version },
        };
        try {
          summary = await writeManifest(target, retirement, signal);
        } catch (err) {
          if ((err as ApplicationFailure).type !== 'SealConflict') throw err;
          // A seal wrote that version first (late events): retried, this retires the new latest version.
          throw new Error(
            `${region} ${hour}: a seal wrote version ${m.version + 1} first; retiring it instead`,
            { cause: err },
          );
        }
      }
      await mapLimit(toDelete, DELETE_LANES, async (o) => {
        for (const copy of o.copies)
          await aws
            .s3(copy.region)
            .send(new DeleteObjectCommand({ Bucket: copy.bucket, Key: o.key }), { abortSignal: signal });
      });
      return { outcome: 'retired', deleted: toDelete.length, summary };
    });
  };
}
