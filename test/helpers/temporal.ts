import type { AppConfig } from '../../src/config/schema';
import { createWorker } from '../../src/worker';
import { bundleWorkflowCode, type WorkflowBundle } from '@temporalio/worker';

let bundle: Promise<WorkflowBundle> | undefined;

/** The project's workflow bundle, built once per test file (bundling takes seconds). */
export function workflowBundle(): Promise<WorkflowBundle> {
  bundle ??= bundleWorkflowCode({
    workflowsPath: require.resolve('../../src/workflows'),
    logger: { log() {}, trace() {}, debug() {}, info() {}, warn: console.warn, error: console.error },
  });
  return bundle;
}

/**
 * Runs a worker of the real code for `config` (its task queue) in this process; the answer stops it (and
 * waits for it), once however often it is called.
 */
export async function runWorker(config: AppConfig): Promise<() => Promise<void>> {
  const w = await createWorker({ config, workflowBundle: await workflowBundle(), shutdownGraceSeconds: 0 });
  const running = w.worker.run();
  let stopped: Promise<void> | undefined;
  return () =>
    (stopped ??= (async () => {
      w.worker.shutdown();
      await running;
      await w.close();
    })());
}
