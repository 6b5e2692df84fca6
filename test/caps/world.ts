import type { Client } from '@temporalio/client';
import { connectClient } from '../../src/client/connect';
import type { AppConfig } from '../../src/config/schema';
import { CapLedgerClient } from '../../src/client/capLedgerClient';
import { hourOf } from '../../src/shared/batch';
import type { SessionRef } from '../../src/client/holderSessionClient';
import { capLedgerId, type CapLedgerInput } from '../../src/shared/capLedger';
import { holderSessionId, type HolderSessionStatus } from '../../src/shared/holderSession';
import { holderSessionStatusQuery } from '../../src/shared/messages';
import type { CapDefinition, StoredCap } from '../../src/shared/caps';
import { testConfig, uniqueName } from '../helpers/env';
import { runWorker } from '../helpers/temporal';

/** A valid definition tests and recorded histories start from. */
export const DAILY_CAP: CapDefinition = {
  id: 'offer-1-daily',
  scope: { offerId: 'offer-1' },
  metric: 'conversions',
  window: { kind: 'day', timeZone: 'Europe/Berlin' },
  limit: 500,
  mode: 'hard',
};

/** A lifetime cap as the registry would hold it (revision 1, made now by `by`), for driving a ledger directly. */
export function storedLifetimeCap(
  id: string,
  limit: number,
  by: string,
  base: CapDefinition = DAILY_CAP,
): StoredCap {
  const now = new Date().toISOString();
  return {
    ...base,
    id,
    window: { kind: 'lifetime' },
    limit,
    revision: 1,
    createdAt: now,
    updatedAt: now,
    updatedBy: by,
  };
}

/**
 * `cap`'s lifetime ledger started on `config`'s task queue, with a holder's request as an ingest makes it
 * (its region from its name, `<region>/…`; this hour announced) and its give-back.
 */
export async function startLifetimeLedger(
  { client, config }: { client: Client; config: AppConfig },
  cap: StoredCap,
  input: Partial<CapLedgerInput> & { reclaimAfterMs: number },
) {
  const window = { key: 'lifetime', startMs: 0 };
  const ledgers = new CapLedgerClient(client, config);
  const workflowId = capLedgerId(cap.id, window.key);
  const { firstExecutionRunId } = await client.workflow.start('capLedger', {
    workflowId,
    taskQueue: config.temporal.taskQueue,
    args: [{ capId: cap.id, window, ...input }],
  });
  const ask = (holder: string, spent: number, wantGranted: number, leaseMs = 60_000, session?: string) =>
    ledgers.request(
      {
        holder,
        region: holder.split('/')[0]!,
        cap,
        window,
        spent,
        wantGranted,
        leaseMs,
        hours: [hourOf(new Date().toISOString())],
        ...(session && { session }),
      },
      { revoked: input.revoked },
    );
  const giveBack = (holder: string, spent: number) => ledgers.giveBack(cap.id, window.key, holder, spent);
  const handle = client.workflow.getHandle(workflowId);
  return { cap, window, ledgers, workflowId, firstExecutionRunId, ask, giveBack, handle };
}

export interface CapsWorld {
  /** The test stack's configuration with a task queue and a registry workflow ID of this world's own. */
  config: AppConfig;
  client: Client;
  stop(): Promise<void>;
}

/** A real worker and client on the test stack, with a cap registry no other test touches. */
export async function startCapsWorld(): Promise<CapsWorld> {
  const base = testConfig();
  const config: AppConfig = {
    ...base,
    temporal: { ...base.temporal, taskQueue: uniqueName('caps') },
    caps: { ...base.caps, registryWorkflowId: uniqueName('cap-registry') },
  };
  const { client, close } = await connectClient(config);
  const stopWorker = await runWorker(config);
  return {
    config,
    client,
    async stop() {
      await client.workflow
        .getHandle(config.caps.registryWorkflowId)
        .terminate('test done')
        .catch(() => undefined); // never started, or already ended
      await stopWorker();
      await close();
    },
  };
}

/** A new holder of `region` (`<region>/<name>-…`) and its first session, as a holder names them. */
export function newSessionRef(region: string, name = 'h'): SessionRef {
  const holder = `${region}/${uniqueName(name)}`;
  return { id: holderSessionId(holder, 1), holder, region };
}

/** What a holder session says of itself. */
export const sessionStatus = (client: Client, id: string): Promise<HolderSessionStatus> =>
  client.workflow.getHandle(id).query(holderSessionStatusQuery);

/**
 * `ref`'s session started directly, to continue as new past `maxHistoryEvents` (a holder's renewal would start
 * it with the default); answers its first run's ID.
 */
export async function startShortSession(
  { client, config }: { client: Client; config: AppConfig },
  ref: SessionRef,
  maxHistoryEvents: number,
): Promise<string> {
  const { firstExecutionRunId } = await client.workflow.start('capHolderSession', {
    workflowId: ref.id,
    taskQueue: config.temporal.taskQueue,
    args: [{ holder: ref.holder, region: ref.region, leaseMs: 60_000, maxHistoryEvents }],
  });
  return firstExecutionRunId;
}
