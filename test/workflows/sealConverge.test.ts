import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Activities } from '../../src/activities';
import { HOUR_MS } from '../../src/shared/reconcile';
import {
  retireWorkflowId,
  sealWorkflowId,
  type PendingCaptures,
  type RetireResult,
  type SealPlanResult,
  type SealResult,
} from '../../src/shared/seal';
import { uniqueName } from '../helpers/env';
import { stubWorker, timeSkippingEnv } from '../helpers/timeSkipping';
import { planOf, shardStubs, summaryOf } from '../replay/sealStubs';

const REGION = 'us-east-1';
const PENDING: PendingCaptures = { count: 1, workflowIds: ['capture-us-east-1-2026120410-x'] };

/** sealHour's converging loop and the raw retirement's timer, on stubbed activities with time skipping. */
describe('sealHour converging, retireRawHour waiting (time skipping)', () => {
  let env: TestWorkflowEnvironment;
  beforeAll(async () => {
    env = await timeSkippingEnv();
  });
  afterAll(() => env?.teardown());

  /** A world whose hour gets a new raw object for each of the first `changes` plans. */
  function world(hour: string, changes: number, retainRawHours?: number) {
    let planned = 0;
    const commits: { version: number; pending?: PendingCaptures }[] = [];
    const retirements: string[] = [];
    const activities: Partial<Activities> = {
      ...shardStubs,
      planSeal: (): Promise<SealPlanResult> => {
        planned++;
        return Promise.resolve(
          planned <= changes
            ? {
                kind: 'plan',
                plan: planOf(hour, planned, retainRawHours === undefined ? {} : { retainRawHours }),
              }
            : { kind: 'already-sealed', summary: summaryOf(hour, changes), unsealedSources: 0 },
        );
      },
      pendingCapturesOf: () => Promise.resolve(PENDING),
      commitSeal: ({ plan, pending }) => {
        commits.push({ version: plan.version, ...(pending && { pending }) });
        return Promise.resolve(summaryOf(hour, plan.version));
      },
      retireRaw: ({ at }): Promise<RetireResult> => {
        retirements.push(at);
        return Promise.resolve({ outcome: 'retired', deleted: 1, summary: summaryOf(hour, changes + 1) });
      },
    };
    return { activities, commits, retirements };
  }

  const hourAgo = async (hours: number): Promise<string> => {
    const now = await env.currentTimeMs();
    return new Date(now - (now % HOUR_MS) - hours * HOUR_MS).toISOString();
  };

  it('seals again while its hour changed, records pending captures, then starts the retirement, which waits for the retention', async () => {
    const hour = await hourAgo(2);
    const w = world(hour, 2, 6);
    const { worker, taskQueue } = await stubWorker(env, w.activities);
    const result = await worker.runUntil(async () => {
      const handle = await env.client.workflow.start('sealHour', {
        taskQueue,
        workflowId: sealWorkflowId(REGION, hour) + uniqueName('-t'),
        args: [{ region: REGION, hour }],
      });
      const sealed = (await handle.result()) as SealResult;
      const retire = env.client.workflow.getHandle(retireWorkflowId(REGION, hour));
      expect(((await retire.result()) as RetireResult).outcome).toBe('retired');
      return sealed;
    });
    expect(result).toMatchObject({ outcome: 'sealed', summary: { version: 2 } });
    expect(w.commits).toEqual([
      { version: 1, pending: PENDING },
      { version: 2, pending: PENDING },
    ]);
    // Deleted only once the retention after the hour's end had passed (the timer, skipped over here).
    expect(w.retirements).toHaveLength(1);
    expect(Date.parse(w.retirements[0]!)).toBeGreaterThanOrEqual(Date.parse(hour) + HOUR_MS + 6 * HOUR_MS);
  });

  it('continues as new after 5 versions in one run, and ends when a plan adds nothing; no retention, no retirement', async () => {
    const hour = await hourAgo(30);
    const w = world(hour, 7);
    const { worker, taskQueue } = await stubWorker(env, w.activities);
    const { result, runId, firstRunId } = await worker.runUntil(async () => {
      const handle = await env.client.workflow.start('sealHour', {
        taskQueue,
        workflowId: uniqueName('seal-converge'),
        args: [{ region: REGION, hour }],
      });
      return {
        result: (await handle.result()) as SealResult,
        runId: (await handle.describe()).runId,
        firstRunId: handle.firstExecutionRunId,
      };
    });
    expect(w.commits.map((c) => c.version)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(result).toMatchObject({ outcome: 'sealed', summary: { version: 7 } });
    expect(runId).not.toBe(firstRunId);
    expect(w.retirements).toEqual([]);
  });
});
