/**
 * Records the histories the replay test (replay.test.ts) replays: runs every scenario of scenarios.ts with the
 * current code and writes its history to test/replay/histories/<name>.json. Refresh them (and commit them)
 * when a workflow changes on purpose in a way old histories need not follow, i.e. only together with a patch
 * or a new workflow type, never to make a red replay test green. One command, which starts and stops the
 * test stack the `stack` scenarios need:
 *
 *   npm run record-histories              # every scenario
 *   npm run record-histories -- regionControl-aborted-mid-step …   # only these
 *
 * Payloads are recorded compressed but not encrypted, so replaying needs no key.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { temporal } from '@temporalio/proto';
import { connectClient } from '../../src/client/connect';
import { loadConfig } from '../../src/config/load';
import type { AppConfig } from '../../src/config/schema';
import { createWorker } from '../../src/worker';
import { uniqueName } from '../helpers/env';
import { timeSkippingEnv } from '../helpers/timeSkipping';
import { HISTORIES_DIR, historyToFixture } from './fixtures';
import { scenarios, type Scenario } from './scenarios';

function save(name: string, history: temporal.api.history.v1.IHistory): void {
  writeFileSync(
    join(HISTORIES_DIR, `${name}.json`),
    `${JSON.stringify(historyToFixture(history), null, 2)}\n`,
  );
  console.log(`recorded ${name} (${history.events?.length} events)`);
}

/** A test server of its own per scenario: one scenario's leftovers never hold another's clock back. */
async function recordOnStubs(chosen: Extract<Scenario, { on: 'stub' }>[]): Promise<void> {
  for (const s of chosen) {
    const env = await timeSkippingEnv();
    try {
      save(s.name, await s.record(env));
    } finally {
      await env.teardown();
    }
  }
}

async function recordOnStack(chosen: Extract<Scenario, { on: 'stack' }>[]): Promise<void> {
  if (chosen.length === 0) return;
  const base = loadConfig();
  const config: AppConfig = {
    ...base,
    encryption: undefined,
    temporal: { ...base.temporal, taskQueue: uniqueName('replay-record') },
    ingest: { ...base.ingest, lingerMs: 10 },
    archive: { captureInitialBackoffMs: 300, captureMaxBackoffMs: 1500 },
  };
  const { client, close } = await connectClient(config);
  const { worker, close: closeWorker } = await createWorker({ config, shutdownGraceSeconds: 0 });
  const running = worker.run();
  try {
    const stack = { config, client };
    for (const s of chosen) save(s.name, await s.record(stack));
  } finally {
    worker.shutdown();
    await running;
    await closeWorker();
    await close();
  }
}

async function main(names: string[]): Promise<void> {
  const unknown = names.filter((n) => !scenarios.some((s) => s.name === n));
  if (unknown.length > 0) throw new Error(`no scenario ${unknown.join(', ')}`);
  const chosen = scenarios.filter((s) => names.length === 0 || names.includes(s.name));
  await recordOnStubs(chosen.filter((s) => s.on === 'stub'));
  await recordOnStack(chosen.filter((s) => s.on === 'stack'));
}

main(process.argv.slice(2)).catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
