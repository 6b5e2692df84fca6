import {
  ChangeResourceRecordSetsCommand,
  CreateHostedZoneCommand,
  ListHostedZonesByNameCommand,
} from '@aws-sdk/client-route-53';
import { CreateBucketCommand, type BucketLocationConstraint } from '@aws-sdk/client-s3';
import type { AwsClients } from '../aws/clients';
import type { AppConfig } from '../config/schema';

/** Equal weights: with no outage every region takes its own share of tracking traffic. */
export const DEFAULT_WEIGHT = 100;

/**
 * Creates the embedded default world, idempotently: every archive bucket in its region, the hosted zone, and
 * one weighted record per region for the tracking hostname.
 */
export async function seedWorld(config: AppConfig, aws: AwsClients): Promise<{ hostedZoneId: string }> {
  for (const target of config.regions.flatMap((r) => r.archive)) {
    await ensureBucket(aws, target.bucket, target.region);
  }
  const hostedZoneId = await ensureHostedZone(aws, config.route53.hostedZoneName);
  await aws.route53.send(
    new ChangeResourceRecordSetsCommand({
      HostedZoneId: hostedZoneId,
      ChangeBatch: {
        Comment: 'stormproof seed: one weighted record per region',
        Changes: config.regions.map((r) => ({
          Action: 'UPSERT',
          ResourceRecordSet: {
            Name: config.route53.recordName,
            Type: 'CNAME',
            SetIdentifier: r.name,
            Weight: DEFAULT_WEIGHT,
            TTL: config.route53.ttl,
            ResourceRecords: [{ Value: r.trackingTarget }],
          },
        })),
      },
    }),
  );
  return { hostedZoneId };
}

export async function ensureBucket(aws: AwsClients, bucket: string, region: string): Promise<void> {
  try {
    await aws.s3(region).send(
      new CreateBucketCommand({
        Bucket: bucket,
        // us-east-1 is the one region that must not be named as a location constraint
        CreateBucketConfiguration:
          region === 'us-east-1' ? undefined : { LocationConstraint: region as BucketLocationConstraint },
      }),
    );
  } catch (err) {
    if ((err as Error).name !== 'BucketAlreadyOwnedByYou') throw err;
  }
}

export async function ensureHostedZone(aws: AwsClients, zoneName: string): Promise<string> {
  const fqdn = zoneName.endsWith('.') ? zoneName : `${zoneName}.`;
  const listed = await aws.route53.send(new ListHostedZonesByNameCommand({ DNSName: fqdn, MaxItems: 1 }));
  const existing = listed.HostedZones?.find((z) => z.Name === fqdn);
  if (existing?.Id) return existing.Id.replace('/hostedzone/', '');
  const created = await aws.route53.send(
    new CreateHostedZoneCommand({ Name: fqdn, CallerReference: `stormproof-${fqdn}` }),
  );
  const id = created.HostedZone?.Id;
  if (!id) throw new Error(`Route 53 created zone ${fqdn} but returned no id`);
  return id.replace('/hostedzone/', '');
}
