import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { temporalDevServerArgs } from '../../src/stack/stack';
import { temporalServes } from '../../src/stack/readiness';
import { toolPaths } from '../../src/stack/tools';
import { waitUntil } from '../../src/util/waitUntil';
import { unusedPort } from './ports';

export interface PrivateTemporal {
  /** host:port of its frontend; the same across restarts. */
  address: string;
  /** Its output so far (for a failure message). */
  output(): string;
  /** SIGKILL: no graceful shutdown, in-flight calls are cut. Resolves once the process has exited. */
  kill(): Promise<void>;
  /** Whether its process is up. */
  running(): boolean;
  /** Starts it again on the same port (and the same database file) and waits until it serves. */
  restart(): Promise<void>;
  /** Stops it (if running) and removes its directory. */
  close(): Promise<void>;
}

/**
 * A Temporal dev server of this test's own (the stack's pinned CLI binary), on free ports, with the project's
 * search attributes, so a test can kill and restart Temporal without touching the shared test stack. Its
 * state lives in a SQLite file in a temporary directory: workflows started before a kill are still there
 * after the restart (a real cluster's persistence outlives a frontend crash, too).
 */
export async function privateTemporal(): Promise<PrivateTemporal> {
  const [port, uiPort, httpPort, metricsPort] = await Promise.all([0, 1, 2, 3].map(() => unusedPort()));
  const dir = mkdtempSync(join(tmpdir(), 'stormproof-temporal-'));
  const address = `127.0.0.1:${port}`;
  const args = temporalDevServerArgs({
    port: port!,
    uiPort: uiPort!,
    httpPort: httpPort!,
    metricsPort: metricsPort!,
    logLevel: 'error',
    extra: ['--headless'],
    dbFile: join(dir, 'temporal.sqlite'),
  });
  let output = '';
  let child: ChildProcess | undefined;

  const isRunning = (): boolean => !!child && child.exitCode === null && child.signalCode === null;
  const start = async (): Promise<void> => {
    // A second server on the port would exit at once while the first still answers the readiness check.
    if (isRunning()) throw new Error('the private Temporal dev server is already running');
    const c = spawn(toolPaths().temporal, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child = c;
    c.stdout.on('data', (d: Buffer) => (output += d.toString()));
    c.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const serves = temporalServes(address, 'default');
    const up = await waitUntil(async () => c.exitCode !== null || (await serves()), 90_000, 250);
    if (!up || c.exitCode !== null)
      throw new Error(`the private Temporal dev server did not start:\n${output.slice(-3000)}`);
  };
  const stop = async (signal: NodeJS.Signals): Promise<void> => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = once(c, 'exit');
    c.kill(signal);
    await exited;
  };

  await start();
  return {
    address,
    output: () => output,
    kill: () => stop('SIGKILL'),
    running: isRunning,
    restart: start,
    async close() {
      const c = child;
      if (c && c.exitCode === null && c.signalCode === null) {
        const exited = once(c, 'exit');
        c.kill('SIGTERM');
        if (!(await waitUntil(() => c.exitCode !== null || c.signalCode !== null, 15_000))) c.kill('SIGKILL');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
