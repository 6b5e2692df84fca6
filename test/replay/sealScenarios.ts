import { PutObjectCommand } from '@aws-sdk/client-s3';
import { archiveKey, prepareBatch } from '../../src/archive/format';
import { configuredTargets } from '../../src/archive/targets';
import { archiveBreakers, createArchiveWriter } from '../../src/archive/writer';
import { createAwsClients } from '../../src/aws/clients';
import { ensureSealSchedules, startSeal } from '../../src/client/seal';
import { HOUR_MS } from '../../src/shared/reconcile';
import { waitUntil } from '../../src/util/waitUntil';
import { hourOf } from '../../src/shared/batch';
import { uniqueName } from '../helpers/env';
import { makeEvents } from '../helpers/pipeline';
import type { Scenario, StackContext } from './scenarios';

/** An hour of 40 events in two raw objects, the second resending ten events of the first. */
async function archiveHourWithResend(stack: StackContext): Promise<string> {
  const events = makeEvents(40, 'us-east-1');
  await archiveSlices(stack, [events.slice(0, 25), events.slice(15)]);
  return hourOf(events[0]!.timestamp);
}

/** Archives each slice as one raw object of its own batch, with the product's writer. */
async function archiveSlices(stack: StackContext, slices: ReturnType<typeof makeEvents>[]): Promise<void> {
  const aws = createAwsClients(stack.config);
  const breakers = archiveBreakers();
  try {
    const writer = createArchiveWriter({ aws, targets: configuredTargets(stack.config), breakers });
    for (const slice of slices) {
      const hour = hourOf(slice[0]!.timestamp);
      const { manifest, body } = await prepareBatch({
        batchId: uniqueName('seal-record'),
        region: 'us-east-1',
        hour,
        events: slice,
      });
      await writer.archive(manifest, body, AbortSignal.timeout(30_000));
    }
  } finally {
    breakers.shutdown();
    aws.destroy();
  }
}

async function seal(stack: StackContext, hour: string, fails = false, shards?: number) {
  const { handle } = await startSeal(stack.client, stack.config, {
    region: 'us-east-1',
    hour,
    ...(shards && { shards }),
  });
  const failed = await handle.result().then(
    () => false,
    () => true,
  );
  if (failed !== fails)
    throw new Error(`recording: the seal of ${hour} ${fails ? 'did not fail' : 'failed'}`);
  return handle;
}

/** Puts an object that is not gzip into the hour's home bucket: a source no seal may skip. */
async function corruptObject(stack: StackContext, hour: string): Promise<void> {
  const aws = createAwsClients(stack.config);
  try {
    const home = stack.config.regions.find((r) => r.name === 'us-east-1')!.archive[0]!;
    await aws.s3(home.region).send(
      new PutObjectCommand({
        Bucket: home.bucket,
        Key: archiveKey('us-east-1', hour, uniqueName('corrupt')),
        Body: 'not gzip',
        ContentType: 'application/gzip',
      }),
    );
  } finally {
    aws.destroy();
  }
}

/**
 * sealHour's paths: an hour with a resent batch sealed (write, verify, manifest), the same hour sealed
 * again (the manifest found, nothing written), a batch landing after the seal (version 2), an hour with no
 * raw object, a run its hourly Schedule started, a seal failing on a corrupt source (the seal-failed alert,
 * patch `seal-failure-alert`), and an hour and its late version in three shards. All take the sharded path
 * (patch `seal-shards`); the histories of the single-activity path are in histories/pre-patch.
 */
export const sealScenarios: Scenario[] = [
  {
    name: 'sealHour-sealed',
    on: 'stack',
    record: async (stack) => (await seal(stack, await archiveHourWithResend(stack))).fetchHistory(),
  },
  {
    name: 'sealHour-already-sealed',
    on: 'stack',
    async record(stack) {
      const hour = await archiveHourWithResend(stack);
      await seal(stack, hour);
      // A second seal of the hour starts a new run under the same ID: the manifest is found, nothing written.
      return (await seal(stack, hour)).fetchHistory();
    },
  },
  {
    name: 'sealHour-empty',
    on: 'stack',
    record: async (stack) =>
      (await seal(stack, hourOf(makeEvents(1, 'us-east-1')[0]!.timestamp))).fetchHistory(),
  },
  {
    // A batch lands after the seal, half of it already sealed: the second seal writes version 2.
    name: 'sealHour-late-version',
    on: 'stack',
    async record(stack) {
      const events = makeEvents(40, 'us-east-1');
      const hour = hourOf(events[0]!.timestamp);
      await archiveSlices(stack, [events.slice(0, 30)]);
      await seal(stack, hour);
      await archiveSlices(stack, [events.slice(20)]);
      return (await seal(stack, hour)).fetchHistory();
    },
  },
  {
    // Started by its hourly Schedule (triggered now): the hour comes from TemporalScheduledStartTime.
    name: 'sealHour-scheduled',
    on: 'stack',
    async record(stack) {
      const lag = 15;
      const closed = Date.now() - lag * 60_000;
      const hourMs = closed - (closed % HOUR_MS) - HOUR_MS;
      const events = makeEvents(20, 'us-east-1').map((e, i) => ({
        ...e,
        timestamp: new Date(hourMs + 1000 * (i + 1)).toISOString(),
      }));
      await archiveSlices(stack, [events]);
      const config = {
        ...stack.config,
        regions: stack.config.regions.filter((r) => r.name === 'us-east-1'),
        seal: { ...stack.config.seal, lagMinutes: lag, scheduleIdPrefix: uniqueName('seal-record') },
      };
      const { scheduleId } = (await ensureSealSchedules(stack.client, config))[0]!;
      const schedule = stack.client.schedule.getHandle(scheduleId);
      try {
        await schedule.trigger();
        if (!(await waitUntil(async () => (await schedule.describe()).info.recentActions.length > 0, 60_000)))
          throw new Error('recording: the Schedule started nothing in 60 s');
        const { workflow } = (await schedule.describe()).info.recentActions[0]!.action;
        const run = stack.client.workflow.getHandle(workflow.workflowId, workflow.firstExecutionRunId);
        await run.result();
        return run.fetchHistory();
      } finally {
        await schedule.delete();
      }
    },
  },
  {
    // Three shards run at once (bounded concurrency), then a late batch makes version 2, also in three.
    name: 'sealHour-sharded-late-version',
    on: 'stack',
    async record(stack) {
      const events = makeEvents(60, 'us-east-1');
      const hour = hourOf(events[0]!.timestamp);
      await archiveSlices(stack, [events.slice(0, 30), events.slice(20, 45)]);
      await seal(stack, hour, false, 3);
      await archiveSlices(stack, [events.slice(40)]);
      return (await seal(stack, hour, false, 3)).fetchHistory();
    },
  },
  {
    name: 'sealHour-failed-alerted',
    on: 'stack',
    async record(stack) {
      const hour = await archiveHourWithResend(stack);
      await corruptObject(stack, hour);
      return (await seal(stack, hour, true)).fetchHistory();
    },
  },
];
