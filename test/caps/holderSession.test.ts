import { HolderSessionClient, isSessionEnded } from '../../src/client/holderSessionClient';
import type { CapLedgerStatus, HolderStatus } from '../../src/shared/capLedger';
import { holderSessionId } from '../../src/shared/holderSession';
import { waitUntil } from '../../src/util/waitUntil';
import { uniqueName } from '../helpers/env';
import {
  newSessionRef,
  sessionStatus,
  startCapsWorld,
  startLifetimeLedger,
  startShortSession,
  storedLifetimeCap,
  type CapsWorld,
} from './world';

jest.setTimeout(120_000);

/**
 * A holder's session (issue 15) on the real stack: one lease for all the grants a holder holds. A ledger
 * tells the session before it grants; a session that ends (unrenewed, or closed by its holder) tells its
 * ledgers, which strand and reclaim what the holder did not report, as with a lease per grant.
 */
describe('capHolderSession', () => {
  let world: CapsWorld;
  let sessions: HolderSessionClient;
  beforeAll(async () => {
    world = await startCapsWorld();
    sessions = new HolderSessionClient(world.client, world.config);
  });
  afterAll(() => world?.stop());

  /** Whether `p` failed saying its session ended. */
  const ended = (p: Promise<unknown>): Promise<boolean> => p.then(() => false, isSessionEnded);
  const holderOf = (s: CapLedgerStatus | undefined, holder: string): HolderStatus | undefined =>
    s?.holders.find((h) => h.holder === holder);

  it('strands and reclaims a grant when the lease of its session ends unrenewed, and refuses that session after', async () => {
    const ref = newSessionRef('us-east-1');
    const { holder } = ref;
    const { ask, ledgers, cap, window, workflowId, handle } = await startLifetimeLedger(
      world,
      storedLifetimeCap(uniqueName('sess'), 100, 'test'),
      { reclaimAfterMs: 500 },
    );
    await sessions.renew(ref, 3_000);
    // Renewed while it spends: the grant outlives several leases with no Update to the ledger.
    expect((await ask(holder, 0, 40, 3_000, ref.id)).granted).toBe(40);
    expect((await sessionStatus(world.client, ref.id)).ledgers).toEqual([workflowId]);
    const renewedUntil = Date.now() + 7_000;
    while (Date.now() < renewedUntil) {
      // As a holder renews: every second, for a lease of three.
      await sessions.renew(ref, 3_000);
      await new Promise((r) => setTimeout(r, 1_000));
    }
    expect(holderOf(await ledgers.status(cap.id, window.key), holder)).toMatchObject({
      state: 'active',
      granted: 40,
      session: ref.id,
    });
    // Unrenewed: the session tells the ledger when the lease ended; nothing of it is in the archive, so all
    // 40 come back.
    let status: CapLedgerStatus | undefined;
    const reclaimed = await waitUntil(
      async () =>
        holderOf((status = await ledgers.status(cap.id, window.key)), holder)?.state === 'reclaimed',
      60_000,
      250,
    );
    if (!reclaimed) throw new Error(`not reclaimed: ${JSON.stringify(status)}`);
    expect(status).toMatchObject({ reclaimed: 40, committed: 0 });
    expect(holderOf(status, holder)).toMatchObject({ sessionEnded: true, granted: 0 });
    // The session is over for good: renewing it, or asking under it, says so; a new session is granted.
    expect(await ended(sessions.renew(ref, 3_000))).toBe(true);
    expect(await ended(ask(holder, 0, 40, 3_000, ref.id))).toBe(true);
    const next = { ...ref, id: holderSessionId(holder, 2) };
    await sessions.renew(next, 3_000);
    expect((await ask(holder, 0, 40, 3_000, next.id)).granted).toBe(40);
    await sessions.end(next.id, []);
    await handle.terminate('test done');
  });

  it('ends when its holder closes it, and tells only the ledgers not given back to', async () => {
    const ref = newSessionRef('us-west-2');
    const { holder } = ref;
    const given = await startLifetimeLedger(world, storedLifetimeCap(uniqueName('given'), 100, 'test'), {
      reclaimAfterMs: 60_000,
    });
    const kept = await startLifetimeLedger(world, storedLifetimeCap(uniqueName('kept'), 100, 'test'), {
      reclaimAfterMs: 60_000,
    });
    await sessions.renew(ref, 600_000);
    await given.ask(holder, 0, 10, 600_000, ref.id);
    await kept.ask(holder, 0, 10, 600_000, ref.id);
    await given.giveBack(holder, 3);
    const closedAt = Date.now();
    await sessions.end(ref.id, [given.workflowId]);
    // The one not given back is expired at once (its holder said it stopped), its 10 stranded.
    let status: CapLedgerStatus | undefined;
    const expired = await waitUntil(
      async () =>
        holderOf((status = await kept.ledgers.status(kept.cap.id, 'lifetime')), holder)?.state === 'expired',
      30_000,
      250,
    );
    if (!expired) throw new Error(`not expired: ${JSON.stringify(status)}`);
    const h = holderOf(status, holder)!;
    expect(h.stranded).toBe(10);
    expect(Date.parse(h.leaseEndsAt)).toBeGreaterThanOrEqual(closedAt - 1_000);
    expect(Date.parse(h.leaseEndsAt)).toBeLessThan(closedAt + 30_000);
    expect(holderOf(await given.ledgers.status(given.cap.id, 'lifetime'), holder)).toMatchObject({
      state: 'returned',
      spent: 3,
    });
    expect(await world.client.workflow.getHandle(ref.id).result()).toMatchObject({ ended: true });
    await given.handle.terminate('test done');
    await kept.handle.terminate('test done');
  });

  it('continues as new carrying its lease and ledgers, and still tells them when it ends', async () => {
    const ref = newSessionRef('us-east-1');
    const { holder } = ref;
    const firstRunId = await startShortSession(world, ref, 20);
    const l = await startLifetimeLedger(world, storedLifetimeCap(uniqueName('can'), 100, 'test'), {
      reclaimAfterMs: 60_000,
    });
    await l.ask(holder, 0, 10, 60_000, ref.id);
    const handle = world.client.workflow.getHandle(ref.id);
    let lease = '';
    while ((await handle.describe()).runId === firstRunId)
      lease = (await sessions.renew(ref, 60_000)).leaseEndsAt;
    const carried = await sessionStatus(world.client, ref.id);
    expect(carried).toMatchObject({ ledgers: [l.workflowId], ended: false });
    expect(Date.parse(carried.leaseEndsAt)).toBeGreaterThanOrEqual(Date.parse(lease));
    await sessions.end(ref.id, []);
    const expired = await waitUntil(
      async () => holderOf(await l.ledgers.status(l.cap.id, 'lifetime'), holder)?.state === 'expired',
      30_000,
      250,
    );
    expect(expired).toBe(true);
    await l.handle.terminate('test done');
  });

  it("closes a window whose session's holder never gave back: expired as of the close, counted, reported", async () => {
    const ref = newSessionRef('us-east-1');
    const { holder } = ref;
    const closesAtMs = Date.now() + 4_000;
    const l = await startLifetimeLedger(world, storedLifetimeCap(uniqueName('close'), 100, 'test'), {
      closesAtMs,
      reclaimAfterMs: 500,
    });
    // A session that lives on (a live ingest), whose holder neither gives back nor asks again.
    await sessions.renew(ref, 600_000);
    await l.ask(holder, 0, 10, 600_000, ref.id);
    const result = (await l.handle.result()) as CapLedgerStatus;
    expect(result.closed).toBe(true);
    expect(result.archived).toEqual({ spent: 0, overshoot: 0, ledgerSpent: 0 });
    expect(holderOf(result, holder)).toMatchObject({
      state: 'reclaimed',
      granted: 0,
      leaseEndsAt: new Date(closesAtMs).toISOString(),
    });
    await sessions.end(ref.id, []);
  });

  it('refuses a request under a session that never started, and records no holder for it', async () => {
    const { id, holder } = newSessionRef('us-east-1');
    const { ask, ledgers, cap, window, handle } = await startLifetimeLedger(
      world,
      storedLifetimeCap(uniqueName('nosess'), 100, 'test'),
      { reclaimAfterMs: 500 },
    );
    expect(await ended(ask(holder, 0, 10, 60_000, id))).toBe(true);
    expect(holderOf(await ledgers.status(cap.id, window.key), holder)).toBeUndefined();
    await handle.terminate('test done');
  });
});
