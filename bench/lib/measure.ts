import { readFileSync, readdirSync } from 'node:fs';
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

/** Every pid in a process's tree (the stack starts some services through a tsx wrapper). */
export function treeOf(pid: number): number[] {
  const out = [pid];
  try {
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      const children = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim();
      for (const c of children ? children.split(' ') : []) out.push(...treeOf(Number(c)));
    }
  } catch {
    // exited meanwhile
  }
  return out;
}

/**
 * CPU seconds (user + system) a process and, with `tree`, its descendants have used so far, the running ones
 * included (a wrapper's reaped-children counters see only those that exited); undefined once it has exited.
 * Compared before and after a run, it shows which process the load went to.
 */
export function cpuSeconds(pid: number, tree = true): number | undefined {
  const own = (p: number): number | undefined => {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // fields 14-15 of proc(5): utime, stime, in clock ticks (100 per second on Linux)
      return (Number(f[11]) + Number(f[12])) / 100;
    } catch {
      return undefined;
    }
  };
  const root = own(pid);
  if (root === undefined || !tree) return root;
  return treeOf(pid)
    .slice(1)
    .reduce((n, p) => n + (own(p) ?? 0), root);
}

/** The p-th percentile (0-100) of values, nearest-rank. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
