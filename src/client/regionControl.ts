import { WorkflowIdConflictPolicy, type Client, type WorkflowHandle } from '@temporalio/client';
import type { AppConfig } from '../config/schema';
import {
  abortOperationUpdate,
  approveOperationUpdate,
  regionControlStateQuery,
  requestOperationUpdate,
} from '../shared/messages';
import type {
  CapsHandoverSettings,
  OperationRecord,
  OperationRequest,
  RegionControlInput,
  RegionControlState,
} from '../shared/regionControl';
import type { regionControl } from '../workflows/regionControl';

/** regionControl's starting state from the configuration: every region at home, the configured bucket order. */
export function regionControlInput(
  config: AppConfig,
  overrides: Partial<Pick<RegionControlInput, 'traffic' | 'maxHistoryEvents'>> = {},
): RegionControlInput {
  return {
    regions: config.regions.map((r) => ({
      name: r.name,
      archive: r.archive.map((t) => ({ ...t })),
      homeArchive: r.archive.map((t) => ({ ...t })),
      statsUrl: r.statsUrl,
      ...(r.routingHealthUrl ? { routingHealthUrl: r.routingHealthUrl } : {}),
    })),
    traffic: {
      hostedZoneName: config.route53.hostedZoneName,
      recordName: config.route53.recordName,
    },
    approvalTimeoutMs: config.regionControl.approvalTimeoutMs,
    // Workers see a redirect within one cache period; the margin covers a slow query.
    verifyWithinMs: 2 * config.regionControl.targetCacheMs + 5000,
    capsHandover: capsHandoverOf(config),
    ...overrides,
  };
}

/**
 * How long the cap hand-over waits: a lease may have just been renewed, its batches get `reclaimAfterMs` to
 * land, and counting them takes a while more; it looks about as often as holders renew.
 */
export function capsHandoverOf(config: AppConfig): CapsHandoverSettings {
  const { leaseMs, leaseMarginMs, reclaimAfterMs } = config.caps;
  return {
    withinMs: leaseMs + reclaimAfterMs + 60_000,
    checkEveryMs: Math.max(500, Math.min(5_000, Math.floor((leaseMs - leaseMarginMs) / 3))),
  };
}

/** Operator-side access to regionControl; starts it (from the configuration) the first time it is needed. */
export class RegionControlClient {
  constructor(
    private readonly client: Client,
    private readonly config: AppConfig,
    /** Tests and benchmarks give it a hosted zone of their own, or a low continue-as-new threshold. */
    private readonly overrides: Parameters<typeof regionControlInput>[1] = {},
  ) {}

  get workflowId(): string {
    return this.config.regionControl.workflowId;
  }

  /** Starts it when absent; the handle follows the latest run (it continues as new from time to time). */
  async handle(): Promise<WorkflowHandle<typeof regionControl>> {
    await this.client.workflow.start<typeof regionControl>('regionControl', {
      workflowId: this.workflowId,
      taskQueue: this.config.temporal.taskQueue,
      args: [regionControlInput(this.config, this.overrides)],
      workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
      staticSummary: 'Region control: archive targets, traffic weights, failovers and failbacks',
    });
    return this.client.workflow.getHandle<typeof regionControl>(this.workflowId);
  }

  async state(): Promise<RegionControlState> {
    return (await this.handle()).query(regionControlStateQuery);
  }

  /** Refused (WorkflowUpdateFailedError, with the reason) when validation or preflight says no. */
  async request(req: OperationRequest): Promise<OperationRecord> {
    return (await this.handle()).executeUpdate(requestOperationUpdate, { args: [req] });
  }

  async approve(operationId: string, operator: string): Promise<OperationRecord> {
    return (await this.handle()).executeUpdate(approveOperationUpdate, { args: [{ operationId, operator }] });
  }

  async abort(operationId: string, operator: string): Promise<OperationRecord> {
    return (await this.handle()).executeUpdate(abortOperationUpdate, { args: [{ operationId, operator }] });
  }

  /** The operation with this ID: running, or in the history once finished. */
  async operation(operationId: string): Promise<OperationRecord | undefined> {
    const s = await this.state();
    return s.current?.id === operationId ? s.current : s.history.find((o) => o.id === operationId);
  }
}
