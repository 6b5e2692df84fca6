import { upsertSchedule } from './schedule';
import {
  ScheduleOverlapPolicy,
  WorkflowExecutionAlreadyStartedError,
  type Client,
  type WorkflowHandle,
} from '@temporalio/client';
import type { AppConfig } from '../config/schema';
import { reconcileReportQuery } from '../shared/messages';
import {
  HOUR_MS,
  reconcileWorkflowId,
  validateWindow,
  type ReconcileInput,
  type ReconcileOptions,
  type ReconcileReport,
} from '../shared/reconcile';
import type { reconcileWindow } from '../workflows/reconcileWindow';

export type ReconcileHandle = WorkflowHandle<typeof reconcileWindow>;

export interface ReconcileRequest {
  from: string;
  to: string;
  /** All configured regions when absent or empty. */
  regions?: string[];
  /** Overrides of the configured budget, settle time, slice size, concurrency (tests shorten settling). */
  options?: Partial<ReconcileOptions>;
}

function optionsOf(config: AppConfig, overrides: Partial<ReconcileOptions> = {}): ReconcileOptions {
  const { attemptBudget, settleMs, hoursPerSlice, concurrency } = config.reconcile;
  return { attemptBudget, settleMs, hoursPerSlice, concurrency, ...overrides };
}

/**
 * Starts the reconciliation of a window, or attaches to the run of the same window already going (the
 * workflow ID is derived from the window and regions, so two operators never replay the same hours twice).
 */
export async function startReconcile(
  client: Client,
  config: AppConfig,
  req: ReconcileRequest,
): Promise<{ handle: ReconcileHandle; attached: boolean }> {
  validateWindow(req.from, req.to);
  for (const r of req.regions ?? []) {
    if (!config.regions.some((c) => c.name === r))
      throw new Error(
        `region: ${r} is not configured (known: ${config.regions.map((c) => c.name).join(', ')})`,
      );
  }
  const regions = req.regions ?? [];
  const from = new Date(req.from).toISOString();
  const to = new Date(req.to).toISOString();
  const workflowId = reconcileWorkflowId(from, to, regions);
  const input: ReconcileInput = { ...optionsOf(config, req.options), from, to, regions };
  try {
    const handle = await client.workflow.start<typeof reconcileWindow>('reconcileWindow', {
      workflowId,
      taskQueue: config.temporal.taskQueue,
      args: [input],
      staticSummary: `Reconcile ${regions.length ? regions.join(', ') : 'all regions'} ${from} .. ${to}`,
    });
    return { handle, attached: false };
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    return { handle: client.workflow.getHandle<typeof reconcileWindow>(workflowId), attached: true };
  }
}

export function reconcileReport(handle: ReconcileHandle): Promise<ReconcileReport> {
  return handle.query(reconcileReportQuery);
}

/**
 * Creates the hourly reconciliation Schedule, or updates it to the current configuration: safe to run on
 * every deploy. Each run reconciles the hour that closed `scheduleLagMinutes` earlier; runs never overlap
 * (a slow one makes the next wait) and missed runs are caught up.
 */
export async function ensureReconcileSchedule(
  client: Client,
  config: AppConfig,
): Promise<'created' | 'updated'> {
  const { scheduleId, scheduleLagMinutes } = config.reconcile;
  const input: ReconcileInput = { ...optionsOf(config), closedHourLagMinutes: scheduleLagMinutes };
  return upsertSchedule(client, {
    scheduleId,
    spec: { intervals: [{ every: HOUR_MS, offset: scheduleLagMinutes * 60_000 }] },
    action: {
      type: 'startWorkflow' as const,
      workflowType: 'reconcileWindow',
      workflowId: 'reconcile-hourly',
      taskQueue: config.temporal.taskQueue,
      args: [input],
      staticSummary: `Reconcile the hour closed ${scheduleLagMinutes} min ago, all regions`,
    },
    policies: { overlap: ScheduleOverlapPolicy.BUFFER_ONE, catchupWindow: 24 * HOUR_MS },
  });
}
