/**
 * Every recorded history, as a list of scenarios: a name (the file test/replay/histories/<name>.json, the
 * workflow type first) and how to bring that workflow down that path. `npm run record-histories` runs them
 * all (record.ts); replay.test.ts replays every file and checks each scenario has one. A new workflow type or
 * path gets a scenario here.
 *
 * `stub` scenarios run on the time-skipping test server with the stubbed worlds of test/workflows, so timers
 * of minutes and hours cost nothing; `stack` scenarios run on the local test stack with real activities.
 */
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Activities } from '../../src/activities';
import { batchIdOf, prepareBatch } from '../../src/archive/format';
import type { AppConfig } from '../../src/config/schema';
import { FaultProxyClient } from '../../src/fault-proxy';
import { hourOf, type ArchiveBatchInput, type BatchStatus } from '../../src/shared/batch';
import {
  abortOperationUpdate,
  batchStatusQuery,
  monitorStatusQuery,
  regionControlStateQuery,
  requestOperationUpdate,
  retryNowSignal,
} from '../../src/shared/messages';
import type { MonitorSettings } from '../../src/shared/monitor';
import type { OperationRequest, RegionControlInput } from '../../src/shared/regionControl';
import { waitUntil } from '../../src/util/waitUntil';
import { archiveBatch, reconcileWindow, regionControl, regionHealthMonitor } from '../../src/workflows';
import { uniqueName } from '../helpers/env';
import { makeEvents } from '../helpers/pipeline';
import { capScenarios } from './capScenarios';
import { captureScenarios } from './captureScenarios';
import { quarantineRaceScenarios } from './quarantineRaceScenarios';
import { sealScenarios } from './sealScenarios';
import { sealConvergeScenarios } from './sealConvergeScenarios';
import { stubWorker } from '../helpers/timeSkipping';
import {
  archiveBatchInput,
  archiveWorld,
  monitorWorld,
  regionControlInput,
  regionWorld,
  reconcileWorld,
} from '../workflows/worlds';

type History = temporal.api.history.v1.IHistory;

export interface StackContext {
  config: AppConfig;
  client: Client;
}

export type Scenario =
  | { name: string; on: 'stub'; record(env: TestWorkflowEnvironment): Promise<History> }
  | { name: string; on: 'stack'; record(stack: StackContext): Promise<History> };

/** Runs `fn` on a worker with these stubbed activities; answers the history of the run it hands back. */
export async function onStubs(
  env: TestWorkflowEnvironment,
  activities: Partial<Activities>,
  fn: (taskQueue: string) => Promise<WorkflowHandle>,
): Promise<History> {
  const { worker, taskQueue } = await stubWorker(env, activities);
  return worker.runUntil(async () => {
    const handle = await fn(taskQueue);
    const history = await handle.fetchHistory();
    await env.client.workflow
      .getHandle(handle.workflowId)
      .terminate('recorded')
      .catch(() => undefined); // already closed
    return history;
  });
}

const must = async (what: string, condition: () => Promise<boolean>): Promise<void> => {
  if (!(await waitUntil(condition, 30_000))) throw new Error(`recording: ${what} did not happen in 30 s`);
};

const FAILOVER: OperationRequest = {
  kind: 'failover',
  region: 'us-east-1',
  to: 'us-west-2',
  reason: 'recorded scenario',
  operator: 'recorder',
  mode: 'full',
  approved: true,
};

/** A regionControl that runs `requests` one after another (each to its end), after `steer` for each. */
function regionControlScenario(
  name: string,
  setUp: (w: ReturnType<typeof regionWorld>['w']) => void,
  requests: OperationRequest[],
  steer: (
    env: TestWorkflowEnvironment,
    handle: WorkflowHandle<typeof regionControl>,
    operationId: string,
  ) => Promise<void> = () => Promise.resolve(),
  over: Partial<RegionControlInput> = {},
): Scenario {
  return {
    name,
    on: 'stub',
    record: (env) => {
      const { w, activities } = regionWorld();
      setUp(w);
      return onStubs(env, activities, async (taskQueue) => {
        const handle = await env.client.workflow.start(regionControl, {
          taskQueue,
          workflowId: uniqueName('region-control'),
          args: [regionControlInput(over)],
        });
        // The first run is the one recorded: where it continued as new, the path up to there.
        const first = env.client.workflow.getHandle<typeof regionControl>(
          handle.workflowId,
          handle.firstExecutionRunId,
        );
        for (const [i, req] of requests.entries()) {
          const op = await handle.executeUpdate(requestOperationUpdate, { args: [req] });
          await steer(env, handle, op.id);
          await must(`operation ${op.id} finishing`, async () => {
            // A run that continued as new did so after the operation finished.
            if ((await first.describe()).status.name !== 'RUNNING') return true;
            return (await first.query(regionControlStateQuery)).history.length === i + 1;
          });
        }
        return first;
      });
    },
  };
}

const abortWhen =
  (step: 'approval' | 'shift-traffic' | 'hand-over-caps') =>
  async (_env: TestWorkflowEnvironment, handle: WorkflowHandle<typeof regionControl>, id: string) => {
    await must(`step ${step} running`, async () => {
      const op = (await handle.query(regionControlStateQuery)).current;
      return op?.steps.find((s) => s.name === step)?.state === 'running';
    });
    await handle.executeUpdate(abortOperationUpdate, { args: [{ operationId: id, operator: 'recorder' }] });
  };

const MONITOR: MonitorSettings = {
  policy: 'approve',
  downAfter: 2,
  upAfter: 2,
  intervalMs: 5 * 60_000,
  backlogThreshold: 100,
};

function monitorScenario(name: string, world: ReturnType<typeof monitorWorld>, hours: number): Scenario {
  return {
    name,
    on: 'stub',
    record: (env) =>
      onStubs(env, world.activities, async (taskQueue) => {
        const handle = await env.client.workflow.start(regionHealthMonitor, {
          taskQueue,
          workflowId: uniqueName('monitor'),
          args: [{ settings: { ...MONITOR, policy: name.endsWith('refused') ? 'auto' : 'approve' } }],
        });
        await env.sleep(hours * 60 * 60_000);
        await handle.query(monitorStatusQuery);
        return handle;
      }),
  };
}

function reconcileScenario(name: string, differs: boolean): Scenario {
  return {
    name,
    on: 'stub',
    record: (env) => {
      const { w, activities } = reconcileWorld();
      // Equal: the stats API already has every hour (as if repaired before).
      if (!differs)
        for (const r of ['us-east-1', 'us-west-2'])
          for (const h of ['00', '01']) w.repaired.add(`${r} 2026-11-28T${h}:00:00.000Z`);
      return onStubs(env, activities, async (taskQueue) => {
        const handle = await env.client.workflow.start(reconcileWindow, {
          taskQueue,
          workflowId: uniqueName('reconcile'),
          args: [
            {
              from: '2026-11-28T00:00:00.000Z',
              to: '2026-11-28T02:00:00.000Z',
              attemptBudget: 3,
              settleMs: 10 * 60_000,
              hoursPerSlice: 1,
              concurrency: 2,
              slicesPerRun: differs ? 1 : 2,
            },
          ],
        });
        await handle.result();
        return env.client.workflow.getHandle(handle.workflowId, handle.firstExecutionRunId);
      });
    },
  };
}

/**
 * One archiveBatch started as the version before the fast path did (the fast path never starts one; the type
 * stays registered until the batches of that version finish), on the stack's worker.
 */
async function handOver(stack: StackContext, events: ReturnType<typeof makeEvents>): Promise<WorkflowHandle> {
  const hour = hourOf(events[0]!.timestamp);
  const batchId = batchIdOf(hour, events);
  const { manifest, body } = await prepareBatch({ batchId, region: events[0]!.region, hour, events });
  const { captureInitialBackoffMs: initialMs, captureMaxBackoffMs: maxMs } = stack.config.archive;
  const input: ArchiveBatchInput = { ...manifest, capture: { initialMs, maxMs } };
  return stack.client.workflow.start('archiveBatch', {
    workflowId: `archive-${manifest.region}-${batchId}`,
    taskQueue: stack.config.temporal.taskQueue,
    args: [input, body],
  });
}

export const scenarios: Scenario[] = [
  ...captureScenarios,
  ...sealScenarios,
  ...capScenarios,
  ...quarantineRaceScenarios,
  ...sealConvergeScenarios,
  {
    name: 'archiveBatch-happy',
    on: 'stack',
    async record(stack) {
      const handle = await handOver(stack, makeEvents(20, 'us-east-1'));
      await handle.result();
      return handle.fetchHistory();
    },
  },
  {
    // Both S3 buckets of the region refuse this batch's hour until it has waited twice.
    name: 'archiveBatch-captured',
    on: 'stack',
    async record(stack) {
      const faults = new FaultProxyClient(stack.config.faultProxy!.controlUrl);
      const events = makeEvents(20, 'us-east-1');
      const hour = events[0]!.timestamp;
      const pathRegex = `region(=|%3D)us-east-1/dt(=|%3D)${hour.slice(0, 10)}/hour(=|%3D)${hour.slice(11, 13)}/`;
      const listeners = ['s3-us-east-1', 's3-us-west-2'];
      try {
        for (const l of listeners)
          await faults.setFault(l, { mode: 'error', status: 503, format: 's3', pathRegex });
        const captured = await handOver(stack, events);
        if (
          !(await waitUntil(
            async () => {
              const s: BatchStatus = await captured.query(batchStatusQuery);
              return s.state === 'captured' && s.attempts >= 2;
            },
            120_000,
            250,
          ))
        )
          throw new Error('the batch was not captured twice within 2 minutes');
        for (const l of listeners) await faults.clear(l);
        await captured.signal(retryNowSignal);
        await captured.result();
        return captured.fetchHistory();
      } finally {
        for (const l of listeners) await faults.clear(l);
      }
    },
  },
  {
    // 50 capture rounds on the production backoff, then continue-as-new: the first run.
    name: 'archiveBatch-continued-as-new',
    on: 'stub',
    record: (env) =>
      onStubs(env, archiveWorld(52).activities, async (taskQueue) => {
        const handle = await env.client.workflow.start(archiveBatch, {
          taskQueue,
          workflowId: uniqueName('archive'),
          args: [archiveBatchInput(uniqueName('batch')), new Uint8Array([1, 2, 3])],
        });
        await handle.result();
        return env.client.workflow.getHandle(handle.workflowId, handle.firstExecutionRunId);
      }),
  },
  regionControlScenario('regionControl-failover-succeeded', () => undefined, [FAILOVER]),
  regionControlScenario('regionControl-failover-health-check', () => undefined, [
    { ...FAILOVER, trafficStrategy: 'health-check' },
  ]),
  regionControlScenario(
    'regionControl-failover-rolled-back',
    (w) => {
      w.refuseChange = true;
      w.staleReads = 1; // the rollback reads back once more
    },
    [FAILOVER],
  ),
  regionControlScenario(
    'regionControl-aborted-at-gate',
    () => undefined,
    [{ ...FAILOVER, approved: false }],
    abortWhen('approval'),
  ),
  regionControlScenario(
    'regionControl-approval-timed-out',
    () => undefined,
    [{ ...FAILOVER, approved: false }],
    (env) => env.sleep('16 minutes'),
  ),
  regionControlScenario(
    'regionControl-aborted-mid-step',
    (w) => (w.holdChange = true),
    [FAILOVER],
    abortWhen('shift-traffic'),
  ),
  regionControlScenario('regionControl-failback-rehomed', () => undefined, [
    FAILOVER,
    { ...FAILOVER, kind: 'failback' },
  ]),
  regionControlScenario('regionControl-continued-as-new', () => undefined, [FAILOVER], undefined, {
    maxHistoryEvents: 20,
  }),
  // The cap hand-over (patch caps-handover): two looks find a holder holding, the third none; the failback
  // lifts the revocation.
  regionControlScenario(
    'regionControl-caps-handover-failback',
    (w) => (w.capsHeldFor = 2),
    [FAILOVER, { ...FAILOVER, kind: 'failback' }],
    (env) => env.sleep('1 minute'),
    { capsHandover: { withinMs: 600_000, checkEveryMs: 10_000 } },
  ),
  // The ledgers do not answer the hand-over (patch caps-handover-best-effort): the failover stays done.
  regionControlScenario(
    'regionControl-caps-handover-unreachable',
    (w) => (w.capsUnreachable = true),
    [FAILOVER],
    (env) => env.sleep('5 minutes'),
    { capsHandover: { withinMs: 600_000, checkEveryMs: 10_000 } },
  ),
  // Aborted while the hand-over waits: restore, then traffic and archive undone.
  regionControlScenario(
    'regionControl-caps-handover-aborted',
    (w) => (w.capsHeldFor = 1_000),
    [FAILOVER],
    abortWhen('hand-over-caps'),
    { capsHandover: { withinMs: 3_600_000, checkEveryMs: 10_000 } },
  ),
  // us-east-1 down in rounds 3–8 (5 minutes apart), up from round 9: down, failover asked, up.
  monitorScenario(
    'regionHealthMonitor-down-up',
    monitorWorld((region, round) => region === 'us-east-1' && round >= 3 && round <= 8),
    1,
  ),
  // us-east-1 down throughout; its failover refused twice at preflight, then started.
  monitorScenario(
    'regionHealthMonitor-refused',
    monitorWorld((region) => region === 'us-east-1', 2),
    1,
  ),
  reconcileScenario('reconcileWindow-equal', false),
  reconcileScenario('reconcileWindow-repaired', true),
];
