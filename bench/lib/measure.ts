import { readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';

/** What a result was measured on, for docs/benchmarks.md. */
export function machineInfo(): string {
  const cpu = cpus();
  return `${cpu[0]?.model ?? 'unknown CPU'}, ${cpu.length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${process.platform}`;
}

/** Peak resident memory of a process so far (VmHWM), in MiB; undefined once it has exited. */
export function peakRssMiB(pid: number): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = /VmHWM:\s+(\d+) kB/.exec(status)?.[1];
    return kb ? Math.round(Number(kb) / 1024) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * CPU seconds (user + system) a process and its reaped children have used so far; undefined once it has exited.
 * Compared before and after a run, it shows which process the load went to.
 */
export function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields 14-17 of proc(5): utime, stime, cutime, cstime, in clock ticks (100 per second on Linux)
    const ticks = [11, 12, 13, 14].reduce((n, i) => n + Number(f[i]), 0);
    return ticks / 100;
  } catch {
    return undefined;
  }
}

/** The p-th percentile (0-100) of values, nearest-rank. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
