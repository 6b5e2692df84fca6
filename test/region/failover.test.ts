import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HeadObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { createAwsClients, type AwsClients } from '../../src/aws/clients';
import { RegionControlClient } from '../../src/client/regionControl';
import { readSeal, startSeal } from '../../src/client/seal';
import { sealedHourPrefix } from '../../src/archive/sealed';
import type { AppConfig } from '../../src/config/schema';
import { FaultProxyClient } from '../../src/fault-proxy';
import { hourOf } from '../../src/shared/batch';
import type { OperationRequest, TrafficConfig } from '../../src/shared/regionControl';
import { waitUntil } from '../../src/util/waitUntil';
import { testConfig, uniqueName } from '../helpers/env';
import { privateFaults, type PrivateFaults } from '../helpers/privateFaults';
import { makeEvents, ndjson, postEvents, settled, startPipeline, type Pipeline } from '../helpers/pipeline';
import {
  FULL_FAILOVER_HANDED_OVER,
  failoverRequest,
  finished,
  ownTrafficZone,
  recordSets,
  stepReaches,
  weights,
} from '../helpers/region';
import { archivedEvents } from '../helpers/verify';

// One file: these tests share one pipeline and the Route 53 fault listener, so they must not run concurrently.
// Each test has a hosted zone and a regionControl of its own; the shared stack's records are never touched.
describe('regionFailover saga on the real stack', () => {
  let p: Pipeline;
  let aws: AwsClients;
  let faults: FaultProxyClient;
  let control: RegionControlClient;
  let zoneId: string;
  let traffic: TrafficConfig;
  const base = (): OperationRequest => failoverRequest();
  const home = ['us-east-1', 'us-west-2'].map((r) => ({ r, w: 100 }));
  const equal = Object.fromEntries(home.map(({ r, w }) => [r, w]));
  const configuredOrder = () => p.config.regions.map((r) => [r.name, r.archive]);
  const orderNow = async () => (await control.state()).regions.map((r) => [r.name, r.archive]);

  let own: PrivateFaults;

  beforeAll(async () => {
    own = await privateFaults(testConfig());
    const cfg = own.config;
    p = await startPipeline({
      ...cfg,
      regionControl: { ...cfg.regionControl, workflowId: uniqueName('region-control'), targetCacheMs: 500 },
    });
    aws = createAwsClients(p.config);
    faults = own.proxy;
  });
  beforeEach(async () => {
    await p.client.workflow
      .getHandle(p.config.regionControl.workflowId)
      .terminate('next test')
      .catch(() => undefined);
    const zone = await ownTrafficZone(aws, p.config);
    zoneId = zone.zoneId;
    traffic = zone.traffic;
    control = new RegionControlClient(p.client, p.config, { traffic });
  });
  afterEach(async () => {
    await Promise.all(['route53', 's3-us-east-1', 's3-us-west-2'].map((l) => faults.clear(l)));
  });
  afterAll(async () => {
    await p.client.workflow
      .getHandle(p.config.regionControl.workflowId)
      .terminate('tests done')
      .catch(() => undefined);
    aws.destroy();
    await p.stop();
    await own.close();
  });

  const refusal = async (req: Partial<OperationRequest>): Promise<string> => {
    const err = await control.request({ ...base(), ...req }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(WorkflowUpdateFailedError);
    const e = err as WorkflowUpdateFailedError;
    return e.cause?.message ?? e.message;
  };

  it('full failover shifts the records exactly and archives new batches to the failover bucket; failback restores both and re-homes', async () => {
    expect(await weights(aws, zoneId)).toEqual(equal);
    const op = await control.request(base());
    expect(op.plan.traffic?.to.map((r) => [r.setIdentifier, r.weight])).toEqual([
      ['us-east-1', 0],
      ['us-west-2', 200],
    ]);
    const done = await finished(control, op.id);
    expect(done.outcome).toBe('succeeded');
    expect(done.steps.map((s) => [s.name, s.state])).toEqual(FULL_FAILOVER_HANDED_OVER);
    expect(done.recoveryMs).toBeGreaterThan(0);
    expect(await weights(aws, zoneId)).toEqual({ 'us-east-1': 0, 'us-west-2': 200 });

    // New batches of us-east-1 land in its failover bucket (in us-west-2).
    const events = makeEvents(200, 'us-east-1');
    const { status, body: answer } = await postEvents(p, ndjson(events));
    expect(status).toBe(200);
    await settled(p.client, answer);
    const hour = hourOf(events[0]!.timestamp);
    const away = await archivedEvents(aws, p.config, 'us-east-1', hour);
    expect(away.map((o) => o.bucket)).toEqual(answer.batches!.map(() => 'stormproof-failover-us-east-1'));

    // Failback: records and order as before the failover, and the objects copied home, checksum intact.
    const back = await control.request({ ...base(), kind: 'failback', operator: 'bob' });
    const backDone = await finished(control, back.id);
    expect(backDone.outcome).toBe('succeeded');
    // By default re-homing looks back an hour before the failover was requested, no further.
    expect(Date.parse(back.plan.rehome!.since)).toBe(Date.parse(done.requestedAt) - 60 * 60 * 1000);
    expect(await weights(aws, zoneId)).toEqual(equal);
    expect(await orderNow()).toEqual(configuredOrder());
    expect(backDone.rehomed!.copied + backDone.rehomed!.alreadyPresent).toBeGreaterThanOrEqual(away.length);
    for (const o of away) {
      const [src, dst] = await Promise.all([
        aws.s3('us-west-2').send(new HeadObjectCommand({ Bucket: o.bucket, Key: o.key })),
        aws
          .s3('us-east-1')
          .send(new HeadObjectCommand({ Bucket: 'stormproof-archive-us-east-1', Key: o.key })),
      ]);
      expect(dst.Metadata?.['stormproof-sha256']).toBe(src.Metadata?.['stormproof-sha256']);
      expect(dst.ContentLength).toBe(src.ContentLength);
    }
    const state = await control.state();
    expect(state.history.map((h) => [h.request.kind, h.request.operator, h.outcome])).toEqual([
      ['failback', 'bob', 'succeeded'],
      ['failover', 'alice', 'succeeded'],
    ]);
  });

  it('failback re-homes only the objects written since --rehome-since', async () => {
    expect((await finished(control, (await control.request(base())).id)).outcome).toBe('succeeded');
    const events = makeEvents(50, 'us-east-1');
    const { status, body: answer } = await postEvents(p, ndjson(events));
    expect(status).toBe(200);
    await settled(p.client, answer);
    const away = await archivedEvents(aws, p.config, 'us-east-1', hourOf(events[0]!.timestamp));
    expect(away.length).toBe(answer.batches!.length);

    // Later than every object above (S3 times have whole seconds): nothing of this test is copied home.
    const since = new Date(Date.now() + 1000).toISOString();
    const back = await control.request({ ...base(), kind: 'failback', rehomeSince: since });
    expect(back.plan.rehome!.since).toBe(since);
    expect((await finished(control, back.id)).outcome).toBe('succeeded');
    for (const o of away)
      await expect(
        aws
          .s3('us-east-1')
          .send(new HeadObjectCommand({ Bucket: 'stormproof-archive-us-east-1', Key: o.key })),
      ).rejects.toMatchObject({ $metadata: { httpStatusCode: 404 } });
  });

  it('failback re-homes an hour sealed in the failover bucket, and readers then find it at home', async () => {
    expect((await finished(control, (await control.request(base())).id)).outcome).toBe('succeeded');
    const events = makeEvents(120, 'us-east-1');
    const { status, body: answer } = await postEvents(p, ndjson(events));
    expect(status).toBe(200);
    await settled(p.client, answer);
    const hour = hourOf(events[0]!.timestamp);

    // The home bucket refuses the seal's writes, so the seal lands in the next bucket of the region.
    await faults.setFault('s3-us-east-1', {
      mode: 'error',
      status: 503,
      format: 's3',
      code: 'ServiceUnavailable',
      methods: ['PUT'],
      // Any seal of this file's private proxy (the key's '=' travel URL-encoded).
      pathRegex: 'stormproof-archive-us-east-1/sealed/',
    });
    const { handle } = await startSeal(p.client, p.config, { region: 'us-east-1', hour, partRows: 50 });
    const sealed = await handle.result();
    await faults.clear('s3-us-east-1');
    expect(sealed.summary?.bucket).toBe('stormproof-failover-us-east-1');
    const keysIn = async (region: string, bucket: string): Promise<string[]> => {
      const page = await aws
        .s3(region)
        .send(new ListObjectsV2Command({ Bucket: bucket, Prefix: sealedHourPrefix('us-east-1', hour) }));
      return (page.Contents ?? []).map((o) => o.Key!).sort();
    };
    const away = await keysIn('us-west-2', 'stormproof-failover-us-east-1');
    expect(away.filter((k) => k.endsWith('.parquet')).length).toBeGreaterThan(1);
    expect(await keysIn('us-east-1', 'stormproof-archive-us-east-1')).toEqual([]);

    const back = await control.request({ ...base(), kind: 'failback' });
    expect((await finished(control, back.id)).outcome).toBe('succeeded');
    expect(await keysIn('us-east-1', 'stormproof-archive-us-east-1')).toEqual(away);
    for (const key of away) {
      const [src, dst] = await Promise.all([
        aws
          .s3('us-west-2')
          .send(new HeadObjectCommand({ Bucket: 'stormproof-failover-us-east-1', Key: key })),
        aws.s3('us-east-1').send(new HeadObjectCommand({ Bucket: 'stormproof-archive-us-east-1', Key: key })),
      ]);
      expect(dst.Metadata?.['stormproof-sha256']).toBe(src.Metadata?.['stormproof-sha256']);
      expect(dst.ContentType).toBe(src.ContentType);
    }
    const found = await readSeal(p.config, { region: 'us-east-1', hour });
    expect(found).toMatchObject({ bucket: 'stormproof-archive-us-east-1', key: sealed.summary!.manifestKey });
    expect(found!.manifest.total.count).toBe(sealed.summary!.total.count);
  });

  it('refuses invalid requests with a reason before anything changes', async () => {
    expect(await refusal({ region: 'eu-west-9' })).toMatch(/unknown region eu-west-9/);
    expect(await refusal({ to: 'us-east-1' })).toMatch(/same region/);
    expect(await refusal({ reason: ' ' })).toMatch(/reason is required/);
    expect(await refusal({ kind: 'failback' })).toMatch(/us-east-1 is not failed over/);
    expect(await refusal({ rehomeSince: new Date().toISOString() })).toMatch(/only a failback re-homes/);
    expect(await refusal({ kind: 'failback', rehomeSince: 'yesterday' })).toMatch(
      /"yesterday" is not an ISO/,
    );

    await faults.setFault('s3-us-west-2', {
      mode: 'error',
      status: 403,
      format: 's3',
      code: 'AccessDenied',
      methods: ['PUT'],
      // Only this file's canary: other test files preflight the same bucket concurrently.
      pathRegex: `stormproof-failover-us-east-1/_stormproof/canary/${p.config.regionControl.workflowId}`,
    });
    expect(await refusal({})).toMatch(/preflight: bucket stormproof-failover-us-east-1 .* not writable/);
    await faults.clear('s3-us-west-2');

    expect(await weights(aws, zoneId)).toEqual(equal);
    const state = await control.state();
    expect(state.current).toBeUndefined();
    expect(state.history).toEqual([]);
    expect(await orderNow()).toEqual(configuredOrder());

    // The target's stats API down (a closed port: a fault on the shared stats listener would hit other files).
    await p.client.workflow.getHandle(p.config.regionControl.workflowId).terminate('next case');
    const deadStats = {
      ...p.config,
      regions: p.config.regions.map((r) =>
        r.name === 'us-west-2' ? { ...r, statsUrl: 'http://127.0.0.1:9' } : r,
      ),
    };
    control = new RegionControlClient(p.client, deadStats, { traffic });
    expect(await refusal({})).toMatch(/preflight: stats API .* unreachable/);
    expect(await weights(aws, zoneId)).toEqual(equal);
  });

  it('two operators at once: one operation runs, the other is refused; abort while waiting for approval changes nothing', async () => {
    const [a, b] = await Promise.allSettled([
      control.request({ ...base(), approved: false, operator: 'alice' }),
      control.request({ ...base(), approved: false, operator: 'bob' }),
    ]);
    const ran = [a, b].filter((r) => r.status === 'fulfilled');
    const refused = [a, b].filter((r) => r.status === 'rejected');
    expect(ran).toHaveLength(1);
    expect(refused).toHaveLength(1);
    const why = (refused[0]!.reason as WorkflowUpdateFailedError).cause?.message;
    expect(why).toMatch(/already running|being requested right now/);

    const op = ran[0]!.value;
    await stepReaches(control, op.id, 'approval', 'running');

    // The Temporal UI shows it: search attributes for the regions and phase, a step table in current details.
    const handle = p.client.workflow.getHandle(p.config.regionControl.workflowId);
    const desc = await handle.describe();
    const attr = (name: string) => desc.typedSearchAttributes.get({ name, type: 'KEYWORD' } as never);
    expect([attr('StormproofPhase'), attr('StormproofRegion'), attr('StormproofTargetRegion')]).toEqual([
      'approval',
      'us-east-1',
      'us-west-2',
    ]);
    expect(await desc.staticSummary()).toMatch(/Region control/);
    const meta = await handle.query<{ currentDetails: string }>('__temporal_workflow_metadata');
    expect(meta.currentDetails).toMatch(/\| approval \| running \|/);
    expect(meta.currentDetails).toContain(op.id);
    await control.abort(op.id, 'carol');
    const done = await finished(control, op.id);
    expect(done).toMatchObject({ outcome: 'aborted', abortedBy: 'carol' });
    expect(done.steps.filter((s) => s.state === 'done').map((s) => s.name)).toEqual(['preflight']);
    expect(await weights(aws, zoneId)).toEqual(equal);
    expect(await orderNow()).toEqual(configuredOrder());
  });

  it('approval: an approved operation runs; an unapproved one aborts at its timeout', async () => {
    const op = await control.request({ ...base(), approved: false });
    await stepReaches(control, op.id, 'approval', 'running');
    await control.approve(op.id, 'dave');
    expect(await finished(control, op.id)).toMatchObject({ outcome: 'succeeded', approvedBy: 'dave' });

    const back = await control.request({
      ...base(),
      kind: 'failback',
      approved: false,
      approvalTimeoutMs: 300,
    });
    expect(await finished(control, back.id)).toMatchObject({ outcome: 'aborted' });
    expect(await weights(aws, zoneId)).toEqual({ 'us-east-1': 0, 'us-west-2': 200 });

    // With us-east-1 away, neither a second failover of it nor one into it is accepted.
    expect(await refusal({})).toMatch(/us-east-1 is already failed over to us-west-2/);
    expect(await refusal({ region: 'us-west-2', to: 'us-east-1' })).toMatch(
      /us-east-1 is itself failed over/,
    );
  });

  it('traffic-only moves the records and leaves the archive order; a dry run changes nothing', async () => {
    const dry = await control.request({ ...base(), dryRun: true });
    expect(dry.outcome).toBe('dry-run');
    expect(dry.plan.archive?.to.map((t) => t.bucket)).toEqual(['stormproof-failover-us-east-1']);
    expect((await control.state()).history).toEqual([]);

    const op = await control.request({ ...base(), mode: 'traffic-only' });
    const done = await finished(control, op.id);
    expect(done.outcome).toBe('succeeded');
    expect(done.steps.map((s) => s.name)).not.toContain('redirect-archive');
    expect(await weights(aws, zoneId)).toEqual({ 'us-east-1': 0, 'us-west-2': 200 });
    expect(await orderNow()).toEqual(configuredOrder());
  });

  it('Route 53 refusing the change rolls back the archive redirect', async () => {
    await faults.setFault('route53', {
      mode: 'error',
      status: 400,
      format: 'route53',
      code: 'InvalidChangeBatch',
      methods: ['POST'],
      pathRegex: `${zoneId}/rrset`,
    });
    const op = await control.request(base());
    // The rollback's own UPSERT is refused too while the fault lasts: it is retried until Route 53 takes it.
    await stepReaches(control, op.id, 'shift-traffic', 'compensating');
    await faults.clear('route53');
    const done = await finished(control, op.id);
    expect(done.outcome).toBe('rolled-back');
    expect(done.error).toMatch(/InvalidChangeBatch|invalid/i);
    expect(done.steps.map((s) => [s.name, s.state])).toEqual([
      ['preflight', 'done'],
      ['approval', 'skipped'],
      ['redirect-archive', 'compensated'],
      ['shift-traffic', 'compensated'],
      ['verify', 'pending'],
      ['hand-over-caps', 'pending'],
    ]);
    expect(await weights(aws, zoneId)).toEqual(equal);
    expect(await orderNow()).toEqual(configuredOrder());
  });

  it('verification failing (new bucket unwritable) rolls back traffic and archive to the exact previous state', async () => {
    await faults.setFault('s3-us-west-2', {
      mode: 'error',
      status: 503,
      format: 's3',
      methods: ['PUT'],
      pathRegex: `stormproof-failover-us-east-1/_stormproof/verify/${p.config.regionControl.workflowId}`,
    });
    const op = await control.request(base());
    const done = await finished(control, op.id);
    expect(done.outcome).toBe('rolled-back');
    expect(done.steps.find((s) => s.name === 'verify')?.state).toBe('failed');
    expect(done.steps.find((s) => s.name === 'shift-traffic')?.state).toBe('compensated');
    expect(await weights(aws, zoneId)).toEqual(equal);
    expect(await orderNow()).toEqual(configuredOrder());
  });

  it('waits out PriorRequestNotComplete and PENDING with backoff', async () => {
    await faults.setFault('route53', {
      mode: 'error',
      status: 400,
      format: 'route53',
      code: 'PriorRequestNotComplete',
      methods: ['POST'],
      pathRegex: `${zoneId}/rrset`,
      count: 4,
    });
    const refusedBefore = await faultedCount();
    const op = await control.request(base());
    expect((await finished(control, op.id)).outcome).toBe('succeeded');
    expect((await faultedCount()) - refusedBefore).toBe(4);
    expect(await weights(aws, zoneId)).toEqual({ 'us-east-1': 0, 'us-west-2': 200 });

    await faults.setFault('route53', { mode: 'rewrite-pending', pathRegex: '/change/', count: 3 });
    const before = await faultedCount();
    const back = await control.request({ ...base(), kind: 'failback' });
    expect((await finished(control, back.id)).outcome).toBe('succeeded');
    expect((await faultedCount()) - before).toBe(3); // three PENDING answers waited out
    expect(await weights(aws, zoneId)).toEqual(equal);
  });

  it('abort after the traffic shift rolls it back', async () => {
    // Hold the saga after the change batch landed: GetChange keeps saying PENDING.
    await faults.setFault('route53', { mode: 'rewrite-pending', pathRegex: '/change/' });
    const op = await control.request(base());
    expect(await waitShifted()).toBe(true);
    await control.abort(op.id, 'erin');
    await faults.clear('route53');
    const done = await finished(control, op.id);
    expect(done).toMatchObject({ outcome: 'aborted', abortedBy: 'erin' });
    expect(await weights(aws, zoneId)).toEqual(equal);
    expect(await orderNow()).toEqual(configuredOrder());
  });

  it('abort while the forward change batch is held: rollback starts only once it stopped, records end byte for byte as before', async () => {
    const before = await recordSets(aws, zoneId);
    // Longer than cancelling the step and the whole rollback take, shorter than the SDK's request timeout:
    // a forward UPSERT that was not stopped lands after the rollback's own.
    const holdMs = 8000;
    const heldBefore = await faultedCount();
    await faults.setFault('route53', {
      mode: 'latency',
      latencyMs: holdMs,
      methods: ['POST'],
      pathRegex: `${zoneId}/rrset`,
      count: 1,
    });
    const op = await control.request(base());
    expect(await waitUntil(async () => (await faultedCount()) > heldBefore, 20_000, 50)).toBe(true);
    const heldAt = Date.now();
    await control.abort(op.id, 'frank');
    const done = await finished(control, op.id);
    expect(done).toMatchObject({ outcome: 'aborted', abortedBy: 'frank' });
    expect(done.steps.find((s) => s.name === 'shift-traffic')?.state).toBe('compensated');
    expect(await recordSets(aws, zoneId)).toBe(before);
    // Until well past the moment the held request would have reached Route 53, the records never change.
    const changed = await waitUntil(
      async () => (await recordSets(aws, zoneId)) !== before,
      Math.max(0, heldAt + holdMs + 3000 - Date.now()),
      200,
    );
    expect(changed).toBe(false);
    expect(await orderNow()).toEqual(configuredOrder());
  });

  it('a worker killed mid-saga: the new worker finishes it, and the change batch is sent once', async () => {
    await faults.setFault('route53', { mode: 'rewrite-pending', pathRegex: '/change/' });
    const op = await control.request(base());
    expect(await waitShifted()).toBe(true);
    await p.killWorker();
    await faults.clear('route53');
    await p.startWorker();
    const done = await finished(control, op.id, 45_000);
    expect(done.outcome).toBe('succeeded');
    expect(await weights(aws, zoneId)).toEqual({ 'us-east-1': 0, 'us-west-2': 200 });
    const history = await p.client.workflow.getHandle(p.config.regionControl.workflowId).fetchHistory();
    const applied = (history.events ?? []).filter(
      (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'applyWeights',
    );
    expect(applied).toHaveLength(1);
  }, 90_000);

  it('a worker process killed with SIGKILL mid-saga: a new process finishes it, nothing done twice', async () => {
    // A worker of its own, as a real process, on a task queue and regionControl of this test.
    const cfg: AppConfig = {
      ...p.config,
      temporal: { ...p.config.temporal, taskQueue: uniqueName('failover-kill') },
      route53: { ...p.config.route53, ...traffic },
      regionControl: { ...p.config.regionControl, workflowId: uniqueName('region-control-kill') },
    };
    const configPath = join(tmpdir(), `${uniqueName('failover-kill')}.json`);
    writeFileSync(configPath, JSON.stringify(cfg));
    const first = await spawnWorker(configPath);
    let second: ChildProcess | undefined;
    try {
      const killControl = new RegionControlClient(p.client, cfg);
      await faults.setFault('route53', { mode: 'rewrite-pending', pathRegex: '/change/' });
      const op = await killControl.request(base());
      expect(await waitShifted()).toBe(true);
      first.kill('SIGKILL');
      await faults.clear('route53');
      second = await spawnWorker(configPath);
      const done = await finished(killControl, op.id, 60_000);
      expect(done.outcome).toBe('succeeded');
      expect(await weights(aws, zoneId)).toEqual({ 'us-east-1': 0, 'us-west-2': 200 });
      const history = await p.client.workflow.getHandle(cfg.regionControl.workflowId).fetchHistory();
      const scheduled = (name: string) =>
        (history.events ?? []).filter(
          (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === name,
        );
      expect(scheduled('applyWeights')).toHaveLength(1);
    } finally {
      first.kill('SIGKILL');
      if (second && second.exitCode === null) {
        const exited = new Promise((r) => second!.once('exit', r));
        second.kill('SIGTERM');
        await exited; // a graceful stop: no process outlives the test
      }
      await p.client.workflow
        .getHandle(cfg.regionControl.workflowId)
        .terminate('test done')
        .catch(() => undefined);
    }
  }, 120_000);

  it('continues as new between operations and keeps its state and history', async () => {
    control = new RegionControlClient(p.client, p.config, { traffic, maxHistoryEvents: 20 });
    const handle = p.client.workflow.getHandle(p.config.regionControl.workflowId);
    await control.state(); // starts it
    const firstRun = (await handle.describe()).runId;
    const op = await control.request(base());
    expect((await finished(control, op.id)).outcome).toBe('succeeded');
    expect(await waitUntil(async () => (await handle.describe()).runId !== firstRun, 10_000)).toBe(true);

    const state = await control.state();
    expect(state.history.map((h) => h.id)).toEqual([op.id]);
    expect(state.regions.find((r) => r.name === 'us-east-1')?.failedOver?.operationId).toBe(op.id);
    // The new run knows what to restore: failback brings back the exact records.
    const back = await control.request({ ...base(), kind: 'failback' });
    expect((await finished(control, back.id)).outcome).toBe('succeeded');
    expect(await weights(aws, zoneId)).toEqual(equal);
  });

  /** Starts `src/worker.ts` as a process and resolves once it polls (its "worker connected" log line). */
  async function spawnWorker(configPath: string): Promise<ChildProcess> {
    // node --import tsx, not the tsx launcher: SIGKILL must hit the worker itself, not a wrapper around it.
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/worker.ts'], {
      env: { ...process.env, STORMPROOF_CONFIG: configPath },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const ready = await waitUntil(() => out.includes('worker connected') || child.exitCode !== null, 60_000);
    if (!ready || child.exitCode !== null) throw new Error(`worker process did not start: ${out}`);
    return child;
  }

  async function faultedCount(): Promise<number> {
    return (await faults.list()).find((l) => l.name === 'route53')!.counters.faulted;
  }

  async function waitShifted(): Promise<boolean> {
    return waitUntil(async () => (await weights(aws, zoneId))['us-east-1'] === 0, 20_000, 100);
  }
});
