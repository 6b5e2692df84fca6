import {
  ChangeResourceRecordSetsCommand,
  GetChangeCommand,
  ListHostedZonesByNameCommand,
  ListResourceRecordSetsCommand,
} from '@aws-sdk/client-route-53';
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { AwsClients } from '../../aws/clients';
import type { TrafficConfig, WeightedRecord } from '../../shared/regionControl';
import { withHeartbeat } from '../heartbeat';

/** One UPSERT batch: the absolute weight of every record, and why (the change batch's comment). */
interface WeightChange {
  traffic: TrafficConfig;
  records: WeightedRecord[];
  comment: string;
}

const fqdn = (name: string): string => (name.endsWith('.') ? name : `${name}.`);

/**
 * Route 53 weighted-record activities. Every change is one UPSERT batch of absolute weights, so applying the
 * same batch twice leaves the same records (idempotent). Throttling and PriorRequestNotComplete are retried by
 * the SDK (they are throttling codes) and then by Temporal's backoff.
 */
export function createTrafficActivities(aws: AwsClients) {
  const signal = () => ({ abortSignal: Context.current().cancellationSignal });

  async function zoneId(zone: string): Promise<string> {
    const listed = await aws.route53.send(
      new ListHostedZonesByNameCommand({ DNSName: fqdn(zone), MaxItems: 1 }),
      signal(),
    );
    const found = listed.HostedZones?.find((z) => z.Name === fqdn(zone));
    if (!found?.Id)
      throw ApplicationFailure.create({
        type: 'UnknownZone',
        nonRetryable: true,
        message: `no hosted zone ${zone}`,
      });
    return found.Id.replace('/hostedzone/', '');
  }

  async function changeWeights(input: WeightChange): Promise<string> {
    const HostedZoneId = await zoneId(input.traffic.hostedZoneName);
    const res = await aws.route53.send(
      new ChangeResourceRecordSetsCommand({
        HostedZoneId,
        ChangeBatch: {
          Comment: input.comment.slice(0, 256),
          Changes: input.records.map((r) => ({
            Action: 'UPSERT',
            ResourceRecordSet: {
              Name: fqdn(input.traffic.recordName),
              Type: 'CNAME',
              SetIdentifier: r.setIdentifier,
              Weight: r.weight,
              TTL: r.ttl,
              ResourceRecords: [{ Value: r.value }],
            },
          })),
        },
      }),
      signal(),
    );
    const id = res.ChangeInfo?.Id;
    if (!id) throw new Error('Route 53 accepted the change batch but returned no change ID');
    return id;
  }

  return {
    /** The weighted records of the tracking name, one per region (SetIdentifier = region). */
    async readWeights(traffic: TrafficConfig): Promise<WeightedRecord[]> {
      const HostedZoneId = await zoneId(traffic.hostedZoneName);
      const out: WeightedRecord[] = [];
      let start: { name?: string; type?: string; id?: string } = { name: fqdn(traffic.recordName) };
      for (;;) {
        const page = await aws.route53.send(
          new ListResourceRecordSetsCommand({
            HostedZoneId,
            StartRecordName: start.name,
            StartRecordType: start.type as 'CNAME' | undefined,
            StartRecordIdentifier: start.id,
          }),
          signal(),
        );
        for (const r of page.ResourceRecordSets ?? []) {
          if (r.Name !== fqdn(traffic.recordName) || r.SetIdentifier === undefined || r.Weight === undefined)
            continue;
          out.push({
            setIdentifier: r.SetIdentifier,
            weight: r.Weight,
            value: r.ResourceRecords?.[0]?.Value ?? '',
            ttl: r.TTL ?? 60,
          });
        }
        if (!page.IsTruncated) break;
        start = { name: page.NextRecordName, type: page.NextRecordType, id: page.NextRecordIdentifier };
      }
      return out.sort((a, b) => a.setIdentifier.localeCompare(b.setIdentifier));
    },

    /**
     * Writes every record's weight in ONE change batch; answers the change ID to wait on. Heartbeats while the
     * request is out, so a cancelled saga step hears of it and the SDK drops the request (its abortSignal)
     * before the workflow starts the step's rollback.
     */
    applyWeights: (input: WeightChange): Promise<string> => withHeartbeat(() => changeWeights(input), 1000),

    /** Fails (retryably) while the change is PENDING, so Temporal's backoff paces the GetChange polls. */
    async waitInsync(changeId: string): Promise<void> {
      const res = await aws.route53.send(new GetChangeCommand({ Id: changeId }), signal());
      const status = res.ChangeInfo?.Status;
      if (status !== 'INSYNC')
        throw ApplicationFailure.create({
          type: 'ChangePending',
          message: `change ${changeId} is ${status}`,
        });
    },
  };
}
