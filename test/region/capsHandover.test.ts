import type { Client } from '@temporalio/client';
import { createAwsClients, type AwsClients } from '../../src/aws/clients';
import { connectClient } from '../../src/client/connect';
import { CapEnforcer, type CapJudgement } from '../../src/client/capEnforcer';
import { CapsClient } from '../../src/client/caps';
import { CapLedgerClient } from '../../src/client/capLedgerClient';
import { RegionControlClient } from '../../src/client/regionControl';
import type { AppConfig } from '../../src/config/schema';
import { capLedgerId, type AllowanceGrant, type CapLedgerStatus } from '../../src/shared/capLedger';
import type { CapDefinition, StoredCap } from '../../src/shared/caps';
import type { TrackingEvent } from '../../src/shared/event';
import { waitUntil } from '../../src/util/waitUntil';
import { DAILY_CAP } from '../caps/world';
import { testConfig, uniqueName } from '../helpers/env';
import { failoverRequest, finished, ownTrafficZone, stepReaches, weights } from '../helpers/region';
import { runWorker } from '../helpers/temporal';

jest.setTimeout(240_000);

// An hour no other test archives in: counting a silent holder's spend reads it and finds nothing.
const HOURS = ['2020-01-01T00:00:00.000Z'];
const LEASE_MS = 4_000;

/**
 * Issue 15 item 4 on the real stack: a traffic failover of us-east-1 hands its cap allowance over. Holders
 * are driven through CapLedgerClient as an ingest would (renewing, giving back when told it is revoked).
 */
describe("the failover saga hands a failing region's cap allowance over", () => {
  let config: AppConfig;
  let client: Client;
  let close: () => Promise<void>;
  let stopWorker: () => Promise<void>;
  let aws: AwsClients;
  let control: RegionControlClient;
  let ledgers: CapLedgerClient;
  let zoneId: string;
  let cap: StoredCap;
  const loops: { stop: () => Promise<void> }[] = [];

  beforeAll(async () => {
    const base = testConfig();
    config = {
      ...base,
      temporal: { ...base.temporal, taskQueue: uniqueName('caps-handover') },
      caps: {
        ...base.caps,
        registryWorkflowId: uniqueName('cap-registry'),
        leaseMs: LEASE_MS,
        leaseMarginMs: 500,
        reclaimAfterMs: 1_000,
      },
      regionControl: { ...base.regionControl, workflowId: uniqueName('region-control'), targetCacheMs: 500 },
    };
    ({ client, close } = await connectClient(config));
    stopWorker = await runWorker(config);
    aws = createAwsClients(config);
    ledgers = new CapLedgerClient(client, config);
  });
  beforeEach(async () => {
    const zone = await ownTrafficZone(aws, config);
    zoneId = zone.zoneId;
    control = new RegionControlClient(client, config, { traffic: zone.traffic });
    const now = new Date().toISOString();
    cap = {
      ...DAILY_CAP,
      id: uniqueName('handover'),
      window: { kind: 'lifetime' },
      limit: 100,
      revision: 1,
      createdAt: now,
      updatedAt: now,
      updatedBy: 'test',
    };
  });
  afterEach(async () => {
    await Promise.all(loops.splice(0).map((l) => l.stop()));
    await client.workflow
      .getHandle(config.regionControl.workflowId)
      .terminate('next test')
      .catch(() => undefined);
    await client.workflow
      .getHandle(capLedgerId(cap.id, 'lifetime'))
      .terminate('test done')
      .catch(() => undefined);
  });
  afterAll(async () => {
    const ended = client?.workflow.list({
      query: `WorkflowType = 'capLedger' AND ExecutionStatus = 'Running' AND TaskQueue = '${config.temporal.taskQueue}'`,
    });
    for await (const l of ended ?? [])
      await client.workflow
        .getHandle(l.workflowId)
        .terminate('test done')
        .catch(() => undefined);
    await client?.workflow
      .getHandle(config.caps.registryWorkflowId)
      .terminate('test done')
      .catch(() => undefined);
    await stopWorker?.();
    aws?.destroy();
    await close?.();
  });

  const ask = (holder: string, spent: number, leaseMs = LEASE_MS): Promise<AllowanceGrant> =>
    ledgers.request({
      holder,
      region: holder.split('/')[0]!,
      cap,
      window: { key: 'lifetime', startMs: 0 },
      spent,
      wantGranted: 20,
      leaseMs,
      hours: HOURS,
    });
  /** A holder that answers: renews as an ingest does, and gives back at once when told it is revoked. */
  const renewing = (holder: string, spent: number): { answers: AllowanceGrant[] } => {
    const seen = { answers: [] as AllowanceGrant[] };
    let on = true;
    const run = (async () => {
      while (on) {
        const grant = await ask(holder, spent).catch(() => undefined);
        if (grant) seen.answers.push(grant);
        if (grant?.revoked) await ledgers.giveBack(cap.id, 'lifetime', holder, spent).catch(() => undefined);
        await new Promise((r) => setTimeout(r, (LEASE_MS - 500) / 3));
      }
    })();
    loops.push({ stop: () => ((on = false), run) });
    return seen;
  };
  const ledger = async (): Promise<CapLedgerStatus> => (await ledgers.status(cap.id, 'lifetime'))!;
  const holder = async (name: string) => (await ledger()).holders.find((h) => h.holder === name)!;

  it('the holder that answers gives back at once, the silent one is reclaimed after its lease, the other region keeps its grant', async () => {
    // The deployment has caps: its registry runs (a failover does not start one).
    await new CapsClient(client, config).handle();
    await ask('us-east-1/silent', 0);
    renewing('us-east-1/answers', 5);
    const other = renewing('us-west-2/other', 7);
    expect(await waitUntil(async () => (await ledger()).holders.length === 3, 20_000)).toBe(true);

    const op = await control.request(failoverRequest({ mode: 'traffic-only' }));
    const done = await finished(control, op.id, 120_000);
    expect(done.outcome).toBe('succeeded');
    expect(done.steps.map((s) => [s.name, s.state])).toEqual([
      ['preflight', 'done'],
      ['approval', 'skipped'],
      ['shift-traffic', 'done'],
      ['verify', 'done'],
      ['hand-over-caps', 'done'],
    ]);
    expect(done.steps.at(-1)!.detail).toBe(
      'us-east-1 revoked on 1 ledger(s): 15 given back by holders that answered, 20 reclaimed after a lease ended',
    );
    expect(await weights(aws, zoneId)).toEqual({ 'us-east-1': 0, 'us-west-2': 200 });

    const s = await ledger();
    expect(s.revoked).toEqual([
      expect.objectContaining({ region: 'us-east-1', operationId: op.id, returned: 15, reclaimed: 20 }),
    ]);
    expect(await holder('us-east-1/answers')).toMatchObject({ state: 'returned', granted: 5, spent: 5 });
    expect(await holder('us-east-1/silent')).toMatchObject({ state: 'reclaimed', granted: 0, spent: 0 });
    // The other region renews on as before, its grant untouched.
    const answersBefore = other.answers.length;
    expect(await waitUntil(() => Promise.resolve(other.answers.length > answersBefore + 1), 20_000)).toBe(
      true,
    );
    expect(other.answers.at(-1)).toMatchObject({ granted: 20 });
    expect(other.answers.at(-1)!.revoked).toBeUndefined();
    expect(await holder('us-west-2/other')).toMatchObject({ state: 'active', granted: 20 });
    // A revoked holder that asks again is granted nothing more.
    expect(await ask('us-east-1/answers', 5)).toMatchObject({ granted: 5, revoked: true });

    // A cap created after the failover: the registry recorded the revocation, so its ledger, started by an
    // ingest's first request, grants the failed region nothing and the other region as before.
    const registry = new CapsClient(client, config);
    expect(await registry.peekRevocations()).toEqual([{ region: 'us-east-1', operationId: op.id }]);
    const later: CapDefinition = {
      ...DAILY_CAP,
      id: uniqueName('later'),
      scope: { offerId: uniqueName('offer') },
      window: { kind: 'lifetime' },
    };
    await registry.create(later, 'test');
    const judged = async (region: string): Promise<CapJudgement | undefined> => {
      const enforcer = new CapEnforcer(client, config, { region });
      await enforcer.start();
      const event: TrackingEvent = {
        id: uniqueName('ev'),
        type: 'conversion',
        timestamp: new Date().toISOString(),
        region,
        offerId: later.scope.offerId,
        affiliateId: 'aff-1',
        attributes: {},
      };
      const [judgement] = await enforcer.judge([event]);
      await enforcer.close();
      return judgement;
    };
    expect(await judged('us-east-1')).toMatchObject({ capStatus: 'exceeded', capId: later.id });
    expect(await judged('us-west-2')).toMatchObject({ capStatus: 'within', capId: later.id });
    expect((await ledgers.status(later.id, 'lifetime'))?.revoked).toEqual([
      expect.objectContaining({ region: 'us-east-1', operationId: op.id }),
    ]);
  });

  it('an abort during the hand-over restores the region: its holder is granted again, and traffic is back', async () => {
    // A lease of a minute: the step waits for it when the abort comes.
    await ask('us-east-1/long-lease', 0, 60_000);
    const op = await control.request(failoverRequest({ mode: 'traffic-only' }));
    await stepReaches(control, op.id, 'hand-over-caps', 'running', 60_000);
    expect(await waitUntil(async () => (await ledger()).revoked?.[0]?.operationId === op.id, 30_000)).toBe(
      true,
    );
    expect(await ask('us-east-1/other', 0)).toMatchObject({ granted: 0, revoked: true });
    await control.abort(op.id, 'erin');
    const done = await finished(control, op.id, 120_000);
    expect(done.outcome).toBe('aborted');
    expect(done.steps.map((s) => [s.name, s.state])).toEqual([
      ['preflight', 'done'],
      ['approval', 'skipped'],
      ['shift-traffic', 'compensated'],
      ['verify', 'done'],
      ['hand-over-caps', 'compensated'],
    ]);
    expect((await ledger()).revoked).toEqual([]);
    expect(await new CapsClient(client, config).peekRevocations()).toEqual([]);
    const again = await ask('us-east-1/other', 0);
    expect(again.granted).toBe(20);
    expect(again.revoked).toBeUndefined();
    expect(await weights(aws, zoneId)).toEqual({ 'us-east-1': 100, 'us-west-2': 100 });
  });
});
