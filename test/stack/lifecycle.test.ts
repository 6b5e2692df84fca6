import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { StackState } from '../../src/stack/stack';

const run = promisify(execFile);
const repo = join(__dirname, '..', '..');
const tsx = join(repo, 'node_modules', '.bin', 'tsx');

/** True while the process exists and has not exited (a zombie awaiting its reaper counts as gone). */
const alive = (pid: number): boolean => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
};

describe('stack command lifecycle (a second, private stack)', () => {
  // A state directory and ports of its own, so the test stack the other tests use is untouched. Every port
  // stays below the kernel's ephemeral range (32768+), where outgoing connections could hold it.
  const stateDir = mkdtempSync(join(tmpdir(), 'stormproof-stack-'));
  const env = { ...process.env, STORMPROOF_STATE_DIR: stateDir, STORMPROOF_PORT_OFFSET: '22000' };
  const stack = (...args: string[]) =>
    run(tsx, [join(repo, 'src/stack/cli.ts'), ...args], { env, cwd: repo });

  afterAll(async () => {
    await stack('down', '--profile', 'test').catch(() => undefined);
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('up starts everything once, status shows the endpoints, down leaves no process behind', async () => {
    const up = await stack('up', '--profile', 'test');
    expect(up.stdout).toContain('stack "test" is up');
    expect(up.stdout).toMatch(/temporal-ui\s+http:\/\/127\.0\.0\.1:30233/);
    const state = JSON.parse(readFileSync(join(stateDir, 'test', 'state.json'), 'utf8')) as StackState;
    const pids = state.processes.map((p) => p.pid);
    expect(state.processes.map((p) => p.name)).toEqual([
      'temporal',
      'codec',
      'moto',
      'versitygw-us-east-1',
      'versitygw-us-west-2',
      'fault-proxy',
      'stats-us-east-1',
      'stats-us-west-2',
    ]);
    expect(pids.every(alive)).toBe(true);

    const again = await stack('up', '--profile', 'test');
    expect(again.stdout).toContain('already running');
    const stateAfter = JSON.parse(readFileSync(join(stateDir, 'test', 'state.json'), 'utf8')) as StackState;
    expect(stateAfter.processes.map((p) => p.pid)).toEqual(pids);

    const status = await stack('status', '--profile', 'test');
    expect(status.stdout).toMatch(/temporal-ui\s+http:\/\/127\.0\.0\.1:30233/);
    expect(status.stdout).toMatch(/stats us-west-2 \(via proxy\)\s+http:\/\/127\.0\.0\.1:26622/);

    // The fault proxy is switched from the command line, one listener or a whole service at a time.
    const set = await stack('fault', 'set', 'error', 's3-us-east-1', '--status', '500', '--profile', 'test');
    expect(set.stdout).toMatch(/s3-us-east-1\s+error \{"status":500,"format":"s3"/);
    const hang = await stack('fault', 'set', 'hang', 'stats', '--methods', 'POST', '--profile', 'test');
    expect(hang.stdout).toMatch(/stats-us-east-1\s+hang/);
    expect(hang.stdout).toMatch(/stats-us-west-2\s+hang/);
    await expect(stack('fault', 'set', 'reset', 'sqs', '--profile', 'test')).rejects.toMatchObject({
      stderr: expect.stringContaining('no listener "sqs"'),
    });
    const cleared = await stack('fault', 'clear', '--profile', 'test');
    expect(cleared.stdout).not.toMatch(/ (error|hang) /);
    expect(cleared.stdout.match(/ pass /g)).toHaveLength(5);

    const down = await stack('down', '--profile', 'test');
    expect(down.stdout).toContain(
      'stopped temporal, codec, moto, versitygw-us-east-1, versitygw-us-west-2, fault-proxy, stats-us-east-1, stats-us-west-2',
    );
    expect(pids.filter(alive)).toEqual([]);
    await expect(stack('status', '--profile', 'test')).rejects.toMatchObject({ code: 1 });
  }, 180_000);
});
