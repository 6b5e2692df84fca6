import { upsertSchedule } from './schedule';
import {
  ScheduleOverlapPolicy,
  WorkflowExecutionAlreadyStartedError,
  type Client,
  type WorkflowHandle,
} from '@temporalio/client';
import { latestManifest } from '../archive/sealed';
import { createAwsClients } from '../aws/clients';
import type { AppConfig } from '../config/schema';
import { HOUR_MS } from '../shared/reconcile';
import {
  normalizeHour,
  scheduledSealWorkflowId,
  sealScheduleId,
  sealWorkflowId,
  type SealHourInput,
  type SealManifest,
} from '../shared/seal';
import type { sealHour } from '../workflows/sealHour';

export type SealHandle = WorkflowHandle<typeof sealHour>;

function regionOf(config: AppConfig, region: string) {
  const r = config.regions.find((c) => c.name === region);
  if (!r)
    throw new Error(
      `region: ${region} is not configured (known: ${config.regions.map((c) => c.name).join(', ')})`,
    );
  return r;
}

/**
 * Starts the seal of a region's hour, or attaches to the one running (the ID is the region and hour). A
 * finished seal's ID may run again: that run finds the manifest and changes nothing.
 */
export async function startSeal(
  client: Client,
  config: AppConfig,
  req: { region: string; hour: string; partRows?: number; shards?: number },
): Promise<{ handle: SealHandle; attached: boolean }> {
  regionOf(config, req.region);
  const hour = normalizeHour(req.hour);
  const workflowId = sealWorkflowId(req.region, hour);
  try {
    const handle = await client.workflow.start<typeof sealHour>('sealHour', {
      workflowId,
      taskQueue: config.temporal.taskQueue,
      args: [
        {
          region: req.region,
          hour,
          ...(req.partRows && { partRows: req.partRows }),
          ...(req.shards && { shards: req.shards }),
        },
      ],
      staticSummary: `Seal ${req.region} ${hour.slice(0, 13)}h`,
    });
    return { handle, attached: false };
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    return { handle: client.workflow.getHandle<typeof sealHour>(workflowId), attached: true };
  }
}

/** The latest manifest of a region's hour, read from S3 (no worker needed), with where it is. */
export async function readSeal(
  config: AppConfig,
  req: { region: string; hour: string },
): Promise<{ bucket: string; key: string; manifest: SealManifest } | undefined> {
  const r = regionOf(config, req.region);
  const aws = createAwsClients(config);
  try {
    const found = await latestManifest(
      aws,
      r.archive,
      req.region,
      normalizeHour(req.hour),
      AbortSignal.timeout(60_000),
    );
    return found && { bucket: found.target.bucket, key: found.key, manifest: found.manifest };
  } finally {
    aws.destroy();
  }
}

/**
 * Creates each configured region's hourly seal Schedule, or updates it to the current configuration: safe to
 * run on every deploy. Each run seals the hour that closed `seal.lagMinutes` before it was due. Runs of a
 * region wait for each other (one seal of a region at a time, none skipped); missed runs within a day are
 * caught up.
 */
export async function ensureSealSchedules(
  client: Client,
  config: AppConfig,
): Promise<{ scheduleId: string; region: string; outcome: 'created' | 'updated' }[]> {
  const { lagMinutes, scheduleIdPrefix } = config.seal;
  const out: { scheduleId: string; region: string; outcome: 'created' | 'updated' }[] = [];
  for (const { name: region } of config.regions) {
    const scheduleId = sealScheduleId(scheduleIdPrefix, region);
    const input: SealHourInput = { region, closedHourLagMinutes: lagMinutes };
    const outcome = await upsertSchedule(client, {
      scheduleId,
      spec: { intervals: [{ every: HOUR_MS, offset: lagMinutes * 60_000 }] },
      action: {
        type: 'startWorkflow' as const,
        workflowType: 'sealHour',
        workflowId: scheduledSealWorkflowId(region),
        taskQueue: config.temporal.taskQueue,
        args: [input],
        staticSummary: `Seal ${region}: the hour closed ${lagMinutes} min before this run was due`,
      },
      policies: { overlap: ScheduleOverlapPolicy.BUFFER_ALL, catchupWindow: 24 * HOUR_MS },
    });
    out.push({ scheduleId, region, outcome });
  }
  return out;
}
