import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { regionControlStateQuery, requestOperationUpdate } from '../../src/shared/messages';
import { waitUntil } from '../../src/util/waitUntil';
import { regionControl } from '../../src/workflows';
import { uniqueName } from '../helpers/env';
import { stubWorker, terminateWhenIdle, timeSkippingEnv } from '../helpers/timeSkipping';
import { regionControlInput, regionWorld } from './worlds';
import { failoverRequest } from '../helpers/region';

describe('regionControl health-check strategy rollback with time skipping', () => {
  let env: TestWorkflowEnvironment;
  beforeAll(async () => {
    env = await timeSkippingEnv();
  });
  afterAll(() => env?.teardown());

  it('undoing a drain waits until the routing health reads back serving, retrying on a durable backoff', async () => {
    const { w, activities } = regionWorld();
    w.verifyFails = true;
    w.stillDraining = 2;
    const { worker, taskQueue } = await stubWorker(env, activities);
    const done = await worker.runUntil(async () => {
      const handle = await env.client.workflow.start(regionControl, {
        taskQueue,
        workflowId: uniqueName('region-control'),
        args: [regionControlInput()],
      });
      await handle.executeUpdate(requestOperationUpdate, {
        args: [failoverRequest({ trafficStrategy: 'health-check' })],
      });
      const finished = await waitUntil(
        async () => (await handle.query(regionControlStateQuery)).current === undefined,
        20_000,
      );
      const state = await handle.query(regionControlStateQuery);
      await terminateWhenIdle(handle);
      expect(finished).toBe(true);
      return state;
    });
    const op = done.history[0]!;
    expect(op.outcome).toBe('rolled-back');
    expect(op.steps.find((s) => s.name === 'shift-traffic')).toMatchObject({
      state: 'compensated',
      detail: 'rolled back; read back as before at attempt 3',
    });
    expect(done.regions.find((r) => r.name === 'us-east-1')?.drained).toBe(false);
    // preflight: the target serving; verify: the drain seen; rollback: serving again, read back until it is.
    expect(w.healthChecks).toEqual(['serving', 'draining', 'serving', 'serving', 'serving']);
  });
});
