import { WorkflowFailedError } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { reconcileWindow } from '../../src/workflows';
import { uniqueName } from '../helpers/env';
import { stubWorker, timeSkippingEnv } from '../helpers/timeSkipping';
import { reconcileWorld } from './worlds';

describe('reconcileWindow with time skipping (stubbed archive and stats)', () => {
  let env: TestWorkflowEnvironment;
  beforeAll(async () => {
    env = await timeSkippingEnv();
  });
  afterAll(() => env?.teardown());

  it('repairs, settles 10 minutes per slice and continues as new after each slice, ending equal', async () => {
    const { w, activities } = reconcileWorld();
    const { worker, taskQueue } = await stubWorker(env, activities);
    const wall = Date.now();
    const started = await env.currentTimeMs();
    const { report, runId, firstRunId } = await worker.runUntil(async () => {
      const handle = await env.client.workflow.start(reconcileWindow, {
        taskQueue,
        workflowId: uniqueName('reconcile'),
        args: [
          {
            from: '2026-11-28T00:00:00.000Z',
            to: '2026-11-28T03:00:00.000Z',
            attemptBudget: 3,
            settleMs: 10 * 60_000,
            hoursPerSlice: 1,
            concurrency: 2,
            slicesPerRun: 1,
          },
        ],
      });
      const result = await handle.result();
      return {
        report: result,
        runId: (await handle.describe()).runId,
        firstRunId: handle.firstExecutionRunId,
      };
    });
    expect(report).toMatchObject({
      verdict: 'equal',
      phase: 'done',
      regions: ['us-east-1', 'us-west-2'],
      hoursDone: 3,
      hoursTotal: 3,
      bucketsCompared: 6,
      bucketsDiffered: 6,
      eventsReplayed: 12,
      iterations: 1,
    });
    expect(w.repaired.size).toBe(6);
    expect(w.compared).toBe(12); // each region and slice: compare, repair, settle, compare again
    expect(runId).not.toBe(firstRunId); // three slices, one per run
    expect((await env.currentTimeMs()) - started).toBeGreaterThanOrEqual(30 * 60_000);
    expect(Date.now() - wall).toBeLessThan(30_000);
    expect(w.told).toEqual([]);
  });

  it('a stats API that keeps losing replays: every settle round is spent, then the run fails with one alert', async () => {
    const { w, activities } = reconcileWorld(false);
    const { worker, taskQueue } = await stubWorker(env, activities);
    const started = await env.currentTimeMs();
    const failure = await worker.runUntil(async () => {
      const handle = await env.client.workflow.start(reconcileWindow, {
        taskQueue,
        workflowId: uniqueName('reconcile'),
        args: [
          {
            from: '2026-11-28T00:00:00.000Z',
            to: '2026-11-28T01:00:00.000Z',
            regions: ['us-east-1'],
            attemptBudget: 3,
            settleMs: 10 * 60_000,
            hoursPerSlice: 1,
            concurrency: 1,
          },
        ],
      });
      return handle.result().then(
        () => undefined,
        (err: unknown) => err,
      );
    });
    expect(failure).toBeInstanceOf(WorkflowFailedError);
    expect((failure as WorkflowFailedError).cause?.message).toMatch(
      /ended unresolved: 1 bucket\(s\) still differ after 3 replay round\(s\): us-east-1 2026-11-28T00:00:00.000Z \(archive 5, stats 3\)/,
    );
    expect(w.compared).toBe(4); // the first comparison and one after each of the 3 replay rounds
    expect(w.told.map((n) => [n.kind, n.title])).toEqual([['reconcile-alert', 'unresolved']]);
    expect((await env.currentTimeMs()) - started).toBeGreaterThanOrEqual(30 * 60_000);
  });
});
