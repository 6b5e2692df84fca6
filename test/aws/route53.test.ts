import {
  ChangeResourceRecordSetsCommand,
  GetChangeCommand,
  ListResourceRecordSetsCommand,
  type ResourceRecordSet,
} from '@aws-sdk/client-route-53';
import { createAwsClients, type AwsClients } from '../../src/aws/clients';
import { ensureHostedZone } from '../../src/stack/seed';
import { testConfig, uniqueName } from '../helpers/env';

const weighted = (name: string, region: string, weight: number): ResourceRecordSet => ({
  Name: name,
  Type: 'CNAME',
  SetIdentifier: region,
  Weight: weight,
  TTL: 60,
  ResourceRecords: [{ Value: `ingest.${region}.example.test` }],
});

describe('Route 53 on the local stack (moto over HTTP)', () => {
  let aws: AwsClients;
  beforeAll(() => {
    aws = createAwsClients(testConfig());
  });
  afterAll(() => aws.destroy());

  it('UPSERTs weighted records in one batch, reports the change, lists the records', async () => {
    const zone = `${uniqueName('zone')}.test`;
    const zoneId = await ensureHostedZone(aws, zone);
    expect(await ensureHostedZone(aws, zone)).toBe(zoneId); // idempotent: found, not created again
    const name = `track.${zone}.`;
    const upsert = async (weights: [string, number][]) =>
      aws.route53.send(
        new ChangeResourceRecordSetsCommand({
          HostedZoneId: zoneId,
          ChangeBatch: {
            Changes: weights.map(([r, w]) => ({ Action: 'UPSERT', ResourceRecordSet: weighted(name, r, w) })),
          },
        }),
      );
    await upsert([
      ['us-east-1', 100],
      ['us-west-2', 100],
    ]);
    const shifted = await upsert([
      ['us-east-1', 0],
      ['us-west-2', 200],
    ]);
    const changeId = shifted.ChangeInfo!.Id!;
    const change = await aws.route53.send(new GetChangeCommand({ Id: changeId }));
    expect(['PENDING', 'INSYNC']).toContain(change.ChangeInfo!.Status);

    const listed = await aws.route53.send(new ListResourceRecordSetsCommand({ HostedZoneId: zoneId }));
    const records = (listed.ResourceRecordSets ?? []).filter((r) => r.Name === name);
    expect(records.map((r) => [r.SetIdentifier, r.Weight]).sort()).toEqual([
      ['us-east-1', 0],
      ['us-west-2', 200],
    ]);
  });
});
