import type { Client } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { createAwsClients, type AwsClients } from '../../src/aws/clients';
import { connectClient } from '../../src/client/connect';
import { EventSender } from '../../src/client/eventSender';
import { RegionControlClient } from '../../src/client/regionControl';
import { regionControlReader } from '../../src/client/regionControlReader';
import type { AppConfig } from '../../src/config/schema';
import { registerRoutingHealth } from '../../src/ingest/routingHealth';
import { readIngestCredentials } from '../../src/ingest/auth';
import { buildIngestServer } from '../../src/ingest/server';
import type { OperationRequest } from '../../src/shared/regionControl';
import { testConfig, uniqueName } from '../helpers/env';
import { finished, ownTrafficZone, weights } from '../helpers/region';
import { runWorker } from '../helpers/temporal';

/** The health-check traffic strategy: the saga drains a region's ingest routing-health, Route 53 is not called. */
describe('failover by draining the ingest routing-health endpoint', () => {
  let config: AppConfig;
  let client: Client;
  let closeClient: () => Promise<void>;
  let aws: AwsClients;
  let zoneId: string;
  let control: RegionControlClient;
  let ingests: FastifyInstance[];
  let stopWorker: () => Promise<void>;
  const urls: Record<string, string> = {};

  beforeAll(async () => {
    const base = testConfig();
    config = {
      ...base,
      temporal: { ...base.temporal, taskQueue: uniqueName('routing-health') },
      regionControl: { ...base.regionControl, workflowId: uniqueName('region-control'), targetCacheMs: 300 },
    };
    ({ client, close: closeClient } = await connectClient(config));
    // One ingest per region, each with its routing-health route, as each region would run it.
    const sender = new EventSender(client, config);
    ingests = await Promise.all(
      config.regions.map(async (r) => {
        const app = buildIngestServer({
          sender,
          bodyLimitBytes: 1_000_000,
          logLevel: 'warn',
          credentials: readIngestCredentials(config.ingestAuth!),
        });
        registerRoutingHealth(
          app,
          r.name,
          regionControlReader(config, client, () => undefined),
        );
        urls[r.name] = `${await app.listen({ host: '127.0.0.1', port: 0 })}/v1/routing-health`;
        return app;
      }),
    );
    config = { ...config, regions: config.regions.map((r) => ({ ...r, routingHealthUrl: urls[r.name] })) };
    aws = createAwsClients(config);
    const zone = await ownTrafficZone(aws, config);
    zoneId = zone.zoneId;
    control = new RegionControlClient(client, config, { traffic: zone.traffic });
    stopWorker = await runWorker(config);
  });
  afterAll(async () => {
    await client.workflow
      .getHandle(config.regionControl.workflowId)
      .terminate('test done')
      .catch(() => undefined);
    await stopWorker();
    await Promise.all(ingests.map((a) => a.close()));
    await closeClient();
    aws.destroy();
  });

  const status = async (region: string) =>
    (await fetch(urls[region]!, { signal: AbortSignal.timeout(5000) })).status;
  const req: OperationRequest = {
    kind: 'failover',
    region: 'us-east-1',
    to: 'us-west-2',
    reason: 'drain test',
    operator: 'alice',
    mode: 'full',
    trafficStrategy: 'health-check',
    approved: true,
  };

  it('drains the failing region (503) without touching Route 53; failback serves again', async () => {
    expect([await status('us-east-1'), await status('us-west-2')]).toEqual([200, 200]);
    const op = await control.request(req);
    expect(op.plan.drain).toEqual({ region: 'us-east-1', from: false, to: true });
    expect(op.plan.traffic).toBeUndefined();
    expect((await finished(control, op.id)).outcome).toBe('succeeded'); // verify saw the 503
    expect([await status('us-east-1'), await status('us-west-2')]).toEqual([503, 200]);
    expect(await weights(aws, zoneId)).toEqual({ 'us-east-1': 100, 'us-west-2': 100 });

    const back = await control.request({ ...req, kind: 'failback', trafficStrategy: undefined });
    expect((await finished(control, back.id)).outcome).toBe('succeeded');
    expect(await status('us-east-1')).toBe(200);
  });

  it('a drain the endpoint never shows fails verification and is undone', async () => {
    // us-east-1's health check misconfigured to the us-west-2 endpoint, which keeps serving: no fault needed.
    const traffic = (await control.state()).traffic;
    await client.workflow.getHandle(config.regionControl.workflowId).terminate('next test');
    const miswired = {
      ...config,
      regions: config.regions.map((r) =>
        r.name === 'us-east-1' ? { ...r, routingHealthUrl: urls['us-west-2'] } : r,
      ),
    };
    const control2 = new RegionControlClient(client, miswired, { traffic });
    const op = await control2.request({ ...req, mode: 'traffic-only' });
    const done = await finished(control2, op.id);
    expect(done.outcome).toBe('rolled-back');
    expect(done.error).toMatch(/routing health .* answers HTTP 200, expected 503 draining/);
    expect(done.steps.find((s) => s.name === 'shift-traffic')?.state).toBe('compensated');
    expect((await control2.state()).regions.find((r) => r.name === 'us-east-1')?.drained).toBe(false);
    expect(await status('us-east-1')).toBe(200);
  });
});
