import { CapsClient } from '../../src/client/caps';
import { CapLedgerClient } from '../../src/client/capLedgerClient';
import { HolderSessionClient } from '../../src/client/holderSessionClient';
import { capLedgerId, type CapLedgerInput } from '../../src/shared/capLedger';
import { hourOf } from '../../src/shared/batch';
import { waitUntil } from '../../src/util/waitUntil';
import {
  DAILY_CAP,
  newSessionRef,
  startLifetimeLedger,
  startShortSession,
  storedLifetimeCap,
} from '../caps/world';
import { uniqueName } from '../helpers/env';
import type { Scenario, StackContext } from './scenarios';

const CAP = DAILY_CAP;

/** A lifetime cap's ledger started for recording (world.ts's startLifetimeLedger on the stack's task queue). */
const recordedLedger = (
  stack: StackContext,
  limit: number,
  input: Partial<CapLedgerInput> & { reclaimAfterMs: number },
) => startLifetimeLedger(stack, storedLifetimeCap(uniqueName('cap-record'), limit, 'recorder'), input);

/** The cap registry through each kind of change, a refused one, and a continue-as-new carrying them. */
export const capScenarios: Scenario[] = [
  {
    name: 'capRegistry-changes-continued-as-new',
    on: 'stack',
    async record(stack) {
      const config = {
        ...stack.config,
        caps: { ...stack.config.caps, registryWorkflowId: uniqueName('cap-registry-record') },
      };
      const caps = new CapsClient(stack.client, config, 25);
      const handle = await caps.handle();
      const { runId } = await handle.describe();
      const created = await caps.create(CAP, 'recorder');
      await caps.create({ ...CAP, id: 'offer-2-lifetime', window: { kind: 'lifetime' } }, 'recorder');
      await caps.create({ ...CAP, id: 'offer-1-daily' }, 'recorder').catch(() => undefined); // refused: taken
      let revision = created.revision;
      for (let limit = 501; (await handle.describe()).runId === runId; limit++)
        revision = (await caps.update({ ...CAP, limit }, 'recorder', revision)).revision;
      await caps.delete('offer-2-lifetime', 'recorder');
      // The first run, whose history ends in continue-as-new; the registry itself keeps running.
      const history = await stack.client.workflow
        .getHandle(config.caps.registryWorkflowId, runId)
        .fetchHistory();
      await handle.terminate('recorded');
      return history;
    },
  },
  {
    // Two holders: one spends 8 of 10 (an alert at 80%) and returns; the other's lease ends
    // unrenewed (stranded, counted from the archive, reclaimed); then the window closes and the ledger ends.
    name: 'capLedger-grant-return-expire-reclaim-close',
    on: 'stack',
    async record(stack) {
      const l = await recordedLedger(stack, 10, { closesAtMs: Date.now() + 8_000, reclaimAfterMs: 500 });
      await l.ask('us-east-1/recorder-a', 0, 8);
      await l.ask('us-east-1/recorder-b', 0, 6, 1_000); // granted the 2 left
      await l.ask('us-east-1/recorder-a', 8, 12); // 80% spent: an alert; nothing left to grant
      await l.giveBack('us-east-1/recorder-a', 8);
      await l.handle.result();
      return l.handle.fetchHistory();
    },
  },
  {
    // Renewals leave the lease timer running; a shorter lease and an alert due wake the loop; both holders
    // give back and the window closes (the ledger since KEEPS_LEASE_TIMER).
    name: 'capLedger-renewals-keep-lease-timer',
    on: 'stack',
    async record(stack) {
      const l = await recordedLedger(stack, 10, { closesAtMs: Date.now() + 8_000, reclaimAfterMs: 500 });
      await l.ask('us-east-1/recorder-a', 0, 7);
      for (let spent = 1; spent <= 3; spent++) await l.ask('us-east-1/recorder-a', spent, 7);
      await l.ask('us-west-2/recorder-b', 0, 1, 20_000); // ends before a's lease: wakes the loop
      await l.ask('us-east-1/recorder-a', 7, 7); // 70% spent: a renewal, the timer kept
      await l.ask('us-west-2/recorder-b', 1, 1, 20_000); // 80% spent: an alert is due, the loop woken
      await l.giveBack('us-east-1/recorder-a', 7);
      await l.giveBack('us-west-2/recorder-b', 1);
      await l.handle.result();
      return l.handle.fetchHistory();
    },
  },
  {
    // Two holders topping up past the limit; the first run's history ends in continue-as-new.
    name: 'capLedger-topups-continued-as-new',
    on: 'stack',
    async record(stack) {
      const now = new Date().toISOString();
      const cap = storedLifetimeCap(uniqueName('cap-record-can'), 100, 'recorder');
      const window = { key: 'lifetime', startMs: 0 };
      const workflowId = capLedgerId(cap.id, window.key);
      const first = await stack.client.workflow.start('capLedger', {
        workflowId,
        taskQueue: stack.config.temporal.taskQueue,
        args: [{ capId: cap.id, window, reclaimAfterMs: 1000, maxHistoryEvents: 30 }],
      });
      const ledgers = new CapLedgerClient(stack.client, stack.config);
      const granted = { a: 0, b: 0 };
      for (let round = 0; round < 8; round++)
        for (const h of ['a', 'b'] as const)
          granted[h] = (
            await ledgers.request({
              holder: `us-east-1/recorder-${h}`,
              region: 'us-east-1',
              cap,
              window,
              spent: granted[h],
              wantGranted: granted[h] + 10,
              leaseMs: 600_000,
              hours: [hourOf(now)],
            })
          ).granted;
      const history = await stack.client.workflow
        .getHandle(workflowId, first.firstExecutionRunId)
        .fetchHistory();
      await stack.client.workflow.getHandle(workflowId).terminate('recorded');
      return history;
    },
  },
  {
    // A failover revokes us-east-1: its holder is answered its spend and gives back; a restore lets it be
    // granted again; both holders return and the window closes.
    name: 'capLedger-revoke-restore',
    on: 'stack',
    async record(stack) {
      const l = await recordedLedger(stack, 10, { closesAtMs: Date.now() + 10_000, reclaimAfterMs: 500 });
      const revocation = { region: 'us-east-1', operationId: 'failover-us-east-1-recorder' };
      await l.ask('us-east-1/recorder-a', 0, 4);
      await l.ask('us-west-2/recorder-b', 0, 4);
      await l.ledgers.revokeRegion(l.workflowId, revocation);
      await l.ledgers.revokeRegion(l.workflowId, revocation); // idempotent
      await l.ask('us-east-1/recorder-a', 1, 4); // answered 1, told it is revoked
      await l.giveBack('us-east-1/recorder-a', 1);
      await l.ledgers.restoreRegion(l.workflowId, revocation);
      await l.ask('us-east-1/recorder-a', 1, 4); // granted again
      await l.giveBack('us-east-1/recorder-a', 2);
      await l.giveBack('us-west-2/recorder-b', 0);
      await l.handle.result();
      return l.handle.fetchHistory();
    },
  },
  {
    // The registry records a failover's revocation (twice: idempotent), lifts it, records another, and
    // continues as new carrying it.
    name: 'capRegistry-revocations-continued-as-new',
    on: 'stack',
    async record(stack) {
      const config = {
        ...stack.config,
        caps: { ...stack.config.caps, registryWorkflowId: uniqueName('cap-registry-record') },
      };
      const caps = new CapsClient(stack.client, config, 25);
      const handle = await caps.handle();
      const { runId } = await handle.describe();
      await caps.create(CAP, 'recorder');
      const first = { region: 'us-east-1', operationId: 'failover-us-east-1-recorder' };
      await caps.recordRevocation(first);
      await caps.recordRevocation(first);
      await caps.liftRevocation(first);
      for (let i = 0; (await handle.describe()).runId === runId; i++)
        await caps.recordRevocation({ region: 'us-west-2', operationId: `failover-us-west-2-${i}` });
      const history = await stack.client.workflow
        .getHandle(config.caps.registryWorkflowId, runId)
        .fetchHistory();
      await handle.terminate('recorded');
      return history;
    },
  },
  {
    // Holders leased by their sessions: a registers with its session and spends; b's session is closed
    // with b's grant not given back (expired, stranded, counted from the archive, reclaimed); a request
    // under b's ended session is refused; a gives back and the window closes.
    name: 'capLedger-sessions-register-end-reclaim-close',
    on: 'stack',
    async record(stack) {
      const l = await recordedLedger(stack, 10, { closesAtMs: Date.now() + 8_000, reclaimAfterMs: 500 });
      const sessions = new HolderSessionClient(stack.client, stack.config);
      const [a, b] = [newSessionRef('us-east-1', 'recorder'), newSessionRef('us-west-2', 'recorder')];
      await sessions.renew(a, 60_000);
      await sessions.renew(b, 60_000);
      await l.ask(a.holder, 0, 4, 60_000, a.id); // registers with a's session, granted 4
      await l.ask(b.holder, 0, 4, 60_000, b.id); // granted 4
      await l.ask(a.holder, 4, 6, 60_000, a.id); // a top-up: registered already
      await sessions.end(b.id, []); // b's grant not given back: the session tells the ledger
      await waitUntil(
        async () =>
          (await l.ledgers.status(l.cap.id, 'lifetime'))?.holders.some((h) => h.state === 'reclaimed') ??
          false,
        30_000,
        100,
      );
      await l.ask(b.holder, 0, 4, 60_000, b.id).catch(() => undefined); // refused: b's session ended
      await l.giveBack(a.holder, 5);
      await sessions.end(a.id, [l.workflowId]);
      await l.handle.result();
      return l.handle.fetchHistory();
    },
  },
  {
    // A window that closes while a session's holder still holds its grant (its session lives on and it never
    // gives back): the ledger expires it as of the close, counts it from the archive, reclaims it, closes.
    name: 'capLedger-session-holder-at-close',
    on: 'stack',
    async record(stack) {
      const l = await recordedLedger(stack, 10, { closesAtMs: Date.now() + 4_000, reclaimAfterMs: 500 });
      const sessions = new HolderSessionClient(stack.client, stack.config);
      const ref = newSessionRef('us-east-1', 'recorder');
      await sessions.renew(ref, 600_000);
      await l.ask(ref.holder, 0, 4, 600_000, ref.id);
      await l.handle.result();
      await sessions.end(ref.id, []);
      return l.handle.fetchHistory();
    },
  },
  {
    // A holder session renewed, two ledgers registering with it, its lease ending unrenewed: it tells both
    // and ends. Then one that continues as new, carrying its lease and ledgers.
    name: 'capHolderSession-renew-register-expire',
    on: 'stack',
    async record(stack) {
      const sessions = new HolderSessionClient(stack.client, stack.config);
      const ref = newSessionRef('us-east-1', 'recorder');
      const { holder } = ref;
      const one = await recordedLedger(stack, 10, { reclaimAfterMs: 500 });
      const two = await recordedLedger(stack, 10, { reclaimAfterMs: 500 });
      await sessions.renew(ref, 2_000);
      await one.ask(holder, 0, 2, 2_000, ref.id);
      await two.ask(holder, 0, 2, 2_000, ref.id);
      await sessions.renew(ref, 2_000);
      await stack.client.workflow.getHandle(ref.id).result();
      await one.handle.terminate('recorded');
      await two.handle.terminate('recorded');
      return stack.client.workflow.getHandle(ref.id).fetchHistory();
    },
  },
  {
    name: 'capHolderSession-continued-as-new',
    on: 'stack',
    async record(stack) {
      const sessions = new HolderSessionClient(stack.client, stack.config);
      const ref = newSessionRef('us-east-1', 'recorder');
      const { holder } = ref;
      const firstRunId = await startShortSession(stack, ref, 20);
      const l = await recordedLedger(stack, 10, { reclaimAfterMs: 500 });
      await l.ask(holder, 0, 2, 60_000, ref.id);
      const handle = stack.client.workflow.getHandle(ref.id);
      while ((await handle.describe()).runId === firstRunId) await sessions.renew(ref, 60_000);
      const history = await stack.client.workflow.getHandle(ref.id, firstRunId).fetchHistory();
      await handle.terminate('recorded');
      await l.handle.terminate('recorded');
      return history;
    },
  },
  {
    // A ledger started after a failover (its first holder passes the registry's revocation on): the revoked
    // region's holder is granted nothing, the other region's is; both return and the window closes.
    name: 'capLedger-started-revoked',
    on: 'stack',
    async record(stack) {
      const l = await recordedLedger(stack, 10, {
        closesAtMs: Date.now() + 8_000,
        reclaimAfterMs: 500,
        revoked: [{ region: 'us-east-1', operationId: 'failover-us-east-1-recorder' }],
      });
      await l.ask('us-east-1/recorder-a', 0, 4); // granted nothing: revoked
      await l.ask('us-west-2/recorder-b', 0, 4); // granted 4
      await l.giveBack('us-east-1/recorder-a', 0);
      await l.giveBack('us-west-2/recorder-b', 1);
      await l.handle.result();
      return l.handle.fetchHistory();
    },
  },
];
