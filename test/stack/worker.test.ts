import type { Client } from '@temporalio/client';
import type { AppConfig } from '../../src/config/schema';
import { createWorker } from '../../src/worker';
import { probeRegions } from '../../src/workflows';
import { testConfig, uniqueName } from '../helpers/env';
import { workflowBundle } from '../helpers/temporal';
import { connectClient } from '../../src/client/connect';

describe('worker from src/worker.ts on the real dev server', () => {
  let client: Client;
  let closeClient: () => Promise<void>;
  beforeAll(async () => {
    ({ client, close: closeClient } = await connectClient(testConfig()));
  });
  afterAll(() => closeClient());

  async function runProbe(config: AppConfig) {
    const taskQueue = uniqueName('worker-test');
    const { worker, close } = await createWorker({
      config,
      taskQueue,
      workflowBundle: await workflowBundle(),
      shutdownGraceSeconds: 1,
    });
    try {
      return await worker.runUntil(
        client.workflow.execute(probeRegions, { taskQueue, workflowId: uniqueName('probe-regions') }),
      );
    } finally {
      await close();
    }
  }

  it('runs probeRegions: every seeded archive bucket is writable', async () => {
    const config = testConfig();
    const report = await runProbe(config);
    expect(report.regions.map((r) => r.name)).toEqual(config.regions.map((r) => r.name));
    const targets = report.regions.flatMap((r) => r.targets);
    expect(targets).toHaveLength(4);
    for (const t of targets) expect(t).toMatchObject({ writable: true });
  });

  it('reports a missing bucket as not writable, with the reason', async () => {
    const config = testConfig();
    const missing = uniqueName('sp-missing');
    config.regions[1]!.archive[0]!.bucket = missing;
    const report = await runProbe(config);
    const probe = report.regions[1]!.targets[0]!;
    expect(probe).toMatchObject({ bucket: missing, writable: false });
    expect(probe.error).toMatch(/NoSuchBucket/);
    expect(report.regions[0]!.targets.every((t) => t.writable)).toBe(true);
  });
});
