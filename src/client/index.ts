import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { AppConfig } from '../config/schema';
import type { BatchState, BatchStatus, QuarantineDecision } from '../shared/batch';
import { batchStatusQuery, resolveQuarantineUpdate, retryNowSignal } from '../shared/messages';
import { runningBatchesQuery } from './batchQuery';
import { CapEnforcer } from './capEnforcer';
import { connectClient } from './connect';
import { EventSender, type SendResult } from './eventSender';

export type { SendResult } from './eventSender';
export { NotAccepted } from './eventSender';
export type { RejectedRecord } from './validate';
export { Overloaded } from './batcher';

/**
 * The typed API for Node services and the CLI: hand events over in-process (the same validation, batching and
 * fast path as the HTTP ingest: S3 and the stats API directly, Temporal only for what fails), and inspect,
 * nudge, release or discard captured batches.
 */
export class StormproofClient {
  private capsStarted?: Promise<void>;

  private constructor(
    readonly temporal: Client,
    private readonly sender: EventSender,
    private readonly closeConnection: () => Promise<void>,
    private readonly caps?: CapEnforcer,
  ) {}

  /**
   * `region`: where this process runs, the region its cap allowances are held for (default
   * `ingest.region`, else the first region); caps are enforced as the ingest does unless `caps.enforce` is false.
   */
  static async connect(config: AppConfig, opts: { region?: string } = {}): Promise<StormproofClient> {
    const { client, close } = await connectClient(config);
    const caps = config.caps.enforce
      ? new CapEnforcer(client, config, {
          region: opts.region ?? config.ingest.region ?? config.regions[0]!.name,
          holderKind: 'client',
          // A client holds a share only of the caps it sends to.
          prefetch: false,
        })
      : undefined;
    return new StormproofClient(client, new EventSender(client, config, { caps }), close, caps);
  }

  /**
   * Resolves once every accepted event is durable (archived in S3, or captured in Temporal); invalid records
   * are returned, not thrown. Each accepted event is judged against the caps first, like the ingest's (the
   * first send reads the caps; a cap's first event waits for its first grant). Rejects with `Overloaded` or
   * `NotAccepted` when nothing was accepted; when only some batches were refused, `notAccepted` lists the
   * records to resend.
   */
  async send(events: readonly unknown[]): Promise<SendResult> {
    // Started on the first send, not at connect: the CLI's other commands hold no allowance.
    await (this.capsStarted ??= this.caps?.start());
    return this.sender.send(events);
  }

  batchStatus(workflowId: string): Promise<BatchStatus> {
    return this.temporal.workflow.getHandle(workflowId).query(batchStatusQuery);
  }

  /**
   * Ends a captured batch's wait now. A batch that finished meanwhile (its own timer fired first) answers
   * 'finished' rather than failing: the operator's intent is met. An unknown ID still throws.
   */
  async retryNow(workflowId: string): Promise<'signalled' | 'finished'> {
    const handle = this.temporal.workflow.getHandle(workflowId);
    try {
      await handle.signal(retryNowSignal);
      return 'signalled';
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
      const closed = await handle.describe().then(
        (d) => d.status.name !== 'RUNNING',
        () => false,
      );
      if (closed) return 'finished';
      throw err;
    }
  }

  /** Releases (tries again) or discards a quarantined batch, recording who and why; refused otherwise. */
  resolveQuarantine(workflowId: string, decision: QuarantineDecision): Promise<BatchStatus> {
    return this.temporal.workflow.getHandle(workflowId).executeUpdate(resolveQuarantineUpdate, {
      args: [decision],
    });
  }

  /** Workflow IDs of running batches in a state, e.g. the captured backlog (a visibility query). */
  async batchesIn(state: BatchState, limit = 1000): Promise<string[]> {
    const ids: string[] = [];
    const query = runningBatchesQuery(state);
    for await (const wf of this.temporal.workflow.list({ query })) {
      ids.push(wf.workflowId);
      if (ids.length >= limit) break;
    }
    return ids;
  }

  /** Hands over what is still lingering, waits for its work, and closes the connection. */
  async close(): Promise<void> {
    await this.sender.close();
    await this.closeConnection();
  }
}
