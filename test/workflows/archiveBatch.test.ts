import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { archiveBatch } from '../../src/workflows';
import { uniqueName } from '../helpers/env';
import { stubWorker, timeSkippingEnv } from '../helpers/timeSkipping';
import { archiveBatchInput, archiveWorld } from './worlds';

describe('archiveBatch with time skipping (stubbed S3 and stats API)', () => {
  let env: TestWorkflowEnvironment;
  beforeAll(async () => {
    env = await timeSkippingEnv();
  });
  afterAll(() => env?.teardown());

  it('captured for 55 rounds of the 5-minute backoff: continues as new after 50, archives once S3 answers', async () => {
    const { w, activities } = archiveWorld(55);
    const { worker, taskQueue } = await stubWorker(env, activities);
    const wall = Date.now();
    const started = await env.currentTimeMs();
    const { status, runId, firstRunId } = await worker.runUntil(async () => {
      const handle = await env.client.workflow.start(archiveBatch, {
        taskQueue,
        workflowId: uniqueName('archive'),
        args: [archiveBatchInput(uniqueName('batch')), new Uint8Array([1, 2, 3])],
      });
      const result = await handle.result();
      return {
        status: result,
        runId: (await handle.describe()).runId,
        firstRunId: handle.firstExecutionRunId,
      };
    });
    expect(status).toMatchObject({ state: 'done', attempts: 56, delivered: { accepted: 3 } });
    expect(status.archived?.bucket).toBe('stormproof-archive-us-east-1');
    expect(runId).not.toBe(firstRunId);
    // Delivered in the first round and carried over continue-as-new: never delivered twice.
    expect(w).toEqual({ archiveCalls: 56, deliverCalls: 1 });
    // 5 s doubling to the 5-minute cap: more than four hours captured, in seconds of wall time.
    expect((await env.currentTimeMs()) - started).toBeGreaterThan(4 * 60 * 60_000);
    expect(Date.now() - wall).toBeLessThan(60_000);
  }, 90_000);
});
