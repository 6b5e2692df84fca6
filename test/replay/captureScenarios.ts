import type { WorkflowHandle } from '@temporalio/client';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { archiveKey, batchIdOf, prepareBatch } from '../../src/archive/format';
import { createAwsClients } from '../../src/aws/clients';
import { FaultProxyClient } from '../../src/fault-proxy';
import {
  captureWorkflowId,
  hourOf,
  type BatchStatus,
  type CaptureInput,
  type QuarantineDecision,
} from '../../src/shared/batch';
import { batchStatusQuery, resolveQuarantineUpdate, retryNowSignal } from '../../src/shared/messages';
import { startSeal } from '../../src/client/seal';
import { waitUntil } from '../../src/util/waitUntil';
import { makeEvents, makeEventsInHour, randomPastHourMs } from '../helpers/pipeline';
import type { Scenario, StackContext } from './scenarios';

/**
 * captureBatch's main paths on the real stack, started as the fast path starts them: the archive half captured
 * (every bucket refusing for a while), only the stats delivery captured (a claim check), and quarantines
 * released and discarded by an operator.
 */
async function start(
  stack: StackContext,
  events: ReturnType<typeof makeEvents>,
  reason: string,
  claimCheck: boolean,
): Promise<WorkflowHandle> {
  const { config, client } = stack;
  const hour = hourOf(events[0]!.timestamp);
  const batchId = batchIdOf(hour, events);
  const { manifest, body } = await prepareBatch({ batchId, region: 'us-east-1', hour, events });
  const { captureInitialBackoffMs: initialMs, captureMaxBackoffMs: maxMs } = config.archive;
  const input: CaptureInput = { manifest, capture: { initialMs, maxMs }, reason };
  if (claimCheck) {
    const target = config.regions[0]!.archive[0]!;
    const key = archiveKey('us-east-1', hour, batchId);
    await putObject(stack, key, body, 'application/x-ndjson');
    input.archived = {
      bucket: target.bucket,
      bucketRegion: target.region,
      key,
      alreadyPresent: false,
      skipped: [],
    };
  }
  return client.workflow.start('captureBatch', {
    workflowId: captureWorkflowId('us-east-1', batchId),
    taskQueue: config.temporal.taskQueue,
    args: claimCheck ? [input] : [input, body],
  });
}

async function putObject(stack: StackContext, key: string, body: Uint8Array | string, type: string) {
  const target = stack.config.regions[0]!.archive[0]!;
  const aws = createAwsClients(stack.config);
  try {
    await aws
      .s3(target.region)
      .send(new PutObjectCommand({ Bucket: target.bucket, Key: key, Body: body, ContentType: type }));
  } finally {
    aws.destroy();
  }
}

async function until(handle: WorkflowHandle, ok: (s: BatchStatus) => boolean, what: string): Promise<void> {
  const reached = await waitUntil(async () => ok(await handle.query(batchStatusQuery)), 120_000, 250);
  if (!reached) throw new Error(`${handle.workflowId} did not become ${what} within 2 minutes`);
}

const decide = (handle: WorkflowHandle, decision: QuarantineDecision) =>
  handle.executeUpdate(resolveQuarantineUpdate, { args: [decision] });

/** Runs `fn` with the stack's fault proxy, clearing every fault afterwards. */
async function withFaults<T>(stack: StackContext, fn: (f: FaultProxyClient) => Promise<T>): Promise<T> {
  const faults = new FaultProxyClient(stack.config.faultProxy!.controlUrl);
  try {
    return await fn(faults);
  } finally {
    await faults.clearAll();
  }
}

export const captureScenarios: Scenario[] = [
  {
    // Both buckets of the region refuse this batch's hour until it has waited twice.
    name: 'captureBatch-archive-captured',
    on: 'stack',
    record: (stack) =>
      withFaults(stack, async (faults) => {
        const events = makeEvents(20, 'us-east-1');
        const hour = events[0]!.timestamp;
        const pathRegex = `region(=|%3D)us-east-1/dt(=|%3D)${hour.slice(0, 10)}/hour(=|%3D)${hour.slice(11, 13)}/`;
        const s3 = ['s3-us-east-1', 's3-us-west-2'];
        for (const l of s3) await faults.setFault(l, { mode: 'error', status: 503, format: 's3', pathRegex });
        const handle = await start(stack, events, 'NoArchiveTarget: no bucket of us-east-1 took it', false);
        await until(handle, (s) => s.state === 'captured' && s.attempts >= 2, 'captured twice');
        for (const l of s3) await faults.clear(l);
        await handle.signal(retryNowSignal);
        await handle.result();
        return handle.fetchHistory();
      }),
  },
  {
    // Only the delivery captured: a claim check, the stats API refusing a few times.
    name: 'captureBatch-delivery-claim-check',
    on: 'stack',
    record: (stack) =>
      withFaults(stack, async (faults) => {
        await faults.setFault('stats-us-east-1', { mode: 'error', status: 503, format: 'json', count: 3 });
        const handle = await start(stack, makeEvents(15, 'us-east-1'), 'stats delivery failed', true);
        await handle.result();
        return handle.fetchHistory();
      }),
  },
  {
    // Quarantined by a stats 4xx, released once the API takes it again.
    name: 'captureBatch-quarantined-released',
    on: 'stack',
    record: (stack) =>
      withFaults(stack, async (faults) => {
        await faults.setFault('stats-us-east-1', { mode: 'error', status: 400, format: 'json' });
        const handle = await start(stack, makeEvents(10, 'us-east-1'), 'stats delivery failed', true);
        await until(handle, (s) => s.state === 'quarantined', 'quarantined');
        await faults.clear('stats-us-east-1');
        await decide(handle, { action: 'release', by: 'recorder', why: 'the stats API takes it again' });
        await handle.result();
        return handle.fetchHistory();
      }),
  },
  {
    // Quarantined by a conflicting object at its key, discarded (the workflow fails as BatchDiscarded).
    name: 'captureBatch-quarantined-discarded',
    on: 'stack',
    async record(stack) {
      const events = makeEvents(10, 'us-east-1');
      const hour = hourOf(events[0]!.timestamp);
      await putObject(stack, archiveKey('us-east-1', hour, batchIdOf(hour, events)), 'another', 'text/plain');
      const handle = await start(stack, events, 'ArchiveConflict: the key holds another object', false);
      await until(handle, (s) => s.state === 'quarantined', 'quarantined');
      await decide(handle, { action: 'discard', by: 'recorder', why: 'a test of the discard path' });
      await handle.result().catch(() => undefined);
      return handle.fetchHistory();
    },
  },
  {
    // Lands in an hour sealed meanwhile: the capture starts the hour's seal again (patch reseal-late-capture).
    name: 'captureBatch-late-resealed',
    on: 'stack',
    async record(stack) {
      const hourMs = randomPastHourMs();
      await (await start(stack, makeEventsInHour(20, hourMs), 'S3 was down', false)).result();
      const hour = new Date(hourMs).toISOString();
      await (await startSeal(stack.client, stack.config, { region: 'us-east-1', hour })).handle.result();
      const handle = await start(stack, makeEventsInHour(10, hourMs), 'S3 was down', false);
      await handle.result();
      return handle.fetchHistory();
    },
  },
];
