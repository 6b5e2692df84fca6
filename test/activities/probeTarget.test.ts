import { MockActivityEnvironment } from '@temporalio/testing';
import { createProbeTarget } from '../../src/activities/archive/probeTarget';
import { createAwsClients, type AwsClients } from '../../src/aws/clients';
import type { TargetProbe } from '../../src/shared/regions';
import { testConfig, uniqueName } from '../helpers/env';

// The canary probe behind the failover preflight and the health monitor's S3 check.
describe('probeArchiveTarget against the stack S3', () => {
  let aws: AwsClients;
  beforeAll(() => {
    aws = createAwsClients(testConfig());
  });
  afterAll(() => aws.destroy());

  it('finds every seeded archive bucket writable', async () => {
    const probe = createProbeTarget(aws);
    const targets = testConfig().regions.flatMap((r) => r.archive);
    expect(targets).toHaveLength(4);
    for (const t of targets)
      expect(await new MockActivityEnvironment().run(probe, t)).toMatchObject({ ...t, writable: true });
  });

  it('reports a missing bucket as not writable, with the reason', async () => {
    const missing = { region: 'us-west-2', bucket: uniqueName('sp-missing') };
    const result: TargetProbe = await new MockActivityEnvironment().run(createProbeTarget(aws), missing);
    expect(result).toMatchObject({ ...missing, writable: false });
    expect(result.error).toMatch(/NoSuchBucket/);
  });
});
