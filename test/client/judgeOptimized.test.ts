import { spawn } from 'node:child_process';
import path from 'node:path';

const REQUESTS = 400;

/** Runs judgeLoad.ts under V8's --trace-opt; its output and the functions whose optimization was aborted. */
async function traceJudging(): Promise<{ output: string; aborted: Map<string, number> }> {
  const child = spawn(
    process.execPath,
    ['--trace-opt', '--import', 'tsx', path.join(__dirname, 'judgeLoad.ts'), `${REQUESTS}`],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`judgeLoad.ts exited with ${code}: ${output.slice(-2000)}`);
  const aborted = new Map<string, number>();
  for (const m of output.matchAll(/\[aborted optimizing \S+ <JSFunction (\S+) /g))
    aborted.set(m[1]!, (aborted.get(m[1]!) ?? 0) + 1);
  return { output, aborted };
}

/**
 * The judging path keeps its optimized code (issue 15). A new window's allowance used to be built inside
 * `allowance()`, which judge inlines: V8 deprecated that object literal's map once its fields held timestamps,
 * and from then on every optimization of `allowance()` was aborted and tried again, for as long as the ingest
 * ran (about 50 times in this load, each a few ms of the compiler's threads).
 */
describe('judging 200,000 capped events', () => {
  it('optimizes the judging path once, not again and again', async () => {
    const { output, aborted } = await traceJudging();
    expect(output).toContain(`judged within ${REQUESTS * 500}`);
    // The trace is read: judge itself was optimized.
    expect(output).toMatch(/\[completed optimizing \S+ <JSFunction judge /);
    // A dependency that changes while compiling may abort one attempt; a loop aborts dozens.
    const repeated = [...aborted].filter(([, n]) => n > 3);
    expect(repeated).toEqual([]);
  });
});
