import type { Client, WorkflowHandle } from '@temporalio/client';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { archiveKey, batchIdOf, prepareBatch } from '../../src/archive/format';
import { createAwsClients } from '../../src/aws/clients';
import type { AppConfig } from '../../src/config/schema';
import { FaultProxyClient } from '../../src/fault-proxy';
import {
  captureWorkflowId,
  hourOf,
  type BatchStatus,
  type CaptureInput,
  type QuarantineDecision,
} from '../../src/shared/batch';
import { batchStatusQuery, resolveQuarantineUpdate, retryNowSignal } from '../../src/shared/messages';
import { waitUntil } from '../../src/util/waitUntil';
import { makeEvents } from '../helpers/pipeline';

export interface RecordContext {
  client: Client;
  config: AppConfig;
  save: (name: string, handle: WorkflowHandle) => Promise<void>;
}

/**
 * captureBatch's main paths, recorded as the fast path would start them: the archive half captured (every
 * bucket refusing for a while), only the stats delivery captured (a claim check), and quarantines released
 * and discarded by an operator.
 */
export async function recordCaptureBatch({ client, config, save }: RecordContext): Promise<void> {
  const faults = new FaultProxyClient(config.faultProxy!.controlUrl);
  const aws = createAwsClients(config);
  const capture = {
    initialMs: config.archive.captureInitialBackoffMs,
    maxMs: config.archive.captureMaxBackoffMs,
  };
  const start = async (
    events: ReturnType<typeof makeEvents>,
    reason: string,
    claimCheck: boolean,
  ): Promise<WorkflowHandle> => {
    const hour = hourOf(events[0]!.timestamp);
    const batchId = batchIdOf(hour, events);
    const { manifest, body } = await prepareBatch({ batchId, region: 'us-east-1', hour, events });
    const input: CaptureInput = { manifest, capture, reason };
    if (claimCheck) {
      const target = config.regions[0]!.archive[0]!;
      const key = archiveKey('us-east-1', hour, batchId);
      await aws.s3(target.region).send(
        new PutObjectCommand({
          Bucket: target.bucket,
          Key: key,
          Body: body,
          ContentType: 'application/x-ndjson',
        }),
      );
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
  };
  const until = async (handle: WorkflowHandle, ok: (s: BatchStatus) => boolean, what: string) => {
    const reached = await waitUntil(async () => ok(await handle.query(batchStatusQuery)), 120_000, 250);
    if (!reached) throw new Error(`${handle.workflowId} did not become ${what} within 2 minutes`);
  };
  const decide = (handle: WorkflowHandle, decision: QuarantineDecision) =>
    handle.executeUpdate(resolveQuarantineUpdate, { args: [decision] });

  try {
    // Archive half captured: both buckets of the region refuse this batch's hour until it has waited twice.
    const events = makeEvents(20, 'us-east-1');
    const hour = events[0]!.timestamp;
    const pathRegex = `region(=|%3D)us-east-1/dt(=|%3D)${hour.slice(0, 10)}/hour(=|%3D)${hour.slice(11, 13)}/`;
    const s3 = ['s3-us-east-1', 's3-us-west-2'];
    for (const l of s3) await faults.setFault(l, { mode: 'error', status: 503, format: 's3', pathRegex });
    const captured = await start(
      events,
      'NoArchiveTarget: no archive bucket of us-east-1 took the batch',
      false,
    );
    await until(captured, (s) => s.state === 'captured' && s.attempts >= 2, 'captured twice');
    for (const l of s3) await faults.clear(l);
    await captured.signal(retryNowSignal);
    await captured.result();
    await save('captureBatch-archive-captured', captured);

    // Only the delivery captured: a claim check, the stats API refusing once.
    await faults.setFault('stats-us-east-1', { mode: 'error', status: 503, format: 'json', count: 3 });
    const claim = await start(makeEvents(15, 'us-east-1'), 'stats delivery failed: StatsUnavailable', true);
    await claim.result();
    await save('captureBatch-delivery-claim-check', claim);

    // Quarantined by a stats 4xx, released once the API takes it again.
    await faults.setFault('stats-us-east-1', { mode: 'error', status: 400, format: 'json' });
    const rejected = await start(makeEvents(10, 'us-east-1'), 'stats delivery failed: StatsRejected', true);
    await until(rejected, (s) => s.state === 'quarantined', 'quarantined');
    await faults.clear('stats-us-east-1');
    await decide(rejected, { action: 'release', by: 'recorder', why: 'the stats API takes it again' });
    await rejected.result();
    await save('captureBatch-quarantined-released', rejected);

    // Quarantined by a conflicting object at its key, discarded.
    const conflicting = makeEvents(10, 'us-east-1');
    const h = hourOf(conflicting[0]!.timestamp);
    const target = config.regions[0]!.archive[0]!;
    await aws.s3(target.region).send(
      new PutObjectCommand({
        Bucket: target.bucket,
        Key: archiveKey('us-east-1', h, batchIdOf(h, conflicting)),
        Body: 'another object',
        ContentType: 'text/plain',
      }),
    );
    const conflict = await start(conflicting, 'ArchiveConflict: the key holds another object', false);
    await until(conflict, (s) => s.state === 'quarantined', 'quarantined');
    await decide(conflict, { action: 'discard', by: 'recorder', why: 'a test of the discard path' });
    await conflict.result();
    await save('captureBatch-quarantined-discarded', conflict);
  } finally {
    await faults.clearAll();
    aws.destroy();
  }
}
