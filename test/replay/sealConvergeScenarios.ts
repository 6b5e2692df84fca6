import type { WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Activities } from '../../src/activities';
import { HOUR_MS } from '../../src/shared/reconcile';
import {
  retireWorkflowId,
  sealWorkflowId,
  type RetireResult,
  type SealPlanResult,
} from '../../src/shared/seal';
import { waitUntil } from '../../src/util/waitUntil';
import { uniqueName } from '../helpers/env';
import { onStubs, type Scenario } from './scenarios';
import { planOf, shardStubs, summaryOf } from './sealStubs';

const REGION = 'us-east-1';

const lastHour = (): string => {
  const now = Date.now();
  return new Date(now - (now % HOUR_MS) - 3 * HOUR_MS).toISOString();
};

/** Waits for a workflow started by another (an abandoned child) and hands back its first run. */
async function startedBy(env: TestWorkflowEnvironment, workflowId: string): Promise<WorkflowHandle> {
  const handle = env.client.workflow.getHandle(workflowId);
  const found = await waitUntil(
    () =>
      handle.describe().then(
        () => true,
        () => false,
      ),
    30_000,
  );
  if (!found) throw new Error(`recording: ${workflowId} was not started in 30 s`);
  return handle;
}

/**
 * Paths of patch `seal-converge` and `retire-raw`, on stubbed activities: a seal whose hour changed while it
 * ran (a second version, the pending captures recorded, raw retirement started), the retirement itself
 * (durable timer, then retireRaw), and a scheduled run that re-seals a sealed hour with late raw objects.
 */
export const sealConvergeScenarios: Scenario[] = [
  {
    name: 'sealHour-converged',
    on: 'stub',
    record(env) {
      const hour = lastHour();
      const plans: SealPlanResult[] = [
        { kind: 'plan', plan: planOf(hour, 1, { retainRawHours: 48 }) },
        { kind: 'plan', plan: planOf(hour, 2, { retainRawHours: 48 }) },
        { kind: 'already-sealed', summary: summaryOf(hour, 2), unsealedSources: 0 },
      ];
      let commits = 0;
      const activities: Partial<Activities> = {
        ...shardStubs,
        planSeal: () => Promise.resolve(plans.shift()!),
        pendingCapturesOf: () => Promise.resolve({ count: 1, workflowIds: ['capture-us-east-1-x'] }),
        commitSeal: () => Promise.resolve(summaryOf(hour, ++commits)),
        // The retirement it starts waits 48 hours; recorded only up to the seal's end.
        retireRaw: () => Promise.resolve({ outcome: 'not-sealed', deleted: 0 }),
      };
      return onStubs(env, activities, async (taskQueue) => {
        const handle = await env.client.workflow.start('sealHour', {
          taskQueue,
          workflowId: sealWorkflowId(REGION, hour),
          args: [{ region: REGION, hour }],
        });
        await handle.result();
        await env.client.workflow
          .getHandle(retireWorkflowId(REGION, hour))
          .terminate('recorded')
          .catch(() => undefined);
        return handle;
      });
    },
  },
  {
    name: 'retireRawHour-retired',
    on: 'stub',
    record(env) {
      const hour = lastHour();
      const result: RetireResult = {
        outcome: 'retired',
        deleted: 3,
        summary: {
          ...summaryOf(hour, 3),
          retired: { at: new Date().toISOString(), objects: 3, verifiedVersion: 2 },
        },
      };
      return onStubs(env, { retireRaw: () => Promise.resolve(result) }, async (taskQueue) => {
        // Due 6 hours after the hour closed: the timer is skipped over.
        const handle = await env.client.workflow.start('retireRawHour', {
          taskQueue,
          workflowId: retireWorkflowId(REGION, hour),
          args: [{ region: REGION, hour, retainRawHours: 6 }],
        });
        await handle.result();
        return handle;
      });
    },
  },
  {
    name: 'sealHour-scheduled-resealed-late-hours',
    on: 'stub',
    record(env) {
      const late = new Date(Date.parse(lastHour()) - 24 * HOUR_MS).toISOString();
      const activities: Partial<Activities> = {
        ...shardStubs,
        lateSealedHours: () => Promise.resolve([late]),
        planSeal: ({ hour }) =>
          Promise.resolve(
            hour === late
              ? { kind: 'already-sealed', summary: summaryOf(late, 2), unsealedSources: 0 }
              : { kind: 'empty' },
          ),
      };
      return onStubs(env, activities, async (taskQueue) => {
        const handle = await env.client.workflow.start('sealHour', {
          taskQueue,
          workflowId: uniqueName('seal-us-east-1-hourly'),
          args: [{ region: REGION, closedHourLagMinutes: 15 }],
        });
        await handle.result();
        await (await startedBy(env, sealWorkflowId(REGION, late))).result();
        return handle;
      });
    },
  },
];
