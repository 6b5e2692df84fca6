import {
  WorkflowIdConflictPolicy,
  WorkflowNotFoundError,
  type Client,
  type QueryDefinition,
  type WorkflowHandle,
} from '@temporalio/client';
import type { AppConfig } from '../config/schema';
import type { RegionRevocation } from '../shared/capLedger';
import type { CapDefinition, StoredCap } from '../shared/caps';
import {
  capRevocationsQuery,
  capsQuery,
  createCapUpdate,
  deleteCapUpdate,
  liftCapRevocationUpdate,
  recordCapRevocationUpdate,
  updateCapUpdate,
} from '../shared/messages';
import type { capRegistry } from '../workflows/capRegistry';

const OPERATOR_TIMEOUT_MS = 30_000;

/**
 * Operator-side access to the cap registry; starts it the first time it is needed. A refused change throws
 * WorkflowUpdateFailedError whose cause says why (every field at fault, an unknown or taken ID).
 */
export class CapsClient {
  constructor(
    private readonly client: Client,
    private readonly config: AppConfig,
    /** Tests give it a low continue-as-new threshold. */
    private readonly maxHistoryEvents?: number,
  ) {}

  get workflowId(): string {
    return this.config.caps.registryWorkflowId;
  }

  /** An operator's change gives up after 30 s; an ingest's read (peek) after caps.updateTimeoutMs. */
  private bounded<T>(fn: () => Promise<T>, timeoutMs = OPERATOR_TIMEOUT_MS): Promise<T> {
    return this.client.withDeadline(Date.now() + timeoutMs, fn);
  }

  /** Starts it when absent; the handle follows the latest run (it continues as new from time to time). */
  async handle(): Promise<WorkflowHandle<typeof capRegistry>> {
    await this.bounded(() =>
      this.client.workflow.start<typeof capRegistry>('capRegistry', {
        workflowId: this.workflowId,
        taskQueue: this.config.temporal.taskQueue,
        args: [this.maxHistoryEvents === undefined ? {} : { maxHistoryEvents: this.maxHistoryEvents }],
        workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
        staticSummary: 'Cap registry: the cap definitions, changed only through validated updates',
      }),
    );
    return this.client.workflow.getHandle<typeof capRegistry>(this.workflowId);
  }

  async list(): Promise<StoredCap[]> {
    const handle = await this.handle();
    return this.bounded(() => handle.query(capsQuery));
  }

  /** The definitions without starting the registry (what an enforcing ingest reads): none before it exists. */
  peek(): Promise<StoredCap[]> {
    return this.peekAt(capsQuery);
  }

  /** The regions a failover revoked, without starting the registry: none before it exists. */
  peekRevocations(): Promise<RegionRevocation[]> {
    return this.peekAt(capRevocationsQuery);
  }

  private async peekAt<T>(query: QueryDefinition<T[]>): Promise<T[]> {
    try {
      return await this.bounded(
        () => this.client.workflow.getHandle(this.workflowId).query(query),
        this.config.caps.updateTimeoutMs,
      );
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return [];
      throw err;
    }
  }

  /**
   * Records a failover's revocation of a region, for ledgers started later (idempotent); bounded by
   * caps.updateTimeoutMs. False when there is no registry (no cap was ever defined): it is not started for this.
   */
  recordRevocation(r: RegionRevocation): Promise<boolean> {
    return this.updateIfRunning(recordCapRevocationUpdate, r);
  }

  /** Lifts a region's recorded revocation (idempotent); false when there is no registry. */
  liftRevocation(r: RegionRevocation): Promise<boolean> {
    return this.updateIfRunning(liftCapRevocationUpdate, r);
  }

  private async updateIfRunning(
    update: typeof recordCapRevocationUpdate,
    r: RegionRevocation,
  ): Promise<boolean> {
    try {
      await this.bounded(
        () => this.client.workflow.getHandle(this.workflowId).executeUpdate(update, { args: [r] }),
        this.config.caps.updateTimeoutMs,
      );
      return true;
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return false;
      throw err;
    }
  }

  async get(id: string): Promise<StoredCap | undefined> {
    return (await this.list()).find((c) => c.id === id);
  }

  async create(cap: CapDefinition, by: string): Promise<StoredCap> {
    const handle = await this.handle();
    return this.bounded(() => handle.executeUpdate(createCapUpdate, { args: [{ cap, by }] }));
  }

  /** Replaces the definition; with `expectedRevision`, only if nobody changed it since that revision. */
  async update(cap: CapDefinition, by: string, expectedRevision?: number): Promise<StoredCap> {
    const handle = await this.handle();
    return this.bounded(() =>
      handle.executeUpdate(updateCapUpdate, { args: [{ cap, by, expectedRevision }] }),
    );
  }

  async delete(id: string, by: string): Promise<StoredCap> {
    const handle = await this.handle();
    return this.bounded(() => handle.executeUpdate(deleteCapUpdate, { args: [{ id, by }] }));
  }
}
