import type { Client } from '@temporalio/client';
import { regionControlTargets } from '../../src/archive/targets';
import { connectClient } from '../../src/client/connect';
import { regionControlReader } from '../../src/client/regionControlReader';
import { RegionControlClient } from '../../src/client/regionControl';
import type { AppConfig } from '../../src/config/schema';
import { waitUntil } from '../../src/util/waitUntil';
import { testConfig, uniqueName } from '../helpers/env';
import { finished } from '../helpers/region';
import { runWorker } from '../helpers/temporal';

describe('archive targets read from regionControl', () => {
  let config: AppConfig;
  let client: Client;
  let closeClient: () => Promise<void>;
  let stopWorker: () => Promise<void>;
  beforeAll(async () => {
    const base = testConfig();
    config = {
      ...base,
      temporal: { ...base.temporal, taskQueue: uniqueName('region-targets') },
      regionControl: { ...base.regionControl, workflowId: uniqueName('region-control'), targetCacheMs: 500 },
    };
    ({ client, close: closeClient } = await connectClient(config));
    stopWorker = await runWorker(config);
  });
  afterAll(async () => {
    await client.workflow
      .getHandle(config.regionControl.workflowId)
      .terminate('test done')
      .catch(() => undefined);
    await stopWorker();
    await closeClient();
  });

  it('falls back to the configured order while regionControl is not running, then follows its state', async () => {
    const warnings: string[] = [];
    const source = regionControlTargets(
      config,
      regionControlReader(config, client, (m) => warnings.push(m)),
    );
    expect(await source.targetsFor('us-east-1')).toEqual(config.regions[0]!.archive);
    expect(warnings).toEqual([]); // not running is expected, not a warning

    const control = new RegionControlClient(client, config);
    const state = await control.state();
    expect(state.regions.map((r) => [r.name, r.archive])).toEqual(
      config.regions.map((r) => [r.name, r.archive]),
    );

    // An archive-only failover changes the order regionControl holds; the source sees it within its cache period.
    const op = await control.request({
      kind: 'failover',
      region: 'us-east-1',
      to: 'us-west-2',
      reason: 'targets test',
      operator: 'jest',
      mode: 'archive-only',
      approved: true,
    });
    const redirectedAt = Date.now();
    const redirected = await waitUntil(
      async () => (await source.targetsFor('us-east-1'))[0]!.bucket === 'stormproof-failover-us-east-1',
      10_000,
    );
    expect(redirected).toBe(true);
    // Redirect delay is bounded by the cache period plus a query (and the time the saga took to get there).
    expect(Date.now() - redirectedAt).toBeLessThan(5_000);
    expect(await source.targetsFor('us-west-2')).toEqual(config.regions[1]!.archive);

    expect((await finished(control, op.id)).outcome).toBe('succeeded');
  });

  // Last: it stops the worker, so regionControl cannot answer queries any more.
  it('answers a stale read from the last state at once, without waiting for the query that refreshes it', async () => {
    const warnings: string[] = [];
    const source = regionControlTargets(
      config,
      regionControlReader(config, client, (m) => warnings.push(m)),
    );
    // The first read has nothing to answer from: it waits for regionControl (redirected by the test above).
    const held = await source.targetsFor('us-east-1');
    expect(held[0]!.bucket).toBe('stormproof-failover-us-east-1');

    await stopWorker(); // queries now wait for a worker until queryTimeoutMs
    const expired = Date.now() + config.regionControl.targetCacheMs;
    expect(await waitUntil(() => Date.now() >= expired, 10_000)).toBe(true);
    const t = performance.now();
    expect(await source.targetsFor('us-east-1')).toEqual(held);
    // A read that waited for the query would take queryTimeoutMs (2 s); the refresh runs behind it.
    expect(performance.now() - t).toBeLessThan(config.regionControl.queryTimeoutMs / 2);
    expect(await waitUntil(() => warnings.some((w) => w.includes('did not answer')), 30_000)).toBe(true);
    expect(await source.targetsFor('us-east-1')).toEqual(held); // the last state is kept
  });
});
