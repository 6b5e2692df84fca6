import { NativeConnection, Worker } from '@temporalio/worker';
import type { Activities } from '../../src/activities';
import { connectClient } from '../../src/client/connect';
import { ensureReconcileSchedule } from '../../src/client/reconcile';
import { dataConverterFor } from '../../src/codec/dataConverter';
import type { AppConfig } from '../../src/config/schema';
import { temporalConnectionOptions } from '../../src/config/temporalConnection';
import { EMPTY_SIDE, HOUR_MS, type ReconcileInput, type ReconcileReport } from '../../src/shared/reconcile';
import { waitUntil } from '../../src/util/waitUntil';
import { testConfig, uniqueName } from '../helpers/env';
import { workflowBundle } from '../helpers/temporal';

/**
 * The Schedule and the closed-hour window, with the activities stubbed: a scheduled run reconciles the real
 * last closed hour of every region, which on the shared test stack belongs to other tests.
 */
describe('reconcile: the hourly Schedule', () => {
  const base = testConfig();
  const config: AppConfig = {
    ...base,
    temporal: { ...base.temporal, taskQueue: uniqueName('reconcile-schedule') },
    reconcile: { ...base.reconcile, scheduleId: uniqueName('reconcile-hourly'), scheduleLagMinutes: 20 },
  };
  const compared: string[] = [];
  const stubs: Partial<Activities> = {
    listRegions: () => Promise.resolve([{ name: 'us-east-1', archive: [] }]),
    compareHours: ({ region, hours }) => {
      compared.push(...hours);
      return Promise.resolve({
        hours: hours.map((hour) => ({ region, hour, archive: EMPTY_SIDE, stats: EMPTY_SIDE, objects: 0 })),
        corrupt: [],
      });
    },
  };

  it('is created once, updated on the next call, and its runs reconcile the hour closed `lag` minutes ago', async () => {
    const connection = await NativeConnection.connect(temporalConnectionOptions(config.temporal));
    const worker = await Worker.create({
      connection,
      namespace: config.temporal.namespace,
      taskQueue: config.temporal.taskQueue,
      workflowBundle: await workflowBundle(),
      activities: stubs,
      dataConverter: dataConverterFor(config),
    });
    const running = worker.run();
    const { client, close } = await connectClient(config);
    const schedule = client.schedule.getHandle(config.reconcile.scheduleId);
    try {
      expect(await ensureReconcileSchedule(client, config)).toBe('created');
      expect(
        await ensureReconcileSchedule(client, {
          ...config,
          reconcile: { ...config.reconcile, scheduleLagMinutes: 25 },
        }),
      ).toBe('updated');
      const described = await schedule.describe();
      expect(described.spec.intervals).toEqual([{ every: HOUR_MS, offset: 25 * 60_000 }]);
      expect(described.action.type).toBe('startWorkflow');
      const args = (described.action as { args: ReconcileInput[] }).args;
      expect(args[0]).toMatchObject({
        closedHourLagMinutes: 25,
        attemptBudget: config.reconcile.attemptBudget,
      });

      await schedule.trigger();
      expect(
        await waitUntil(async () => (await schedule.describe()).info.recentActions.length > 0, 20_000, 200),
      ).toBe(true);
      const action = (await schedule.describe()).info.recentActions[0]!;
      const run = client.workflow.getHandle(
        action.action.workflow.workflowId,
        action.action.workflow.firstExecutionRunId,
      );
      const report = (await run.result()) as ReconcileReport;
      const closed = action.scheduledAt.getTime() - 25 * 60_000;
      const to = closed - (closed % HOUR_MS);
      expect(report).toMatchObject({
        from: new Date(to - HOUR_MS).toISOString(),
        to: new Date(to).toISOString(),
        regions: ['us-east-1'],
        bucketsCompared: 1,
        verdict: 'equal',
      });
      expect(compared).toEqual([new Date(to - HOUR_MS).toISOString()]);
    } finally {
      await schedule.delete();
      await close();
      worker.shutdown();
      await running;
      await connection.close();
    }
  });
});
