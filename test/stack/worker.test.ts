import type { Client } from '@temporalio/client';
import { connectClient } from '../../src/client/connect';
import { createWorker } from '../../src/worker';
import { reconcileWindow } from '../../src/workflows';
import { testConfig, uniqueName } from '../helpers/env';
import { workflowBundle } from '../helpers/temporal';

describe('worker from src/worker.ts on the real dev server', () => {
  let client: Client;
  let closeClient: () => Promise<void>;
  beforeAll(async () => {
    ({ client, close: closeClient } = await connectClient(testConfig()));
  });
  afterAll(() => closeClient());

  it('runs a workflow and its activities against S3 and the stats API: an hour nobody wrote to is equal', async () => {
    const config = testConfig();
    const taskQueue = uniqueName('worker-test');
    const { worker, close } = await createWorker({
      config,
      taskQueue,
      workflowBundle: await workflowBundle(),
      shutdownGraceSeconds: 1,
    });
    try {
      // An hour of 2001: no test writes events there, so both sides are empty in every region.
      const report = await worker.runUntil(
        client.workflow.execute(reconcileWindow, {
          taskQueue,
          workflowId: uniqueName('worker-test-reconcile'),
          args: [
            {
              from: '2001-01-01T00:00:00.000Z',
              to: '2001-01-01T01:00:00.000Z',
              attemptBudget: 1,
              settleMs: 0,
              hoursPerSlice: 1,
              concurrency: 1,
            },
          ],
        }),
      );
      expect(report).toMatchObject({
        verdict: 'equal',
        regions: config.regions.map((r) => r.name),
        bucketsCompared: config.regions.length,
        bucketsDiffered: 0,
      });
    } finally {
      await close();
    }
  });
});
