import { WorkflowIdConflictPolicy, type Client, type WorkflowHandle } from '@temporalio/client';
import type { AppConfig } from '../config/schema';
import { monitorStatusQuery } from '../shared/messages';
import type { MonitorSettings, MonitorStatus } from '../shared/monitor';
import type { regionHealthMonitor } from '../workflows/regionHealthMonitor';

/** The monitor's settings from the configuration. */
export function monitorSettings(config: AppConfig): MonitorSettings {
  const m = config.monitor;
  return {
    policy: m.policy,
    downAfter: m.downAfterFailures,
    upAfter: m.upAfterSuccesses,
    intervalMs: m.intervalMs,
    backlogThreshold: config.notifications.capturedBacklogThreshold,
  };
}

/** Starts regionHealthMonitor unless it runs already (one per deployment); answers its handle. */
export async function ensureMonitor(
  client: Client,
  config: AppConfig,
  settings: MonitorSettings = monitorSettings(config),
): Promise<WorkflowHandle<typeof regionHealthMonitor>> {
  return client.workflow.start<typeof regionHealthMonitor>('regionHealthMonitor', {
    workflowId: config.monitor.workflowId,
    taskQueue: config.temporal.taskQueue,
    args: [{ settings }],
    workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
    staticSummary: `Region health monitor (policy ${settings.policy})`,
  });
}

export async function monitorStatus(client: Client, config: AppConfig): Promise<MonitorStatus> {
  return client.workflow.getHandle(config.monitor.workflowId).query(monitorStatusQuery);
}
