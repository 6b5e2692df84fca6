import {
  allHandlersFinished,
  ApplicationFailure,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import {
  checkRevocation,
  holderLease,
  type AllowanceGrant,
  type AllowanceRequest,
  type CapLedgerInput,
  type CapLedgerStatus,
  type CapRevocation,
  type HolderStatus,
} from '../shared/capLedger';
import { describeCap, type StoredCap } from '../shared/caps';
import { SESSION_ENDED } from '../shared/holderSession';
import {
  capLedgerStatusQuery,
  holderHoldsLedgerSignal,
  holderSessionEndedSignal,
  requestAllowanceUpdate,
  restoreRegionUpdate,
  returnAllowanceUpdate,
  revokeRegionUpdate,
} from '../shared/messages';

// Counting a holder's spend reads the archive; it waits out captured batches (retryable) for as long as
// they take: until then the allowance stays stranded, which keeps the cap safe.
const { countCapSpend } = proxyActivities<Activities>({
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '1 minute',
  retry: { initialInterval: '5 seconds', maximumInterval: '2 minutes', backoffCoefficient: 2 },
});
const { notify } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 5, initialInterval: '2 seconds' },
});

const MAX_HISTORY_EVENTS = 5_000;
/**
 * Ledgers started before it woke their loop on every Update, which cancelled the lease timer and started
 * another: two history events and a billed timer per renewal. Since, a renewal leaves the timer running.
 */
const KEEPS_LEASE_TIMER = 'cap-ledger-keeps-lease-timer';
const THRESHOLDS = [0.8, 0.9, 1] as const;

/**
 * One cap's window, held in escrow (issue 15): the limit is handed out as leased grants to the enforcing
 * holders, which spend them in memory. Hard mode: what is committed (granted to holders still holding,
 * spent by those done) never exceeds the limit, so the cap holds however long a holder is cut off. A
 * lease that ends unrenewed strands the holder's unreported grant; it is given back only once the
 * holder reports, or once its spend was counted from the archive after its batches had time to land.
 * ID `cap-ledger-<cap>-<window>`; started by the first holder's Update (update-with-start).
 */
export async function capLedger(input: CapLedgerInput): Promise<CapLedgerStatus> {
  let cap: StoredCap | undefined = input.state?.cap;
  const holders = new Map<string, HolderStatus>((input.state?.holders ?? []).map((h) => [h.holder, h]));
  let reclaimed = input.state?.reclaimed ?? 0;
  const alerted = new Set<number>(input.state?.alerted ?? []);
  /** Regions a failover took away (revokeRegion), until restored: their holders are granted nothing. */
  const revoked = new Map<string, CapRevocation>(
    (
      input.state?.revoked ??
      (input.revoked ?? []).map((r) => ({
        region: r.region,
        operationId: r.operationId,
        since: new Date().toISOString(),
        returned: 0,
        reclaimed: 0,
      }))
    ).map((r) => [r.region, r]),
  );
  let changed = false;
  let archived: CapLedgerStatus['archived'];
  const keepsTimer = patched(KEEPS_LEASE_TIMER);
  /** The deadline the loop's timer waits for (undefined: no timer). */
  let armedUntil: number | undefined;
  /** Holders whose first request under a session waits for that session to hear of this ledger. */
  const registering = new Map<string, string>();
  /** Sessions that ended while a holder was registering with them here: its request is refused. */
  const endedWhileRegistering = new Set<string>();

  const now = (): number => Date.now();
  const closed = (): boolean => input.closesAtMs !== undefined && now() >= input.closesAtMs;
  const committedBy = (h: HolderStatus): number =>
    h.state === 'returned' || h.state === 'reclaimed' ? h.spent : Math.max(h.granted, h.spent);
  const committed = (): number => [...holders.values()].reduce((n, h) => n + committedBy(h), 0);
  const spent = (): number => [...holders.values()].reduce((n, h) => n + h.spent, 0);
  const status = (): CapLedgerStatus => ({
    capId: input.capId,
    window: input.window,
    limit: cap?.limit ?? 0,
    mode: cap?.mode ?? 'hard',
    committed: committed(),
    spent: spent(),
    available: Math.max(0, (cap?.limit ?? 0) - committed()),
    overshoot: Math.max(0, spent() - (cap?.limit ?? Infinity)),
    holders: [...holders.values()],
    reclaimed,
    closed: closed(),
    archived,
    revoked: [...revoked.values()],
  });

  /** A holder that reports itself after its lease ended: its report is exact (it stopped spending first). */
  const settle = (h: HolderStatus, reportedSpent: number): void => {
    h.spent = Math.max(h.spent, reportedSpent);
    if (h.state === 'expired') {
      // A soft holder may have spent its overdraft past its grant: nothing of that comes back.
      reclaimed += Math.max(0, h.granted - h.spent);
      h.granted = h.spent;
      h.stranded = 0;
    }
  };

  const sessionEnded = (session: string): ApplicationFailure =>
    ApplicationFailure.create({
      type: SESSION_ENDED,
      message: `session ${session} ended: start another and ask again`,
      nonRetryable: true,
    });

  /**
   * A holder's first request under a session: the session hears of this ledger before anything is granted,
   * so when it ends unrenewed it tells this ledger and the grant is stranded and reclaimed, never held for
   * ever. A session that is gone (or ends meanwhile) is refused: its holder starts another.
   */
  async function register(req: AllowanceRequest, session: string): Promise<AllowanceGrant> {
    registering.set(req.holder, session);
    try {
      await getExternalWorkflowHandle(session).signal(holderHoldsLedgerSignal, workflowInfo().workflowId);
    } catch {
      throw sessionEnded(session);
    } finally {
      registering.delete(req.holder);
    }
    if (endedWhileRegistering.delete(session)) throw sessionEnded(session);
    return answer(req);
  }

  setHandler(capLedgerStatusQuery, status);
  setHandler(
    requestAllowanceUpdate,
    (req: AllowanceRequest): AllowanceGrant | Promise<AllowanceGrant> => {
      if (req.session === undefined) return answer(req);
      const h = holders.get(req.holder);
      if (h?.session !== req.session) return register(req, req.session);
      if (h.sessionEnded) throw sessionEnded(req.session);
      return answer(req);
    },
    {
      validator: (req: AllowanceRequest) => {
        if (req?.cap?.id !== input.capId) throw new Error(`this ledger holds cap ${input.capId}`);
        if (req.window?.key !== input.window.key)
          throw new Error(`this ledger holds window ${input.window.key}`);
        if (!req.holder || !req.region) throw new Error('say which holder and region ask');
        for (const n of [req.spent, req.wantGranted, req.leaseMs])
          if (typeof n !== 'number' || !Number.isFinite(n) || n < 0)
            throw new Error('spent, wantGranted and leaseMs are numbers of at least 0');
        if (req.session !== undefined && (typeof req.session !== 'string' || !req.session))
          throw new Error('session is the holder session workflow ID');
        if (!Array.isArray(req.hours) || req.hours.some((h) => !/^\d{4}-\d\d-\d\dT\d\d:00:00\.000Z$/.test(h)))
          throw new Error('hours are UTC hour starts (2026-12-04T13:00:00.000Z)');
      },
    },
  );
  setHandler(holderSessionEndedSignal, (e) => {
    if (registering.get(e.holder) === e.session) endedWhileRegistering.add(e.session);
    const h = holders.get(e.holder);
    if (!h || h.session !== e.session) return;
    h.sessionEnded = true;
    if (h.state !== 'active') return;
    // As a lease ending unrenewed: what it did not report is stranded until counted from the archive.
    h.leaseEndsAt = e.endedAt;
    h.state = 'expired';
    h.stranded = Math.max(0, h.granted - h.spent);
    changed = true;
  });

  /** A holder's request answered: its word settles what it spent, and it is granted what there is room for. */
  function answer(req: AllowanceRequest): AllowanceGrant {
    if (!cap || req.cap.revision > cap.revision) cap = req.cap;
    const at = now();
    let h = holders.get(req.holder);
    const isNew = !h;
    if (!h) {
      h = {
        holder: req.holder,
        region: req.region,
        state: 'active',
        granted: 0,
        spent: 0,
        leaseEndsAt: new Date(at).toISOString(),
        firstGrantAt: new Date(at).toISOString(),
        stranded: 0,
        hours: [],
      };
      holders.set(req.holder, h);
    }
    if (req.session !== undefined && h.session !== req.session) {
      h.session = req.session;
      h.sessionEnded = false;
    }
    const heldBefore = h.state === 'expired' ? h.granted : h.spent;
    settle(h, req.spent);
    const hours = new Set(h.hours);
    for (const hour of req.hours) if (!hours.has(hour)) h.hours.push(hour);
    const revocation = revoked.get(h.region);
    if (revocation && !closed()) return answerRevoked(h, revocation, isNew, heldBefore);
    if (h.state !== 'active') h.granted = Math.max(h.granted, h.spent);
    h.state = 'active';
    if (closed()) {
      // The window takes no more events: the holder's word settles it, and it holds nothing more.
      changed = true;
      h.granted = h.spent;
      h.state = 'returned';
      return { granted: h.granted, leaseEndsAt: h.leaseEndsAt, overdraft: 0, closed: true };
    }
    const room = Math.max(0, cap.limit - committed());
    h.granted += Math.max(0, Math.min(req.wantGranted - h.granted, room));
    if (h.session !== undefined) {
      // Leased by its session: no timer of this ledger's; the session says when the lease ended.
      if (alertDue()) changed = true;
      else show();
      return { granted: h.granted, leaseEndsAt: h.leaseEndsAt, overdraft: overdraftOf(h), closed: closed() };
    }
    h.leaseEndsAt = new Date(at + req.leaseMs).toISOString();
    // The loop is needed only if this lease ends before its timer, or an alert is due; otherwise the
    // timer keeps running (it finds the lease renewed when it fires) and the details are shown here.
    if (!keepsTimer || armedUntil === undefined || at + req.leaseMs < armedUntil || alertDue())
      changed = true;
    else show();
    return { granted: h.granted, leaseEndsAt: h.leaseEndsAt, overdraft: overdraftOf(h), closed: closed() };
  }
  setHandler(returnAllowanceUpdate, (ret) => {
    const h = holders.get(ret.holder);
    if (!h) return;
    const held = h.state === 'active' || h.state === 'expired' ? h.granted : h.spent;
    settle(h, ret.spent);
    const r = revoked.get(h.region);
    if (r) r.returned += Math.max(0, held - h.spent);
    h.granted = h.spent;
    h.state = 'returned';
    changed = true;
  });

  /**
   * A holder of a revoked region asks: nothing more is granted and its lease is not renewed. It is answered
   * its reported spend as its grant, so it stops spending, and told to give back (AllowanceGrant.revoked).
   * An active holder may have spent more of its grant while this request was in flight, so its grant stays
   * committed until it gives back (its final word) or its lease ends (counted from the archive, reclaimed).
   * One that holds no lease (new, returned, expired: it stopped spending) is settled now with its word.
   */
  function answerRevoked(h: HolderStatus, r: CapRevocation, isNew: boolean, held: number): AllowanceGrant {
    changed = true;
    if (isNew || h.state !== 'active') {
      r.returned += Math.max(0, held - h.spent);
      h.granted = h.spent;
      h.stranded = 0;
      h.state = 'returned';
    }
    return { granted: h.spent, leaseEndsAt: h.leaseEndsAt, overdraft: 0, closed: false, revoked: true };
  }

  setHandler(
    revokeRegionUpdate,
    (r): CapRevocation => {
      let revocation = revoked.get(r.region);
      if (!revocation) {
        revocation = {
          region: r.region,
          operationId: r.operationId,
          since: new Date(now()).toISOString(),
          returned: 0,
          reclaimed: 0,
        };
        revoked.set(r.region, revocation);
        changed = true;
      }
      return revocation;
    },
    { validator: checkRevocation },
  );
  setHandler(
    restoreRegionUpdate,
    (r): boolean => {
      changed = true;
      return revoked.delete(r.region);
    },
    { validator: checkRevocation },
  );

  /** Soft mode: the region's overdraft, shared by its holders that hold a lease. */
  function overdraftOf(h: HolderStatus): number {
    if (cap?.mode !== 'soft') return 0;
    const inRegion = [...holders.values()].filter((o) => o.region === h.region && o.state === 'active');
    return Math.floor((cap.overdraftPerRegion ?? 0) / Math.max(1, inRegion.length));
  }

  function show(): void {
    const s = status();
    const rows = s.holders.map(
      (h) =>
        `| ${h.holder} | ${h.region} | ${h.state} | ${h.granted} | ${h.spent} | ${h.stranded} | ${holderLease(h)} |`,
    );
    setCurrentDetails(
      [
        `**${input.capId} · ${input.window.key}** — ${cap ? describeCap(cap) : 'no holder yet'}`,
        '',
        `limit ${s.limit} · committed ${s.committed} · spent ${s.spent} · available ${s.available} · reclaimed ${s.reclaimed}${s.closed ? ' · closed' : ''}`,
        ...[...revoked.values()].map(
          (r) =>
            `- **${r.region} revoked** since ${r.since} by ${r.operationId}: ${r.returned} given back, ${r.reclaimed} reclaimed after its lease`,
        ),
        ...(s.archived
          ? [
              '',
              `archive count at close: ${s.archived.spent} spent (ledger ${s.archived.ledgerSpent}), overshoot ${s.archived.overshoot}`,
            ]
          : []),
        '',
        ...(rows.length
          ? [
              '| holder | region | state | granted | spent | stranded | lease |',
              '| --- | --- | --- | --- | --- | --- | --- |',
              ...rows,
            ]
          : []),
      ].join('\n'),
    );
  }

  /** Whether threshold `t` is reached and not alerted yet. */
  const thresholdDue = (t: number): boolean =>
    cap !== undefined && !alerted.has(t) && spent() >= cap.limit * t;
  const alertDue = (): boolean => THRESHOLDS.some(thresholdDue);

  async function alertThresholds(): Promise<void> {
    if (!cap) return;
    for (const t of THRESHOLDS) {
      if (!thresholdDue(t)) continue;
      alerted.add(t);
      await notify({
        kind: 'cap-threshold',
        key: `${workflowInfo().workflowId}-${t * 100}`,
        title: `Cap ${input.capId} at ${t * 100}% (${input.window.key})`,
        text: `${spent()} of ${cap.limit} spent (${describeCap(cap)}).`,
      });
    }
  }

  /** Leases that ended: their unreported grant is stranded until counted. */
  function expireLeases(): void {
    for (const h of holders.values()) {
      if (h.state !== 'active') continue;
      if (h.session === undefined) {
        if (Date.parse(h.leaseEndsAt) > now()) continue;
      } else {
        // A session's holder expires when its session says so (holderSessionEnded), or once the window is
        // closed: no event of it is accepted after that, so one not given back by then spends no more in it.
        if (!closed()) continue;
        h.leaseEndsAt = new Date(input.closesAtMs!).toISOString();
      }
      h.state = 'expired';
      h.stranded = Math.max(0, h.granted - h.spent);
      changed = true;
    }
  }

  async function reclaim(h: HolderStatus): Promise<void> {
    if (!cap) return;
    const leaseEnd = Date.parse(h.leaseEndsAt);
    const counted = await countCapSpend({ cap, window: input.window, holder: h.holder, hours: h.hours });
    // The holder may have reported itself (or renewed) while the archive was read: then its word stands.
    if (h.state !== 'expired' || h.leaseEndsAt !== new Date(leaseEnd).toISOString()) return;
    const stranded = h.stranded;
    h.spent = Math.max(h.spent, counted);
    const back = Math.max(0, h.granted - h.spent);
    reclaimed += back;
    const r = revoked.get(h.region);
    if (r) r.reclaimed += back;
    h.granted = h.spent;
    h.stranded = 0;
    h.state = 'reclaimed';
    changed = true;
    await notify({
      kind: 'cap-stranded',
      key: `${workflowInfo().workflowId}-${h.holder}-${h.leaseEndsAt}`,
      title: `Cap ${input.capId}: ${h.holder}'s lease ended unrenewed`,
      text: `${stranded} of its grant was stranded; the archive counts ${counted} spent by it, so ${back} went back to the ledger.`,
    });
  }

  /** The window's close: its spend recounted from the archive and compared with the ledger's, reported. */
  async function closeWindow(): Promise<void> {
    if (!cap) return;
    const hours = [...new Set([...holders.values()].flatMap((h) => h.hours))].sort();
    const counted = await countCapSpend({ cap, window: input.window, hours });
    archived = { spent: counted, overshoot: Math.max(0, counted - cap.limit), ledgerSpent: spent() };
    show();
    await notify({
      kind: 'cap-window-closed',
      key: `${workflowInfo().workflowId}-closed`,
      title: `Cap ${input.capId}: window ${input.window.key} closed${archived.overshoot ? `, OVERSHOOT ${archived.overshoot}` : ''}`,
      text: `The archive counts ${counted} spent of ${cap.limit} (the ledger ${archived.ledgerSpent}); ${reclaimed} was stranded and reclaimed.`,
    });
  }

  const nextDeadline = (): number | undefined => {
    const times: number[] = [];
    for (const h of holders.values()) {
      const end = Date.parse(h.leaseEndsAt);
      if (h.state === 'active' && h.session === undefined) times.push(end);
      if (h.state === 'expired') times.push(end + input.reclaimAfterMs);
    }
    if (input.closesAtMs !== undefined && !closed()) times.push(input.closesAtMs);
    return times.length ? Math.min(...times) : undefined;
  };
  const done = (): boolean =>
    closed() && [...holders.values()].every((h) => h.state === 'returned' || h.state === 'reclaimed');

  show();
  for (;;) {
    const deadline = nextDeadline();
    const woken = (): boolean => changed || tooLong(input.maxHistoryEvents);
    armedUntil = deadline;
    if (deadline === undefined) await condition(woken);
    else await condition(woken, Math.max(1, deadline - now()));
    changed = false;
    expireLeases();
    for (const h of holders.values())
      if (h.state === 'expired' && Date.parse(h.leaseEndsAt) + input.reclaimAfterMs <= now())
        await reclaim(h);
    show();
    await alertThresholds();
    if (done()) {
      await condition(allHandlersFinished);
      await closeWindow();
      return status();
    }
    if (tooLong(input.maxHistoryEvents)) {
      await condition(allHandlersFinished);
      return continueAsNew<typeof capLedger>({
        ...input,
        state: cap
          ? {
              cap,
              holders: [...holders.values()],
              reclaimed,
              alerted: [...alerted],
              revoked: [...revoked.values()],
            }
          : undefined,
      });
    }
  }
}

function tooLong(maxEvents = MAX_HISTORY_EVENTS): boolean {
  const info = workflowInfo();
  return info.continueAsNewSuggested || info.historyLength > maxEvents;
}
