import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createAwsClients, type AwsClients } from '../../src/aws/clients';
import { connectClient } from '../../src/client/connect';
import type { AppConfig } from '../../src/config/schema';
import { testConfig, uniqueName } from '../helpers/env';
import { ownTrafficZone, weights } from '../helpers/region';
import { runWorker } from '../helpers/temporal';

const run = promisify(execFile);

/** The operator CLI as a subprocess against the test stack, with a config of its own (zone, queue, regionControl). */
describe('stormproof failover / failback / status CLI', () => {
  let config: AppConfig;
  let configPath: string;
  let aws: AwsClients;
  let zoneId: string;
  let stopWorker: () => Promise<void>;

  beforeAll(async () => {
    const base = testConfig();
    aws = createAwsClients(base);
    const zone = await ownTrafficZone(aws, base);
    zoneId = zone.zoneId;
    config = {
      ...base,
      temporal: { ...base.temporal, taskQueue: uniqueName('region-cli') },
      route53: { ...base.route53, ...zone.traffic },
      regionControl: { ...base.regionControl, workflowId: uniqueName('region-control'), targetCacheMs: 500 },
    };
    configPath = join(tmpdir(), `${uniqueName('stormproof-cli')}.json`);
    writeFileSync(configPath, JSON.stringify(config));
    stopWorker = await runWorker(config);
  });
  afterAll(async () => {
    const { client, close } = await connectClient(config);
    await client.workflow
      .getHandle(config.regionControl.workflowId)
      .terminate('test done')
      .catch(() => undefined);
    await close();
    await stopWorker();
    aws.destroy();
  });

  const cli = async (...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> => {
    try {
      const { stdout, stderr } = await run('npx', ['tsx', 'src/cli/main.ts', ...args], {
        env: { ...process.env, STORMPROOF_CONFIG: configPath, USER: 'cli-operator' },
        timeout: 45_000,
      });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };

  it('dry run prints the plan and changes nothing; a bad request is refused with exit code 4', async () => {
    const dry = await cli(
      'failover',
      '--from',
      'us-east-1',
      '--to',
      'us-west-2',
      '--reason',
      'drill',
      '--dry-run',
      '--json',
    );
    expect(dry.code).toBe(0);
    const plan = JSON.parse(dry.stdout) as {
      outcome: string;
      plan: { traffic: { to: { weight: number }[] } };
    };
    expect(plan.outcome).toBe('dry-run');
    expect(plan.plan.traffic.to.map((r) => r.weight)).toEqual([0, 200]);
    expect(await weights(aws, zoneId)).toEqual({ 'us-east-1': 100, 'us-west-2': 100 });

    const bad = await cli('failover', '--from', 'us-east-1', '--to', 'us-east-1', '--reason', 'oops');
    expect(bad.code).toBe(4);
    expect(bad.stderr).toMatch(/refused: .*same region/);
  }, 60_000);

  it('failover shows live steps and exits 0; status shows the recovery time; failback brings it home', async () => {
    const over = await cli(
      'failover',
      '--from',
      'us-east-1',
      '--to',
      'us-west-2',
      '--reason',
      'outage',
      '--approve',
    );
    expect(over.stderr).toBe('');
    expect(over.code).toBe(0);
    expect(over.stdout).toMatch(/shift-traffic\s+done/);
    expect(over.stdout).toMatch(/succeeded/);
    expect(await weights(aws, zoneId)).toEqual({ 'us-east-1': 0, 'us-west-2': 200 });

    const status = await cli('status');
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(
      /us-east-1: archives to stormproof-failover-us-east-1.*failed over to us-west-2/,
    );
    expect(status.stdout).toMatch(/recovery time \d+ ms/);
    expect(status.stdout).toMatch(/requested by cli-operator/);

    const back = await cli(
      'failback',
      '--from',
      'us-east-1',
      '--to',
      'us-west-2',
      '--reason',
      'recovered',
      '--approve',
      '--json',
    );
    expect(back.code).toBe(0);
    expect((JSON.parse(back.stdout) as { outcome: string }).outcome).toBe('succeeded');
    expect(await weights(aws, zoneId)).toEqual({ 'us-east-1': 100, 'us-west-2': 100 });
  }, 60_000);
});
