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

/**
 * The q-quantile (0..1) of a Prometheus histogram in exposition text, as `histogram_quantile` estimates it:
 * linear within the bucket it falls in. Only series whose labels include `labels`; NaN when empty.
 */
export function histogramQuantile(
  text: string,
  name: string,
  q: number,
  labels: Record<string, string> = {},
): number {
  const buckets = new Map<number, number>();
  for (const line of text.split('\n')) {
    const m = /^(\w+)_bucket\{(.*)\} (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have: Record<string, string | undefined> = Object.fromEntries(
      [...m[2]!.matchAll(/(\w+)="([^"]*)"/g)].map((l): [string, string] => [l[1]!, l[2]!]),
    );
    if (!Object.entries(labels).every(([k, v]) => have[k] === v)) continue;
    const le = have.le === '+Inf' ? Infinity : Number(have.le);
    buckets.set(le, (buckets.get(le) ?? 0) + Number(m[3]));
  }
  const sorted = [...buckets].sort(([a], [b]) => a - b);
  const total = sorted.at(-1)?.[1] ?? 0;
  if (total === 0) return NaN;
  const rank = q * total;
  let [prevLe, prevCount] = [0, 0];
  for (const [le, count] of sorted) {
    if (count >= rank) {
      if (le === Infinity) return prevLe; // beyond the last finite bucket: its bound is all we know
      return prevLe + ((le - prevLe) * (rank - prevCount)) / Math.max(1, count - prevCount);
    }
    [prevLe, prevCount] = [le, count];
  }
  return prevLe;
}
