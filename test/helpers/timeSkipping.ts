import { existsSync } from 'node:fs';
import { temporal } from '@temporalio/proto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import type { Activities } from '../../src/activities';
import { payloadCodecs } from '../../src/codec/dataConverter';
import { searchAttributes } from '../../src/shared/searchAttributes';
import { testServerPath } from '../../src/stack/tools';
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
