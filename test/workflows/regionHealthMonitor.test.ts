import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Activities } from '../../src/activities';
import { monitorStatusQuery } from '../../src/shared/messages';
import type { MonitorSettings } from '../../src/shared/monitor';
import { regionHealthMonitor } from '../../src/workflows';
import { uniqueName } from '../helpers/env';
import { expectClockSkips, stubWorker, terminateWhenIdle, timeSkippingEnv } from '../helpers/timeSkipping';
import { monitorWorld } from './worlds';

const settings = (over: Partial<MonitorSettings> = {}): MonitorSettings => ({
  policy: 'approve',
  downAfter: 3,
  upAfter: 3,
  intervalMs: 10 * 60_000,
  backlogThreshold: 100,
  ...over,
});

describe('regionHealthMonitor with time skipping (stubbed probes)', () => {
  let env: TestWorkflowEnvironment;
  beforeAll(async () => {
    env = await timeSkippingEnv();
  });
  afterAll(() => env?.teardown());
  afterEach(() => expectClockSkips(env));

  /** Runs the monitor for `hours` of workflow time (probes every `intervalMs`), then terminates it. */
  async function monitorFor(activities: Partial<Activities>, s: MonitorSettings, hours: number) {
    const { worker, taskQueue } = await stubWorker(env, activities);
    return worker.runUntil(async () => {
      const handle = await env.client.workflow.start(regionHealthMonitor, {
        taskQueue,
        workflowId: uniqueName('monitor'),
        args: [{ settings: s }],
      });
      const wall = Date.now();
      await env.sleep(hours * 60 * 60_000);
      const wallMs = Date.now() - wall;
      const status = await handle.query(monitorStatusQuery);
      const { runId } = await handle.describe();
      await terminateWhenIdle(handle);
      return { status, wallMs, continued: runId !== handle.firstExecutionRunId };
    });
  }

  it('down and up with hysteresis over hours: one bad probe never acts, an outage acts once each way', async () => {
    // us-east-1 (probe rounds 10 min apart): one failed round (3); an outage of rounds 6–20 with one good round
    // (12) in it; healthy from round 21. us-west-2 stays healthy.
    const bad = new Set([3, ...Array.from({ length: 15 }, (_, i) => i + 6)].filter((r) => r !== 12));
    const { w, activities } = monitorWorld((region, round) => region === 'us-east-1' && bad.has(round));
    const { status, wallMs } = await monitorFor(activities, settings(), 5);
    expect(wallMs).toBeLessThan(30_000);
    expect(status.probes).toBeGreaterThanOrEqual(30);
    expect(status.health['us-east-1']).toMatchObject({ status: 'up' });
    expect(status.health['us-west-2']).toMatchObject({ status: 'up' });
    expect(w.told.map((n) => [n.kind, n.title])).toEqual([
      ['region-down', 'us-east-1 is down'],
      ['approval-needed', 'Approve the failover of us-east-1 to us-west-2?'],
      ['region-up', 'us-east-1 is healthy again'],
    ]);
    expect(w.asked).toHaveLength(1);
    expect(w.asked[0]).toMatchObject({ region: 'us-east-1', to: 'us-west-2', approved: false });
    // Down at the third failed round in a row (8), up at the third good one (23): 150 minutes apart.
    const events = status.events.filter((e) => e.region === 'us-east-1');
    expect(events.map((e) => e.what)).toEqual([
      expect.stringMatching(/^down: S3 stormproof-archive-us-east-1: SlowDown/),
      'failover to us-west-2 requested: operation op-1 running',
      'up again',
    ]);
    // (plus the activities' own real milliseconds: the test server skips only idle time)
    const downFor = Date.parse(events[2]!.at) - Date.parse(events[0]!.at);
    expect(downFor).toBeGreaterThanOrEqual(150 * 60_000);
    expect(downFor).toBeLessThan(160 * 60_000);
  });

  it('a failover refused at preflight is asked again each round, paged once, until it starts', async () => {
    const { w, activities } = monitorWorld((region) => region === 'us-east-1', 3);
    const { status } = await monitorFor(activities, settings({ policy: 'auto' }), 2);
    expect(w.asked.map((r) => r.approved)).toEqual([true, true, true, true]);
    expect(w.told.map((n) => n.kind)).toEqual(['region-down', 'failover-refused']);
    expect(status.refused).toEqual({});
    expect(status.events.map((e) => e.what)).toEqual([
      expect.stringMatching(/^down:/),
      'failover to us-west-2 refused, asking again: preflight: stats API unreachable',
      'failover to us-west-2 requested: operation op-1 running',
    ]);
  });

  it('continues as new after 200 probe rounds and keeps what it knew', async () => {
    const { w, activities } = monitorWorld((region, round) => region === 'us-east-1' && round >= 150);
    const { status, continued, wallMs } = await monitorFor(activities, settings({ intervalMs: 60_000 }), 3.5);
    expect(continued).toBe(true);
    expect(status.probes).toBeGreaterThan(200);
    // Down in the first run; the second run knows it and neither pages nor asks again.
    expect(status.health['us-east-1']).toMatchObject({ status: 'down' });
    expect(w.told.map((n) => n.kind)).toEqual(['region-down', 'approval-needed']);
    expect(wallMs).toBeLessThan(60_000);
  }, 90_000);
});
