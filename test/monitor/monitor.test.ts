import type { Client } from '@temporalio/client';
import { createAwsClients, type AwsClients } from '../../src/aws/clients';
import { connectClient } from '../../src/client/connect';
import { ensureMonitor, monitorStatus } from '../../src/client/monitor';
import { RegionControlClient } from '../../src/client/regionControl';
import type { AppConfig } from '../../src/config/schema';
import type { MonitorStatus } from '../../src/shared/monitor';
import { waitUntil } from '../../src/util/waitUntil';
import { testConfig, uniqueName } from '../helpers/env';
import { privateFaults, type PrivateFaults } from '../helpers/privateFaults';
import { ownTrafficZone } from '../helpers/region';
import { runWorker } from '../helpers/temporal';
import { webhookReceiver, type WebhookReceiver } from '../helpers/webhook';

jest.setTimeout(120_000);

/**
 * The monitor with real probes (canary PUTs and stats health checks) through a fault proxy of this test's own,
 * a region-control and hosted zone of its own, and a webhook receiver for the notifications it sends.
 */
describe('regionHealthMonitor on the real stack', () => {
  let f: PrivateFaults;
  let config: AppConfig;
  let aws: AwsClients;
  let client: Client;
  let closeClient: () => Promise<void>;
  let hook: WebhookReceiver;
  let control: RegionControlClient;
  let stopWorker: () => Promise<void>;

  beforeAll(async () => {
    f = await privateFaults(testConfig());
    hook = await webhookReceiver();
    const base = f.config;
    config = {
      ...base,
      aws: { ...base.aws, maxAttempts: 1, requestTimeoutMs: 1500 },
      temporal: { ...base.temporal, taskQueue: uniqueName('monitor') },
      regionControl: { ...base.regionControl, workflowId: uniqueName('region-control'), targetCacheMs: 300 },
      monitor: { ...base.monitor, workflowId: uniqueName('monitor') },
      notifications: { ...base.notifications, webhookUrl: hook.url },
    };
    aws = createAwsClients(testConfig());
    ({ client, close: closeClient } = await connectClient(config));
    const { traffic } = await ownTrafficZone(aws, config);
    control = new RegionControlClient(client, config, { traffic });
    await control.handle();
    stopWorker = await runWorker(config);
    await ensureMonitor(client, config, {
      policy: 'approve',
      downAfter: 3,
      upAfter: 2,
      intervalMs: 300,
      backlogThreshold: 1_000_000,
    });
  });
  afterAll(async () => {
    await client.workflow
      .getHandle(config.monitor.workflowId)
      .terminate('test finished')
      .catch(() => undefined);
    await client.workflow
      .getHandle(config.regionControl.workflowId)
      .terminate('test finished')
      .catch(() => undefined);
    await stopWorker();
    await closeClient();
    aws.destroy();
    await hook.close();
    await f.close();
  });

  const status = (): Promise<MonitorStatus> => monitorStatus(client, config);
  /** Waits until the monitor has done `n` more probe rounds. */
  async function rounds(n: number): Promise<MonitorStatus> {
    const from = (await status()).probes;
    let s: MonitorStatus | undefined;
    expect(await waitUntil(async () => (s = await status()).probes >= from + n, 30_000)).toBe(true);
    return s!;
  }
  const kinds = () =>
    hook.got.map((g) => /stormproof · ([a-z-]+) ·/.exec(g.body.text + JSON.stringify(g.body.blocks))?.[1]);

  it('does not flap: one failed probe changes nothing', async () => {
    await rounds(1);
    await f.proxy.setFault('s3-us-east-1', {
      mode: 'error',
      status: 503,
      format: 's3',
      methods: ['PUT'],
      count: 1,
    });
    const s = await rounds(4);
    const [listener] = await f.proxy.list();
    expect(listener!.counters.faulted).toBe(1);
    expect(s.health['us-east-1']).toMatchObject({ status: 'up' });
    expect(s.events).toEqual([]);
    expect((await control.state()).current).toBeUndefined();
    expect(hook.got).toHaveLength(0);
  });

  it('a real outage: declared down once, exactly one failover requested (awaiting approval), then up again', async () => {
    await f.proxy.setFault('s3-us-east-1', { mode: 'error', status: 503, format: 's3' });
    expect(await waitUntil(async () => (await status()).health['us-east-1']?.status === 'down', 30_000)).toBe(
      true,
    );
    let opId: string | undefined;
    expect(
      await waitUntil(async () => {
        const cur = (await control.state()).current;
        opId = cur?.id;
        return cur?.steps.find((st) => st.name === 'approval')?.state === 'running';
      }, 30_000),
    ).toBe(true);
    const op = (await control.state()).current!;
    expect(op.request).toMatchObject({
      region: 'us-east-1',
      to: 'us-west-2',
      operator: 'region-health-monitor',
    });

    // The outage goes on: more failed probes, still one operation and one alert of each kind.
    await rounds(5);
    const st = await control.state();
    expect([st.current?.id, ...st.history.map((h) => h.id)].filter(Boolean)).toEqual([opId]);
    // The monitor's alerts, and region-control's own for the operation it started.
    expect(kinds().sort()).toEqual(['approval-needed', 'failover-started', 'region-down']);
    expect(hook.got.find((g) => g.body.text.includes('stormproof approve'))?.body.text).toContain(opId);

    // The operator declines; S3 comes back; the monitor says so once.
    await control.abort(opId!, 'test-operator');
    await f.proxy.clearAll();
    expect(await waitUntil(async () => (await status()).health['us-east-1']?.status === 'up', 30_000)).toBe(
      true,
    );
    expect(await waitUntil(() => kinds().includes('region-up'), 10_000)).toBe(true);
    expect(kinds().filter((k) => k === 'region-down')).toHaveLength(1);
    expect(hook.got.find((g) => g.body.text.includes('aborted'))?.body.text).toMatch(
      /failover of us-east-1 .* aborted[\s\S]*aborted by test-operator/,
    );
    const events = (await status()).events.map((e) => e.what);
    expect(events.filter((w) => w.startsWith('down'))).toHaveLength(1);
    expect(events.filter((w) => w.startsWith('failover to us-west-2 requested'))).toHaveLength(1);
  });

  it('a failover refused at preflight is asked for again while the region stays down, and started once', async () => {
    // Only region-control's preflight canary in the target bucket fails: the monitor's own probes still pass.
    await f.proxy.setFault('s3-us-west-2', {
      mode: 'error',
      status: 503,
      format: 's3',
      pathRegex: `_stormproof/canary/${config.regionControl.workflowId}`,
    });
    await f.proxy.setFault('s3-us-east-1', { mode: 'error', status: 503, format: 's3' });
    let s: MonitorStatus | undefined;
    expect(await waitUntil(async () => (s = await status()).refused['us-east-1'] !== undefined, 30_000)).toBe(
      true,
    );
    expect(s!.refused['us-east-1']).toMatch(/preflight: bucket .* \(us-west-2\) is not writable/);
    // Asked again each round, said once: no operation starts while the preflight keeps failing.
    await rounds(4);
    const refusals = (await status()).events.filter((e) =>
      e.what.startsWith('failover to us-west-2 refused'),
    );
    expect(refusals).toHaveLength(1);
    expect((await control.state()).current).toBeUndefined();
    expect(kinds().filter((k) => k === 'failover-refused')).toHaveLength(1);

    await f.proxy.clear('s3-us-west-2');
    let opId: string | undefined;
    expect(
      await waitUntil(async () => {
        opId = (await control.state()).current?.id;
        return opId !== undefined;
      }, 30_000),
    ).toBe(true);
    const after = await rounds(3);
    expect(after.refused).toEqual({});
    expect(after.health['us-east-1']).toMatchObject({ status: 'down' });
    const st = await control.state();
    expect([st.current?.id, ...st.history.map((h) => h.id)].filter((id) => id === opId)).toHaveLength(1);
    expect(st.current?.id).toBe(opId);
    expect(
      after.events.filter((e) => e.what.startsWith('failover to us-west-2 requested')).at(-1)?.what,
    ).toContain(opId);

    await control.abort(opId!, 'test-operator');
    await f.proxy.clearAll();
  });
});
