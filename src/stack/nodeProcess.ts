import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { repoRoot } from './paths';
import { waitUntil } from '../util/waitUntil';

/**
 * V8 flags the worker runs with, wherever it runs (scripts/node.sh reads them for `npm run worker`). Without
 * a cap V8 lets the old generation grow towards a quarter of the machine's memory before collecting hard: at 20k
 * events/s the worker's RSS reached 532 MiB with about 100 MiB live; capped, it stays near 390 MiB at the
 * same throughput (docs/benchmarks.md). Semi-spaces of 8 MiB (V8's default here is 16): the worker allocates
 * little since the fast path, and its peak RSS fell from 244-252 to 226 MiB (314 against 341-350 with 194 cap
 * ledgers cached) at the same CPU.
 */
export const WORKER_NODE_FLAGS = ['--max-old-space-size=256', '--max-semi-space-size=8'];

/**
 * V8 flags the ingest runs with, wherever it runs (scripts/node.sh reads them for `npm run ingest`). Its
 * parsed events live a batch's linger and hand-over (~50-300 ms); the old generation, capped at 192 MiB, stays near
 * what is live. Semi-spaces of 16 MiB rather than 32 (V8 rounds 24 up): peak RSS at saturation 205-210
 * against 244-247 MiB, for about a tenth more CPU per event in GC (docs/benchmarks.md); uncapped, V8 let it
 * grow past 320 MiB. The ingest refuses new requests (503) at 3/4 of this heap.
 */
export const INGEST_NODE_FLAGS = ['--max-old-space-size=192', '--max-semi-space-size=16'];

/**
 * Runs a TypeScript entry point as one node process (not a tsx wrapper plus a child), so its pid is the
 * process whose memory we report. `root` is the checkout it runs from (a benchmark runs an older one).
 */
export function startNodeProcess(
  entry: string,
  env: NodeJS.ProcessEnv,
  logTo?: NodeJS.WritableStream,
  nodeFlags: string[] = [],
  root: string = repoRoot,
): ChildProcess {
  const child = spawn(process.execPath, [...nodeFlags, '--import', 'tsx', join(root, entry)], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (logTo) {
    child.stdout?.pipe(logTo, { end: false });
    child.stderr?.pipe(logTo, { end: false });
  } else {
    child.stdout?.resume();
    child.stderr?.resume();
  }
  return child;
}

/** SIGTERM and wait for a graceful exit; SIGKILL after `graceMs`. */
export async function stopProcess(child: ChildProcess, graceMs = 30_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  if (!(await waitUntil(() => child.exitCode !== null || child.signalCode !== null, graceMs)))
    child.kill('SIGKILL');
  await exited;
}
