import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitUntil } from '../util/waitUntil';

/** What the stack started, recorded so that `down` stops exactly these processes and nothing else. */
export interface StartedProcess {
  name: string;
  pid: number;
  /** /proc/<pid>/cmdline at start: guards against signalling an unrelated process that reused the pid. */
  cmdline: string;
  log: string;
}

/** Starts a process in its own process group, detached from this one, with output appended to a log file. */
export function startDetached(
  name: string,
  command: string,
  args: string[],
  logDir: string,
  env: NodeJS.ProcessEnv = {},
): StartedProcess {
  const log = join(logDir, `${name}.log`);
  const fd = openSync(log, 'a');
  try {
    const child = spawn(command, args, {
      detached: true,
      stdio: ['ignore', fd, fd],
      env: { ...process.env, ...env },
    });
    if (child.pid === undefined) throw new Error(`could not start ${name}: ${command}`);
    child.unref();
    return { name, pid: child.pid, cmdline: [command, ...args].join('\0'), log };
  } finally {
    closeSync(fd);
  }
}

/** True while the recorded process is alive and still the one we started. */
export function isRunning(p: StartedProcess): boolean {
  const procFile = `/proc/${p.pid}/cmdline`;
  if (!existsSync(procFile)) return false;
  try {
    const cmdline = readFileSync(procFile, 'utf8').replace(/\0$/, '');
    // A zombie has an empty cmdline: it has exited and only awaits reaping.
    return cmdline.length > 0 && sameCommand(cmdline, p.cmdline);
  } catch {
    return false;
  }
}

/** A script's interpreter puts itself first (python3 /venv/bin/moto_server …), so compare the arguments. */
function sameCommand(actual: string, recorded: string): boolean {
  const args = recorded.split('\0').slice(1).join('\0');
  return actual === recorded || actual.endsWith(`\0${args}`);
}

/** SIGTERM to the process group, then SIGKILL after the grace period; resolves once it is gone. */
export async function stopProcess(p: StartedProcess, graceMs = 10_000): Promise<void> {
  if (!isRunning(p)) return;
  signalGroup(p.pid, 'SIGTERM');
  if (await waitUntil(() => !isRunning(p), graceMs)) return;
  signalGroup(p.pid, 'SIGKILL');
  if (!(await waitUntil(() => !isRunning(p), 5000))) throw new Error(`${p.name} (pid ${p.pid}) did not stop`);
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}
