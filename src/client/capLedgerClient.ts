import {
  WithStartWorkflowOperation,
  WorkflowIdConflictPolicy,
  WorkflowIdReusePolicy,
  WorkflowNotFoundError,
  type Client,
} from '@temporalio/client';
import type { AppConfig } from '../config/schema';
import {
  capLedgerId,
  type AllowanceGrant,
  type AllowanceRequest,
  type CapLedgerInput,
  type CapLedgerStatus,
  type CapWindow,
} from '../shared/capLedger';
import { describeCap, type StoredCap } from '../shared/caps';
import { capLedgerStatusQuery, requestAllowanceUpdate, returnAllowanceUpdate } from '../shared/messages';
import type { capLedger } from '../workflows/capLedger';

/**
 * A holder's and an operator's calls to the cap ledgers, each bounded by
 * `caps.updateTimeoutMs`. The first request of a window starts its ledger (update-with-start); a ledger that
 * finished is never started again (its window is closed), so no window is granted twice.
 */
export class CapLedgerClient {
  constructor(
    private readonly client: Client,
    private readonly config: AppConfig,
  ) {}

  private bounded<T>(fn: () => Promise<T>): Promise<T> {
    return this.client.withDeadline(Date.now() + this.config.caps.updateTimeoutMs, fn);
  }

  /** The input a window's ledger starts with: it closes once no event of the window can be accepted any more. */
  ledgerInput(cap: StoredCap, window: CapWindow): CapLedgerInput {
    const { maxAgeMs } = this.config.ingest.timestampWindow;
    return {
      capId: cap.id,
      window,
      closesAtMs: window.endMs === undefined ? undefined : window.endMs + maxAgeMs,
      reclaimAfterMs: this.config.caps.reclaimAfterMs,
    };
  }

  async request(req: AllowanceRequest): Promise<AllowanceGrant> {
    const start = new WithStartWorkflowOperation<typeof capLedger>('capLedger', {
      workflowId: capLedgerId(req.cap.id, req.window.key),
      taskQueue: this.config.temporal.taskQueue,
      args: [this.ledgerInput(req.cap, req.window)],
      workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
      workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
      staticSummary: `Cap ledger ${req.cap.id}, window ${req.window.key}: ${describeCap(req.cap)}`,
    });
    return this.bounded(() =>
      this.client.workflow.executeUpdateWithStart(requestAllowanceUpdate, {
        args: [req],
        startWorkflowOperation: start,
      }),
    );
  }

  async giveBack(capId: string, windowKey: string, holder: string, spent: number): Promise<void> {
    await this.bounded(() =>
      this.client.workflow
        .getHandle(capLedgerId(capId, windowKey))
        .executeUpdate(returnAllowanceUpdate, { args: [{ holder, spent }] }),
    );
  }

  /** A window's ledger as it stands; undefined when no holder asked for that window yet. */
  async status(capId: string, windowKey: string): Promise<CapLedgerStatus | undefined> {
    try {
      return await this.bounded(() =>
        this.client.workflow.getHandle(capLedgerId(capId, windowKey)).query(capLedgerStatusQuery),
      );
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return undefined;
      throw err;
    }
  }
}
