import {
  WithStartWorkflowOperation,
  WorkflowExecutionAlreadyStartedError,
  WorkflowIdConflictPolicy,
  WorkflowIdReusePolicy,
  WorkflowUpdateFailedError,
} from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { SESSION_ENDED, type SessionLease } from '../shared/holderSession';
import { endHolderSessionUpdate, renewHolderSessionUpdate } from '../shared/messages';
import type { capHolderSession } from '../workflows/capHolderSession';
import { CapCalls } from './capCalls';

/** Which session a holder renews: its workflow ID, and whose it is. */
export interface SessionRef {
  id: string;
  holder: string;
  region: string;
}

/**
 * A cap holder's calls to its session (capHolderSession), each bounded by `caps.updateTimeoutMs`. A renewal
 * is an update-with-start: the first starts the session, and one that ended (it is never started again, so
 * no ledger is left untold) answers `isSessionEnded`.
 */
export class HolderSessionClient extends CapCalls {
  async renew(s: SessionRef, leaseMs: number): Promise<SessionLease> {
    const start = new WithStartWorkflowOperation<typeof capHolderSession>('capHolderSession', {
      workflowId: s.id,
      taskQueue: this.config.temporal.taskQueue,
      args: [{ holder: s.holder, region: s.region, leaseMs }],
      workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
      workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
      staticSummary: `Cap holder session of ${s.holder} (${s.region}): one lease on all the allowance it holds`,
    });
    return this.bounded(() =>
      this.client.workflow.executeUpdateWithStart(renewHolderSessionUpdate, {
        args: [{ leaseMs }],
        startWorkflowOperation: start,
      }),
    );
  }

  /** The holder closed: it spends nothing more; `settled` are ledgers it gave back to. */
  async end(id: string, settled: string[]): Promise<void> {
    await this.bounded(() =>
      this.client.workflow.getHandle(id).executeUpdate(endHolderSessionUpdate, { args: [{ settled }] }),
    );
  }
}

/**
 * The session is over (its lease ran out, or it was closed), said by the session itself (a finished one is
 * not started again; a running one past its lease refuses the renewal) or by a ledger asked under it.
 */
export function isSessionEnded(err: unknown): boolean {
  if (err instanceof WorkflowExecutionAlreadyStartedError) return true;
  if (!(err instanceof WorkflowUpdateFailedError)) return false;
  const cause = err.cause;
  return cause instanceof ApplicationFailure && cause.type === SESSION_ENDED;
}
