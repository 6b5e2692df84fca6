import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createAwsClients, type AwsClients } from '../../src/aws/clients';
import type { AppConfig } from '../../src/config/schema';
import type { FaultInput } from '../../src/fault-proxy';
import { captureWorkflowId, type BatchStatus } from '../../src/shared/batch';
import { waitUntil } from '../../src/util/waitUntil';
import { testConfig } from '../helpers/env';
import {
  capturedIds,
  makeEvents,
  ndjson,
  postEvents,
  settled,
  startPipeline,
  type Pipeline,
} from '../helpers/pipeline';
import { privateFaults, type PrivateFaults } from '../helpers/privateFaults';
import { expectEachEventOnce, statsHour } from '../helpers/verify';

jest.setTimeout(120_000);

const repo = join(__dirname, '..', '..');
/** The operator CLI as a process, against the test stack (STORMPROOF_CONFIG is set by scripts/test.sh). */
const cli = (...args: string[]) =>
  promisify(execFile)(join(repo, 'node_modules', '.bin', 'tsx'), [join(repo, 'src/cli/main.ts'), ...args], {
    cwd: repo,
  });

const HOME = 'stormproof-archive-us-east-1';
const FAILOVER = 'stormproof-failover-us-east-1';

/** Short client timeouts, so a hung or slow S3 costs a test seconds, not the production defaults. */
const quick = (c: AppConfig): AppConfig => ({
  ...c,
  aws: { ...c.aws, requestTimeoutMs: 1500, connectTimeoutMs: 1000, maxAttempts: 2 },
  stats: { ...c.stats, requestTimeoutMs: 1500 },
});

/**
 * Each test gets a fault proxy and a worker of its own (fresh circuit breakers), so what one test breaks
 * never leaks into another or into other test files sharing the stack.
 */
describe('archiving through outages (real stack behind a private fault proxy)', () => {
  let reader: AwsClients;
  let f: PrivateFaults;
  let p: Pipeline;
  beforeAll(() => {
    reader = createAwsClients(testConfig()); // reads the archive around the faults
  });
  afterAll(() => reader.destroy());
  beforeEach(async () => {
    f = await privateFaults(testConfig());
    p = await startPipeline(quick(f.config));
  });
  afterEach(async () => {
    await f.proxy.clearAll();
    await p.stop();
    await f.close();
  });

  const homeOutages: [string, FaultInput][] = [
    ['503 SlowDown', { mode: 'error', status: 503, format: 's3' }],
    ['500 InternalError', { mode: 'error', status: 500, format: 's3' }],
    ['connection reset', { mode: 'reset' }],
    ['no answer (hang)', { mode: 'hang' }],
    ['latency beyond the client timeout', { mode: 'latency', latencyMs: 4000 }],
    ['answers lost', { mode: 'lose-answer' }],
  ];

  it.each(homeOutages)(
    'home S3 failing with %s: every batch lands in the failover bucket on the fast path',
    async (_, fault) => {
      await f.proxy.setFault('s3-us-east-1', fault);
      const events = makeEvents(2200);
      const { status, body } = await postEvents(p, ndjson(events));
      expect(status).toBe(200);
      expect(body.accepted).toBe(2200);
      // Each batch is durable somewhere: the failover bucket, or (while home's breaker had not opened yet
      // and the fast path's deadline passed) a capture workflow that archives it there.
      await settled(p.client, body);
      const byKey = await expectEachEventOnce(reader, p.config, events);
      // Only a lost answer can leave a copy at home (the PUT landed); readers still see each batch once.
      if (fault.mode !== 'lose-answer') {
        expect([...byKey.values()].every((o) => o.buckets.join() === FAILOVER)).toBe(true);
      }
      const [home] = await f.proxy.list();
      expect(home!.counters.faulted).toBeGreaterThan(0);
    },
  );

  it('every bucket failing: batches are captured, then all drain when S3 is back', async () => {
    const s3Down: FaultInput = { mode: 'error', status: 503, format: 's3' };
    await f.proxy.setFault('s3-us-east-1', s3Down);
    await f.proxy.setFault('s3-us-west-2', s3Down);
    const events = makeEvents(1500);
    const { status, body } = await postEvents(p, ndjson(events));
    expect(status).toBe(200);
    const ids = capturedIds(body);
    expect(ids.length).toBe(body.batches!.length);
    expect(ids.length).toBeGreaterThanOrEqual(2);

    const statusOf = (id: string) => p.client.workflow.getHandle(id).query<BatchStatus>('batchStatus');
    expect(
      await waitUntil(async () => {
        const all = await Promise.all(ids.map(statusOf));
        return all.every((s) => s.state === 'captured' && s.delivered && !s.archived && s.lastError);
      }, 30_000),
    ).toBe(true);
    // The backlog is one visibility query away (what `stormproof batches` prints).
    const backlogQuery = `StormproofBatchState = 'captured' AND WorkflowId STARTS_WITH 'capture-us-east-1-'`;
    expect(
      await waitUntil(async () => {
        const listed: string[] = [];
        for await (const wf of p.client.workflow.list({ query: backlogQuery })) listed.push(wf.workflowId);
        return ids.every((id) => listed.includes(id));
      }, 30_000),
    ).toBe(true);
    // The UI shows each: a summary that says what was captured, the state, current details with the reason.
    const desc = await p.client.workflow.getHandle(ids[0]!).describe();
    expect(await desc.staticSummary()).toMatch(
      /^\d+ events of us-east-1, hour \d{4}-\d\d-\d\dT\d\d: archive captured$/,
    );
    expect(await desc.staticDetails()).toMatch(/captured because: NoArchiveTarget/);
    expect(await statsHour(testConfig(), 'us-east-1', events[0]!.timestamp)).toMatchObject({ count: 1500 });

    // The operator's view of the backlog, and the nudge that drains it as soon as S3 is back.
    const listed = JSON.parse((await cli('batches', '--state', 'captured', '--json')).stdout) as {
      workflowId: string;
      lastError?: string;
    }[];
    for (const id of ids) {
      expect(listed.find((b) => b.workflowId === id)?.lastError).toMatch(/no archive bucket of us-east-1/);
    }
    await f.proxy.clearAll();
    // A batch whose own timer fired first has finished: the retry says so rather than failing.
    const told = /retry signalled to (\d+) batch\(es\)(?:; (\d+) had already finished)?/.exec(
      (await cli('retry', ...ids)).stdout,
    );
    expect(Number(told?.[1]) + Number(told?.[2] ?? 0)).toBe(ids.length);
    const results = await settled(p.client, body);
    expect(results.every((r: BatchStatus) => r.state === 'done' && r.attempts > 1)).toBe(true);
    await expectEachEventOnce(reader, p.config, events);
    expect((await cli('retry', ids[0]!)).stdout).toContain(
      'retry signalled to 0 batch(es); 1 had already finished',
    );
    await expect(cli('retry', 'capture-no-such-batch')).rejects.toMatchObject({
      stderr: expect.stringMatching(/stormproof: .*not found/i),
    });
  });

  it('stats API down: archived on the fast path, the delivery captured with a claim check, counts exact', async () => {
    await f.proxy.setFault('stats-us-east-1', { mode: 'error', status: 503, format: 'json' });
    const events = makeEvents(800);
    const { status, body } = await postEvents(p, ndjson(events));
    expect(status).toBe(200);
    const [batch] = body.batches!;
    expect(batch!.archived).toMatch(new RegExp(`^s3://${HOME}/`));
    // The delivery is captured after the answer, under the batch's own workflow ID.
    const handle = p.client.workflow.getHandle(captureWorkflowId('us-east-1', batch!.batchId));
    expect(
      await waitUntil(async () => {
        const s = await handle.query<BatchStatus>('batchStatus').catch(() => undefined);
        return s?.state === 'captured' && s.archived?.bucket === HOME && !s.delivered;
      }, 30_000),
    ).toBe(true);
    // A claim check: the workflow holds a pointer to the archived object, not the events.
    const history = await handle.fetchHistory();
    const started = history.events![0]!.workflowExecutionStartedEventAttributes!;
    expect(started.input!.payloads).toHaveLength(1);
    expect(await statsHour(testConfig(), 'us-east-1', events[0]!.timestamp)).toBeUndefined();

    await f.proxy.clear('stats-us-east-1');
    expect(await handle.result()).toMatchObject({ state: 'done', delivered: { accepted: 800 } });
    await expectEachEventOnce(reader, p.config, events);
  });

  it('answers lost after a successful PUT and POST: no duplicate object, no double count', async () => {
    await f.proxy.setFault('s3-us-east-1', { mode: 'lose-answer', methods: ['PUT'], count: 1 });
    await f.proxy.setFault('stats-us-east-1', { mode: 'lose-answer', methods: ['POST'], count: 1 });
    const events = makeEvents(500);
    const { status, body } = await postEvents(p, ndjson(events));
    expect(status).toBe(200);
    // The retried PUT met its own object (412, same checksum): one object, at home.
    expect(body.batches!.map((b) => b.archived)).toEqual([
      expect.stringMatching(new RegExp(`^s3://${HOME}/`)),
    ]);
    // The POST's answer was lost: its delivery was captured and resent, and counted as duplicates.
    const handle = p.client.workflow.getHandle(captureWorkflowId('us-east-1', body.batches![0]!.batchId));
    expect(
      await waitUntil(async () => (await handle.describe().catch(() => undefined)) !== undefined, 30_000),
    ).toBe(true);
    expect(await handle.result()).toMatchObject({
      state: 'done',
      delivered: { accepted: 0, duplicates: 500 },
    });
    const byKey = await expectEachEventOnce(reader, p.config, events);
    expect([...byKey.values()].map((o) => o.buckets)).toEqual([[HOME]]);
    const faulted = (await f.proxy.list()).map((l) => [l.name, l.counters.faulted]);
    expect(faulted).toEqual(
      expect.arrayContaining([
        ['s3-us-east-1', 1],
        ['stats-us-east-1', 1],
      ]),
    );
  });
});
