import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AppConfig } from '../../src/config/schema';
import { WORKER_NODE_FLAGS, startNodeProcess } from '../../src/stack/nodeProcess';
import { waitUntil } from '../../src/util/waitUntil';

/**
 * A configuration file for a worker process of a test's own (to SIGKILL it): without metrics listeners, since
 * the stack's fixed metrics ports would clash with another test's worker process.
 */
export function workerConfigFile(config: AppConfig): string {
  const path = join(mkdtempSync(join(tmpdir(), 'stormproof-worker-')), 'config.json');
  writeFileSync(path, JSON.stringify({ ...config, metrics: undefined, log: { level: 'info' } }));
  return path;
}

/** Starts `src/worker.ts` as a process of its own and resolves once it says it is connected. */
export async function startWorkerProcess(
  configPath: string,
): Promise<{ child: ChildProcess; output: () => string }> {
  const child = startNodeProcess(
    'src/worker.ts',
    { STORMPROOF_CONFIG: configPath },
    undefined,
    WORKER_NODE_FLAGS,
  );
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const ready = await waitUntil(() => output.includes('worker connected') || child.exitCode !== null, 60_000);
  if (!ready || child.exitCode !== null) throw new Error(`worker did not start:\n${output}`);
  return { child, output: () => output };
}
