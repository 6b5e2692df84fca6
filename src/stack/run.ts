import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

/**
 * Runs a long install step with its output forwarded line by line and a heartbeat while it is quiet, so a
 * cold build that takes minutes never looks hung. Rejects with the exit code and the last lines of output.
 */
export async function runStep(
  label: string,
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<void> {
  const started = Date.now();
  const tail: string[] = [];
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const onLine = (line: string): void => {
    tail.push(line);
    if (tail.length > 30) tail.shift();
    console.log(`  [${label}] ${line}`);
  };
  createInterface({ input: child.stdout }).on('line', onLine);
  createInterface({ input: child.stderr }).on('line', onLine);
  const heartbeat = setInterval(() => {
    console.log(`  [${label}] still working, ${Math.round((Date.now() - started) / 1000)} s so far`);
  }, 20_000);
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', resolve);
    });
    if (code !== 0) {
      throw new Error(`${label}: ${command} ${args.join(' ')} exited with ${code}\n${tail.join('\n')}`);
    }
  } finally {
    clearInterval(heartbeat);
  }
  console.log(`  [${label}] done in ${Math.round((Date.now() - started) / 1000)} s`);
}
