import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { ApplicationFailure } from '@temporalio/common';
import { WorkflowFailedError } from '@temporalio/client';
import { archiveKey, batchIdOf, prepareBatch } from '../../src/archive/format';
import { createAwsClients, type AwsClients } from '../../src/aws/clients';
import type { AppConfig } from '../../src/config/schema';
import { captureWorkflowId, hourOf, type BatchStatus, type CaptureInput } from '../../src/shared/batch';
import { resolveQuarantineUpdate } from '../../src/shared/messages';
import { waitUntil } from '../../src/util/waitUntil';
import { testConfig } from '../helpers/env';
import { makeEvents, ndjson, postEvents, startPipeline, type Pipeline } from '../helpers/pipeline';
import { privateFaults, type PrivateFaults } from '../helpers/privateFaults';
import { expectEachEventOnce } from '../helpers/verify';
import { webhookReceiver, type WebhookReceiver } from '../helpers/webhook';

// Each quarantine waits out three quick attempts and an alert; on a loaded 2-core machine that takes a while.
jest.setTimeout(240_000);

const repo = join(__dirname, '..', '..');
const HOME = 'stormproof-archive-us-east-1';

/**
 * A failure no retry can cure (a conflicting object, a corrupt object, a stats 4xx) quarantines the batch:
 * one alert, held for an operator, who releases (try again) or discards it; each decision is recorded.
 * Without quarantine these batches would stay `captured` and come back on the timer for ever.
 */
describe('permanent failures are quarantined, not retried for ever', () => {
  let reader: AwsClients;
  let f: PrivateFaults;
  let p: Pipeline;
  let hook: WebhookReceiver;
  let configFile: string;
  beforeAll(async () => {
    reader = createAwsClients(testConfig());
    hook = await webhookReceiver();
    f = await privateFaults(testConfig());
    const config: AppConfig = {
      ...f.config,
      notifications: { ...f.config.notifications, webhookUrl: hook.url },
    };
    p = await startPipeline(config);
    // The CLI as an operator runs it, against this test's task queue and webhook.
    configFile = join(mkdtempSync(join(tmpdir(), 'stormproof-quarantine-')), 'config.json');
    writeFileSync(configFile, JSON.stringify(p.config));
  });
  afterAll(async () => {
    reader.destroy();
    await p.stop();
    await f.close();
    await hook.close();
  });
  afterEach(() => f.proxy.clearAll());

  const cli = (...args: string[]) =>
    promisify(execFile)(join(repo, 'node_modules', '.bin', 'tsx'), [join(repo, 'src/cli/main.ts'), ...args], {
      cwd: repo,
      env: { ...process.env, STORMPROOF_CONFIG: configFile },
    });
  // A query waits while the workflow's task is busy (local activities retrying): bounded, so the poll goes on.
  const statusOf = (id: string): Promise<BatchStatus> =>
    p.client.withDeadline(Date.now() + 10_000, () =>
      p.client.workflow.getHandle(id).query<BatchStatus>('batchStatus'),
    );
  const quarantined = async (id: string): Promise<BatchStatus> => {
    let s: BatchStatus | undefined;
    const held = await waitUntil(
      async () => (s = await statusOf(id).catch(() => undefined))?.state === 'quarantined',
      60_000,
      200,
    );
    if (!held) throw new Error(`${id} was not quarantined: ${JSON.stringify(s)}`);
    return s!;
  };
  const alertsFor = (id: string) => hook.got.filter((g) => g.body.text.includes(id));
  /** A discarded batch's workflow fails as BatchDiscarded, its last status in the failure's details. */
  const discardedStatus = async (result: Promise<unknown>): Promise<BatchStatus> => {
    const err = await result.then(
      () => {
        throw new Error('expected the discarded batch to fail');
      },
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const cause = (err as WorkflowFailedError).cause as ApplicationFailure;
    expect(cause.type).toBe('BatchDiscarded');
    return cause.details![0] as BatchStatus;
  };

  it('ArchiveConflict: an object of other content at the key; released once the operator removed it', async () => {
    const events = makeEvents(30);
    const hour = hourOf(events[0]!.timestamp);
    const batchId = batchIdOf(hour, events);
    const key = archiveKey('us-east-1', hour, batchId);
    await reader
      .s3('us-east-1')
      .send(
        new PutObjectCommand({ Bucket: HOME, Key: key, Body: 'not this batch', ContentType: 'text/plain' }),
      );
    const { status, body } = await postEvents(p, ndjson(events));
    expect(status).toBe(200); // durable: held by Temporal
    const id = body.batches![0]!.captureWorkflowId!;
    expect(id).toBe(captureWorkflowId('us-east-1', batchId));
    const held = await quarantined(id);
    expect(held.quarantine).toMatchObject({ half: 'archive', type: 'ArchiveConflict' });
    expect(held.quarantine!.reason).toMatch(/exists with different content/);

    // The operator's view: listed, shown, and alerted once however long it waits.
    const listed = JSON.parse((await cli('batches', '--state', 'quarantined', '--json')).stdout) as {
      workflowId: string;
    }[];
    expect(listed.map((b) => b.workflowId)).toContain(id);
    expect((await cli('batch', id)).stdout).toMatch(
      /quarantined since .*archive failed with ArchiveConflict/,
    );
    expect(await waitUntil(() => alertsFor(id).length === 1, 30_000)).toBe(true);
    expect(alertsFor(id)[0]!.body.text).toMatch(/quarantined: ArchiveConflict/);

    // Releasing without a reason is refused; with one, after removing the stray object, the batch completes.
    await expect(cli('release', id, '--why', ' ')).rejects.toMatchObject({
      stderr: expect.stringMatching(/say why/),
    });
    await reader.s3('us-east-1').send(new DeleteObjectCommand({ Bucket: HOME, Key: key }));
    expect((await cli('release', id, '--by', 'alice', '--why', 'stray test object removed')).stdout).toMatch(
      /released by alice/,
    );
    const done = (await p.client.workflow.getHandle(id).result()) as BatchStatus;
    expect(done).toMatchObject({ state: 'done', archived: { bucket: HOME, key } });
    expect(done.decisions).toEqual([
      expect.objectContaining({
        action: 'release',
        by: 'alice',
        why: 'stray test object removed',
        quarantine: expect.objectContaining({ type: 'ArchiveConflict' }),
      }),
    ]);
    await expectEachEventOnce(reader, p.config, events);
    expect(alertsFor(id)).toHaveLength(1);
  });

  it('StatsRejected: the stats API refuses the batch (400); archived, delivery quarantined, then discarded', async () => {
    await f.proxy.setFault('stats-us-east-1', { mode: 'error', status: 400, format: 'json' });
    const events = makeEvents(20);
    const { status, body } = await postEvents(p, ndjson(events));
    expect(status).toBe(200);
    const batch = body.batches![0]!;
    expect(batch.archived).toMatch(new RegExp(`^s3://${HOME}/`));
    const id = captureWorkflowId('us-east-1', batch.batchId);
    const held = await quarantined(id);
    expect(held.quarantine).toMatchObject({ half: 'stats', type: 'StatsRejected' });
    expect(held.archived).toMatchObject({ bucket: HOME });
    expect(await waitUntil(() => alertsFor(id).length === 1, 30_000)).toBe(true);

    // A decision is refused unless quarantined; discarding is recorded and ends the workflow.
    const handle = p.client.workflow.getHandle(id);
    expect((await cli('discard', id, '--by', 'bob', '--why', 'test batch, drop it')).stdout).toMatch(
      /discarded by bob; now discarded/,
    );
    const end = await discardedStatus(handle.result());
    expect(end).toMatchObject({ state: 'discarded', decisions: [expect.objectContaining({ by: 'bob' })] });
    expect(end.delivered).toBeUndefined();
  });

  it('StatsRejected then released after the stats API was fixed: delivered exactly once', async () => {
    await f.proxy.setFault('stats-us-east-1', { mode: 'error', status: 400, format: 'json' });
    const events = makeEvents(25);
    const { body } = await postEvents(p, ndjson(events));
    const id = captureWorkflowId('us-east-1', body.batches![0]!.batchId);
    await quarantined(id);
    await f.proxy.clear('stats-us-east-1');
    const handle = p.client.workflow.getHandle(id);
    await handle.executeUpdate(resolveQuarantineUpdate, {
      args: [{ action: 'release', by: 'carol', why: 'stats API fixed' }],
    });
    expect(await handle.result()).toMatchObject({ state: 'done', delivered: { accepted: 25 } });
    await expectEachEventOnce(reader, p.config, events);
    // Not quarantined any more: a second decision is refused by the validator.
    await expect(
      handle.executeUpdate(resolveQuarantineUpdate, {
        args: [{ action: 'release', by: 'carol', why: 'again' }],
      }),
    ).rejects.toThrow();
  });

  it('CorruptBatch: an object that does not match its manifest is never archived', async () => {
    const events = makeEvents(10);
    const hour = hourOf(events[0]!.timestamp);
    const batchId = batchIdOf(hour, events);
    const { manifest, body } = await prepareBatch({ batchId, region: 'us-east-1', hour, events });
    const input: CaptureInput = {
      manifest: { ...manifest, sha256: '0'.repeat(64) },
      capture: { initialMs: 300, maxMs: 1500 },
      reason: 'test: a batch whose bytes changed on their way',
    };
    const id = captureWorkflowId('us-east-1', batchId);
    await p.client.workflow.start('captureBatch', {
      workflowId: id,
      taskQueue: p.config.temporal.taskQueue,
      args: [input, body],
    });
    const held = await quarantined(id);
    expect(held.quarantine).toMatchObject({ half: 'archive', type: 'CorruptBatch' });
    expect(held.archived).toBeUndefined();
    await p.client.workflow
      .getHandle(id)
      .executeUpdate(resolveQuarantineUpdate, { args: [{ action: 'discard', by: 'dave', why: 'corrupt' }] });
    expect(await discardedStatus(p.client.workflow.getHandle(id).result())).toMatchObject({
      state: 'discarded',
    });
  });

  it('a discarded batch sent again is held again, not swallowed by the closed workflow', async () => {
    const events = makeEvents(10);
    const hour = hourOf(events[0]!.timestamp);
    const batchId = batchIdOf(hour, events);
    const id = captureWorkflowId('us-east-1', batchId);
    await reader.s3('us-east-1').send(
      new PutObjectCommand({
        Bucket: HOME,
        Key: archiveKey('us-east-1', hour, batchId),
        Body: 'x',
        ContentType: 'text/plain',
      }),
    );
    const discard = async (why: string) => {
      expect((await quarantined(id)).quarantine).toMatchObject({ type: 'ArchiveConflict' });
      await p.client.workflow
        .getHandle(id)
        .executeUpdate(resolveQuarantineUpdate, { args: [{ action: 'discard', by: 'erin', why }] });
      expect(await discardedStatus(p.client.workflow.getHandle(id).result())).toMatchObject({
        state: 'discarded',
      });
    };
    const first = await postEvents(p, ndjson(events));
    expect(first.body.batches![0]!.captureWorkflowId).toBe(id);
    await discard('first time');
    // The same events again: a new run of the same workflow ID holds them (the failed one does not block it).
    const again = await postEvents(p, ndjson(events));
    expect(again.status).toBe(200);
    expect(again.body.batches![0]!.captureWorkflowId).toBe(id);
    await discard('test done');
  });

  it('discarded while its quarantine alert is still being sent: the workflow ends as discarded', async () => {
    const events = makeEvents(10);
    const hour = hourOf(events[0]!.timestamp);
    const batchId = batchIdOf(hour, events);
    const id = captureWorkflowId('us-east-1', batchId);
    await reader
      .s3('us-east-1')
      .send(new PutObjectCommand({ Bucket: HOME, Key: archiveKey('us-east-1', hour, batchId), Body: 'x' }));
    let answerAlert!: () => void;
    hook.answer.hold = new Promise<void>((r) => (answerAlert = r));
    try {
      expect((await postEvents(p, ndjson(events))).body.batches![0]!.captureWorkflowId).toBe(id);
      await quarantined(id);
      // The alert has reached the webhook, which holds its answer: the alert activity is in flight.
      expect(await waitUntil(() => alertsFor(id).length === 1, 60_000)).toBe(true);
      await p.client.workflow.getHandle(id).executeUpdate(resolveQuarantineUpdate, {
        args: [{ action: 'discard', by: 'fay', why: 'mid-alert' }],
      });
    } finally {
      answerAlert();
      hook.answer.hold = undefined;
    }
    // Before the fix the loop tried the batch again, quarantined it again and waited for a decision for ever.
    const result = p.client.workflow.getHandle(id).result();
    const ended = await Promise.race([
      discardedStatus(result),
      new Promise<'still running'>((r) => setTimeout(() => r('still running'), 60_000)),
    ]);
    expect(ended).toMatchObject({ state: 'discarded', decisions: [expect.objectContaining({ by: 'fay' })] });
    expect(alertsFor(id)).toHaveLength(1);
  });
});
