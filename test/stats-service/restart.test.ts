import path from 'node:path';
import { spawnStatsService, type StatsServiceProcess } from '../../src/stats-service/spawn';
import { bucketsUrl, call, makeEvents, postEvents, tempDir } from './helpers';

const DAY = { granularity: 'minute' as const, from: '2024-03-01T00:00:00Z', to: '2024-03-02T00:00:00Z' };

describe('stats service process', () => {
  let tmp: ReturnType<typeof tempDir>;
  const children: StatsServiceProcess[] = [];
  beforeEach(() => {
    tmp = tempDir();
  });
  afterEach(async () => {
    await Promise.all(children.splice(0).map((c) => c.stop()));
    tmp.remove();
  });

  async function spawn(dbPath: string, ...args: string[]): Promise<StatsServiceProcess> {
    const child = await spawnStatsService(['--port', '0', '--db', dbPath, '--log-level', 'warn', ...args]);
    children.push(child);
    return child;
  }

  it('keeps every acknowledged event across a SIGKILL', async () => {
    const dbPath = path.join(tmp.dir, 'stats.sqlite');
    const first = await spawn(dbPath);
    const events = makeEvents(3000);
    for (let i = 0; i < events.length; i += 1000) {
      expect((await postEvents(first.url, events.slice(i, i + 1000))).body).toEqual({
        accepted: 1000,
        duplicates: 0,
      });
    }
    const before = (await call(bucketsUrl(first.url, DAY))).body;
    await first.stop('SIGKILL');
    expect(first.child.signalCode).toBe('SIGKILL');

    const second = await spawn(dbPath);
    expect((await call(bucketsUrl(second.url, DAY))).body).toEqual(before);
    expect((await postEvents(second.url, events.slice(0, 1000))).body).toEqual({
      accepted: 0,
      duplicates: 1000,
    });
  });

  it('exits cleanly on SIGTERM, and refuses to start without a database path', async () => {
    const child = await spawn(path.join(tmp.dir, 'stats.sqlite'), '--token', 't');
    expect((await call(`${child.url}/v1/health`)).status).toBe(200);
    await child.stop('SIGTERM');
    expect(child.child.exitCode).toBe(0);

    await expect(spawnStatsService(['--port', '0'])).rejects.toThrow(/exited \(2\)[\s\S]*usage/);
  });
});
