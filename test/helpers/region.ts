import { ChangeResourceRecordSetsCommand, ListResourceRecordSetsCommand } from '@aws-sdk/client-route-53';
import type { AwsClients } from '../../src/aws/clients';
import type { AppConfig } from '../../src/config/schema';
import type { RegionControlClient } from '../../src/client/regionControl';
import type {
  OperationRecord,
  OperationRequest,
  StepName,
  StepState,
  TrafficConfig,
  WeightedRecord,
} from '../../src/shared/regionControl';
import { waitUntil } from '../../src/util/waitUntil';
import { DEFAULT_WEIGHT, ensureHostedZone } from '../../src/stack/seed';
import { uniqueName } from './env';

/** The failover most tests request: us-east-1 to us-west-2, approved, by alice. */
export const failoverRequest = (over: Partial<OperationRequest> = {}): OperationRequest => ({
  kind: 'failover',
  region: 'us-east-1',
  to: 'us-west-2',
  reason: 'test',
  operator: 'alice',
  mode: 'full',
  approved: true,
  ...over,
});

/** A full failover that moved traffic with caps on, its steps in order: all done, the cap hand-over last. */
export const FULL_FAILOVER_HANDED_OVER: [StepName, StepState][] = [
  ['preflight', 'done'],
  ['approval', 'skipped'],
  ['redirect-archive', 'done'],
  ['shift-traffic', 'done'],
  ['verify', 'done'],
  ['hand-over-caps', 'done'],
];

/**
 * A hosted zone of the test's own with the seeded shape (one weighted CNAME per region, equal weights), so a
 * test can shift traffic without touching the shared stack's records or another test's.
 */
export async function ownTrafficZone(
  aws: AwsClients,
  config: AppConfig,
): Promise<{ traffic: TrafficConfig; zoneId: string }> {
  const hostedZoneName = `${uniqueName('failover')}.test`;
  const recordName = `track.${hostedZoneName}.`;
  const zoneId = await ensureHostedZone(aws, hostedZoneName);
  await aws.route53.send(
    new ChangeResourceRecordSetsCommand({
      HostedZoneId: zoneId,
      ChangeBatch: {
        Changes: config.regions.map((r) => ({
          Action: 'UPSERT',
          ResourceRecordSet: {
            Name: recordName,
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
  return { traffic: { hostedZoneName, recordName }, zoneId };
}

/** Every record set of the zone exactly as ListResourceRecordSets answers it (moto answers in one page). */
export async function recordSets(aws: AwsClients, zoneId: string): Promise<string> {
  const listed = await aws.route53.send(new ListResourceRecordSetsCommand({ HostedZoneId: zoneId }));
  if (listed.IsTruncated) throw new Error(`zone ${zoneId} has more than one page of records`);
  return JSON.stringify(listed.ResourceRecordSets);
}

/** The zone's weighted records, as region → weight, read straight from moto. */
export async function weights(aws: AwsClients, zoneId: string): Promise<Record<string, number>> {
  const listed = await aws.route53.send(new ListResourceRecordSetsCommand({ HostedZoneId: zoneId }));
  return Object.fromEntries(
    (listed.ResourceRecordSets ?? [])
      .filter((r) => r.SetIdentifier !== undefined)
      .map((r) => [r.SetIdentifier!, r.Weight!]),
  );
}

export const recordsOf = (records: WeightedRecord[]): Record<string, number> =>
  Object.fromEntries(records.map((r) => [r.setIdentifier, r.weight]));

/** Waits (with a deadline) until the operation has finished, and answers its record. */
export async function finished(control: RegionControlClient, operationId: string, timeoutMs = 30_000) {
  let op: OperationRecord | undefined;
  const done = await waitUntil(
    async () => (op = await control.operation(operationId))?.outcome !== 'running',
    timeoutMs,
  );
  if (!done || !op) throw new Error(`operation ${operationId} still running after ${timeoutMs} ms`);
  return op;
}

/** Waits until a step of the running operation reaches a state. */
export async function stepReaches(
  control: RegionControlClient,
  operationId: string,
  step: StepName,
  state: StepState,
  timeoutMs = 20_000,
): Promise<void> {
  const ok = await waitUntil(
    async () => (await control.operation(operationId))?.steps.find((s) => s.name === step)?.state === state,
    timeoutMs,
  );
  if (!ok) throw new Error(`step ${step} of ${operationId} did not reach ${state} in ${timeoutMs} ms`);
}
