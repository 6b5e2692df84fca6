import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';

const REPO_ROOT = path.resolve(__dirname, '../..');
const READY_LINE = /^stats service listening on (http:\/\/\S+)$/;

export interface StatsServiceProcess {
  url: string;
  child: ChildProcess;
  /** Sends `signal` (default SIGKILL) unless the process already ended; resolves once it has exited. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * Runs main.ts as its own process (for tests that kill it, and benchmarks that measure it) and resolves
 * with its URL once it printed its ready line. Uses `node --import tsx` rather than the tsx binary, which
 * runs the script in a grandchild: a signal would hit the wrapper, orphan the server, and the wrapper's
 * pid would be the wrong one to measure.
 *
 * Only `args` configure it: STATS_* variables of the caller's environment are not passed on.
 */
export async function spawnStatsService(
  args: string[],
  readyWithinMs = 20_000,
): Promise<StatsServiceProcess> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', path.join('src', 'stats-service', 'main.ts'), ...args],
    {
      cwd: REPO_ROOT,
      env: Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('STATS_'))),
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (signal: NodeJS.Signals = 'SIGKILL'): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited;
  };
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const lines = createInterface({ input: child.stdout });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`stats service not ready within ${readyWithinMs} ms: ${stderr}`)),
        readyWithinMs,
      );
      lines.on('line', (line) => {
        const ready = READY_LINE.exec(line)?.[1];
        if (ready) {
          clearTimeout(timer);
          resolve(ready);
        }
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`stats service exited (${code ?? signal}) before it was ready: ${stderr}`));
      });
    });
    // Keep draining its output so a chatty log level can never block the child on a full pipe.
    lines.removeAllListeners('line');
    return { url, child, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
