import type { WorkflowHandle } from '@temporalio/client';
import type { Duration } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Activities } from '../../src/activities';
import {
  abortOperationUpdate,
  regionControlStateQuery,
  requestOperationUpdate,
} from '../../src/shared/messages';
import type { RegionControlInput } from '../../src/shared/regionControl';
import { waitUntil } from '../../src/util/waitUntil';
import { regionControl } from '../../src/workflows';
import { uniqueName } from '../helpers/env';
import { expectClockSkips, stubWorker, terminateWhenIdle, timeSkippingEnv } from '../helpers/timeSkipping';
import { EQUAL_WEIGHTS, regionControlInput, regionWorld } from './worlds';
import { FULL_FAILOVER_HANDED_OVER, failoverRequest } from '../helpers/region';

const failover = failoverRequest();
const SHIFTED = [
  { ...EQUAL_WEIGHTS[0]!, weight: 0 },
  { ...EQUAL_WEIGHTS[1]!, weight: 200 },
];

describe('regionControl with time skipping (stubbed activities)', () => {
  let env: TestWorkflowEnvironment;
  beforeAll(async () => {
    env = await timeSkippingEnv();
  });
  afterAll(() => env?.teardown());
  afterEach(() => expectClockSkips(env));

  /** Runs `fn` against a fresh regionControl on a worker with these activities; terminates it afterwards. */
  async function withControl(
    activities: Partial<Activities>,
    fn: (handle: WorkflowHandle<typeof regionControl>) => Promise<void>,
    over: Partial<RegionControlInput> = {},
  ): Promise<void> {
    const { worker, taskQueue } = await stubWorker(env, activities);
    await worker.runUntil(async () => {
      const handle = await env.client.workflow.start(regionControl, {
        taskQueue,
        workflowId: uniqueName('region-control'),
        args: [regionControlInput(over)],
      });
      let passed = false;
      try {
        await fn(handle);
        passed = true;
      } finally {
        // A failing test reports its own error, not the clean-up's.
        await terminateWhenIdle(handle).catch((err: unknown) => {
          if (passed) throw err;
        });
      }
    });
  }
  const last = async (handle: {
    query: (q: typeof regionControlStateQuery) => Promise<{ history: unknown[] }>;
  }) => (await handle.query(regionControlStateQuery)).history[0];
  /** Lets `time` of workflow time pass (queries do not skip time), then the operation that finished. */
  const finishedAfter = async (handle: WorkflowHandle<typeof regionControl>, time: Duration) => {
    await env.sleep(time);
    expect(await waitUntil(async () => (await last(handle)) !== undefined, 20_000)).toBe(true);
    return (await handle.query(regionControlStateQuery)).history[0]!;
  };

  it('an unapproved operation aborts at the 15-minute approval timeout within seconds, told once and truly', async () => {
    const { w, activities } = regionWorld();
    const wall = Date.now();
    await withControl(activities, async (handle) => {
      const started = await env.currentTimeMs();
      const op = await handle.executeUpdate(requestOperationUpdate, {
        args: [{ ...failover, approved: false }],
      });
      await env.sleep('16 minutes');
      expect(await last(handle)).toMatchObject({ id: op.id, outcome: 'aborted' });
      expect((await handle.query(regionControlStateQuery)).history[0]!.error).toMatch(
        /not approved within 900000 ms/,
      );
      expect((await env.currentTimeMs()) - started).toBeGreaterThanOrEqual(15 * 60_000);
    });
    expect(Date.now() - wall).toBeLessThan(30_000);
    expect(w.changes).toEqual([]);
    expect(w.told.map((n) => n.kind)).toEqual(['failover-started', 'failover-rolled-back']);
    expect(w.told[1]!.text).toBe(
      'not approved within 900000 ms. Stopped at approval. No step had changed anything, so nothing was undone.',
    );
  });

  it('a refused change rolls back: each rollback reads back until the records are as before, one notification names what was undone', async () => {
    const { w, activities } = regionWorld();
    w.refuseChange = true;
    w.staleReads = 2; // the first two read-backs after the rollback still show other weights
    await withControl(activities, async (handle) => {
      const op = await handle.executeUpdate(requestOperationUpdate, { args: [failover] });
      expect(
        await waitUntil(
          async () => (await handle.query(regionControlStateQuery)).current === undefined,
          20_000,
        ),
      ).toBe(true);
      const done = (await handle.query(regionControlStateQuery)).history[0]!;
      expect(done).toMatchObject({ id: op.id, outcome: 'rolled-back' });
      expect(done.steps.map((s) => [s.name, s.state])).toEqual([
        ['preflight', 'done'],
        ['approval', 'skipped'],
        ['redirect-archive', 'compensated'],
        ['shift-traffic', 'compensated'],
        ['verify', 'pending'],
        ['hand-over-caps', 'pending'],
      ]);
      expect(done.steps.find((s) => s.name === 'shift-traffic')!.detail).toBe(
        'rolled back; read back as before at attempt 3',
      );
      const state = await handle.query(regionControlStateQuery);
      expect(state.regions[0]!.archive).toEqual(state.regions[0]!.homeArchive);
    });
    // The forward change never landed; the rollback wrote the records before the step three times, until read back.
    expect(w.changes).toEqual([1, 2, 3].map(() => ({ records: EQUAL_WEIGHTS, rollback: true })));
    expect(w.records).toEqual(EQUAL_WEIGHTS);
    expect(w.told.map((n) => n.kind)).toEqual(['failover-started', 'failover-rolled-back']);
    expect(w.told[1]!.text).toMatch(
      /Route 53 refused the change batch \(InvalidChangeBatch\)\. Stopped at shift-traffic\. Undone: redirect-archive, shift-traffic\./,
    );
  });

  it('an abort while the forward change is in flight waits until it stopped before rolling back', async () => {
    const { w, activities } = regionWorld();
    w.holdChange = true;
    await withControl(activities, async (handle) => {
      const op = await handle.executeUpdate(requestOperationUpdate, { args: [failover] });
      expect(
        await waitUntil(
          async () =>
            (await handle.query(regionControlStateQuery)).current?.steps.find(
              (s) => s.name === 'shift-traffic',
            )?.state === 'running',
          20_000,
        ),
      ).toBe(true);
      await handle.executeUpdate(abortOperationUpdate, { args: [{ operationId: op.id, operator: 'erin' }] });
      expect(await waitUntil(async () => (await last(handle)) !== undefined, 20_000)).toBe(true);
      expect(await last(handle)).toMatchObject({ outcome: 'aborted', abortedBy: 'erin' });
    });
    expect(w.log).toEqual(['held forward change stopped', 'rollback landed']);
    // The held forward change stopped without landing; the rollback alone reached Route 53, and last.
    expect(w.changes).toEqual([{ records: EQUAL_WEIGHTS, rollback: true }]);
    expect(w.told.filter((n) => n.kind === 'failover-rolled-back')).toHaveLength(1);
  });

  it('continues as new between operations; the next run fails back to the exact records', async () => {
    const { w, activities } = regionWorld();
    await withControl(
      activities,
      async (handle) => {
        const firstRun = (await handle.describe()).runId;
        const op = await handle.executeUpdate(requestOperationUpdate, { args: [failover] });
        const later = env.client.workflow.getHandle(handle.workflowId);
        expect(await waitUntil(async () => (await later.describe()).runId !== firstRun, 20_000)).toBe(true);
        expect(w.records).toEqual(SHIFTED);
        const state = await later.query(regionControlStateQuery);
        expect(state.history.map((h) => [h.id, h.outcome])).toEqual([[op.id, 'succeeded']]);
        expect(state.regions[0]!.failedOver?.previousWeights).toEqual(EQUAL_WEIGHTS);

        const secondRun = (await later.describe()).runId;
        await later.executeUpdate(requestOperationUpdate, { args: [{ ...failover, kind: 'failback' }] });
        // It continues as new after the failback too. Queried only once the next run is there: the test
        // server can leave a query sent while a run closes unanswered.
        expect(await waitUntil(async () => (await later.describe()).runId !== secondRun, 20_000)).toBe(true);
        const after = await later.query(regionControlStateQuery);
        expect(after.history.map((h) => [h.request.kind, h.outcome])).toEqual([
          ['failback', 'succeeded'],
          ['failover', 'succeeded'],
        ]);
        expect(after.regions[0]!.failedOver).toBeUndefined();
      },
      { maxHistoryEvents: 20 },
    );
    expect(w.records).toEqual(EQUAL_WEIGHTS);
    expect(w.rehomed).toBe(1);
  });

  it("a failover hands the region's cap allowance over: revoked after verify, it waits (durable timer) until no holder holds any", async () => {
    const { w, activities } = regionWorld();
    w.capsHeldFor = 3; // a silent holder's lease and reclaim delay: three looks find it still holding
    await withControl(
      activities,
      async (handle) => {
        const op = await handle.executeUpdate(requestOperationUpdate, { args: [failover] });
        expect(op.steps.map((s) => s.name)).toEqual(['preflight']);
        const done = await finishedAfter(handle, '1 minute');
        expect(done.outcome).toBe('succeeded');
        expect(done.steps.map((s) => [s.name, s.state])).toEqual(FULL_FAILOVER_HANDED_OVER);
        const caps = done.steps.find((s) => s.name === 'hand-over-caps')!;
        expect(caps.detail).toBe(
          'us-east-1 revoked on 1 ledger(s): 3 given back by holders that answered, 5 reclaimed after a lease ended',
        );
        // Three looks found it holding, 10 s (workflow time) apart; the fourth found nothing.
        expect(Date.parse(caps.finishedAt!) - Date.parse(caps.startedAt!)).toBeGreaterThanOrEqual(30_000);
        expect(w.caps).toEqual([`revoke us-east-1 ${op.id}`, ...Array(4).fill('holdings us-east-1')]);
      },
      { capsHandover: { withinMs: 600_000, checkEveryMs: 10_000 } },
    );
    expect(w.records).toEqual(SHIFTED);
  });

  it('a hand-over that runs past its bound still succeeds and says what is still held', async () => {
    const { w, activities } = regionWorld();
    w.capsHeldFor = 100;
    await withControl(
      activities,
      async (handle) => {
        await handle.executeUpdate(requestOperationUpdate, { args: [failover] });
        const done = await finishedAfter(handle, '1 minute');
        expect(done.outcome).toBe('succeeded');
        expect(done.steps.find((s) => s.name === 'hand-over-caps')!.detail).toBe(
          'us-east-1 revoked on 1 ledger(s): 3 given back by holders that answered, 0 reclaimed after a lease ended; 5 still held by 1 holder(s) after 30000 ms: the ledgers reclaim it when those leases end',
        );
      },
      { capsHandover: { withinMs: 30_000, checkEveryMs: 10_000 } },
    );
    expect(w.caps.filter((c) => c.startsWith('restore'))).toEqual([]);
  });

  it('a hand-over the ledgers do not answer leaves the failover done: traffic is not put back for caps', async () => {
    const { w, activities } = regionWorld();
    w.capsUnreachable = true;
    await withControl(
      activities,
      async (handle) => {
        const op = await handle.executeUpdate(requestOperationUpdate, { args: [failover] });
        const done = await finishedAfter(handle, '5 minutes');
        expect(done.outcome).toBe('succeeded');
        expect(done.steps.map((s) => [s.name, s.state])).toEqual(FULL_FAILOVER_HANDED_OVER);
        expect(done.steps.find((s) => s.name === 'hand-over-caps')!.detail).toMatch(
          /^not handed over \(.*the ledgers do not answer.*\): traffic stays moved/,
        );
        // Its few retries, then no restore: nothing was rolled back.
        expect(w.caps).toEqual(Array(5).fill(`revoke us-east-1 ${op.id}`));
      },
      { capsHandover: { withinMs: 600_000, checkEveryMs: 10_000 } },
    );
    expect(w.records).toEqual(SHIFTED);
  });

  it("an abort during the hand-over restores the region's allowance, then undoes traffic and archive", async () => {
    const { w, activities } = regionWorld();
    w.capsHeldFor = 1_000;
    await withControl(
      activities,
      async (handle) => {
        const op = await handle.executeUpdate(requestOperationUpdate, { args: [failover] });
        expect(
          await waitUntil(
            async () =>
              (await handle.query(regionControlStateQuery)).current?.steps
                .find((s) => s.name === 'hand-over-caps')
                ?.detail?.includes('waiting for 5 still held by 1 holder(s)') === true,
            20_000,
          ),
        ).toBe(true);
        await handle.executeUpdate(abortOperationUpdate, {
          args: [{ operationId: op.id, operator: 'erin' }],
        });
        expect(await waitUntil(async () => (await last(handle)) !== undefined, 20_000)).toBe(true);
        const done = (await handle.query(regionControlStateQuery)).history[0]!;
        expect(done).toMatchObject({ outcome: 'aborted', abortedBy: 'erin' });
        expect(done.steps.map((s) => [s.name, s.state])).toEqual([
          ['preflight', 'done'],
          ['approval', 'skipped'],
          ['redirect-archive', 'compensated'],
          ['shift-traffic', 'compensated'],
          ['verify', 'done'],
          ['hand-over-caps', 'compensated'],
        ]);
        expect(w.caps[0]).toBe(`revoke us-east-1 ${op.id}`);
        expect(w.caps.at(-1)).toBe(`restore us-east-1 ${op.id}`);
      },
      { capsHandover: { withinMs: 3_600_000, checkEveryMs: 10_000 } },
    );
    // Undone in reverse: the caps first, then the traffic (read back as before).
    expect(w.records).toEqual(EQUAL_WEIGHTS);
    expect(w.told.at(-1)!.text).toMatch(/Undone: redirect-archive, shift-traffic, hand-over-caps\./);
  });

  it('a failback lifts the revocation of its failover; an archive-only failover leaves caps alone', async () => {
    const { w, activities } = regionWorld();
    await withControl(activities, async (handle) => {
      const op = await handle.executeUpdate(requestOperationUpdate, { args: [failover] });
      expect(await waitUntil(async () => (await last(handle)) !== undefined, 20_000)).toBe(true);
      const back = await handle.executeUpdate(requestOperationUpdate, {
        args: [{ ...failover, kind: 'failback' }],
      });
      expect(
        await waitUntil(async () => ((await last(handle)) as { id: string }).id === back.id, 20_000),
      ).toBe(true);
      const done = (await handle.query(regionControlStateQuery)).history[0]!;
      expect(done.outcome).toBe('succeeded');
      expect(done.steps.find((s) => s.name === 'restore-caps')).toMatchObject({
        state: 'done',
        detail: 'us-east-1 may be granted again: revocation lifted on 1 ledger(s)',
      });
      expect(w.caps.at(-1)).toBe(`restore us-east-1 ${op.id}`);

      w.caps.length = 0;
      const archiveOnly = await handle.executeUpdate(requestOperationUpdate, {
        args: [{ ...failover, mode: 'archive-only' }],
      });
      expect(
        await waitUntil(async () => ((await last(handle)) as { id: string }).id === archiveOnly.id, 20_000),
      ).toBe(true);
      const a = (await handle.query(regionControlStateQuery)).history[0]!;
      expect(a.outcome).toBe('succeeded');
      expect(a.steps.map((s) => s.name)).not.toContain('hand-over-caps');
      expect(w.caps).toEqual([]);
    });
  });
});
