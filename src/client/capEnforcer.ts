import { randomBytes } from 'node:crypto';
import type { Client } from '@temporalio/client';
import type { AppConfig } from '../config/schema';
import { hourStartOf } from '../shared/batch';
import { lineEndOf } from './batcher';
import { RecentIds } from './recentIds';
import {
  capAdmitsAffiliate,
  capAmountOf,
  capCovers,
  capEventType,
  capLedgerId,
  capWindowOf,
  type CapWindow,
  type RegionRevocation,
} from '../shared/capLedger';
import { holderSessionId } from '../shared/holderSession';
import type { StoredCap } from '../shared/caps';
import type { TrackingEvent } from '../shared/event';
import { CapsClient } from './caps';
import { CapLedgerClient } from './capLedgerClient';
import { HolderSessionClient, isSessionEnded, type SessionRef } from './holderSessionClient';

/** One cap and window as this holder holds it: totals since the window began, and its lease. */
interface Allowance {
  cap: StoredCap;
  /** The cap's hot-path state (its current allowance, its verdicts). */
  state: CapState;
  window: CapWindow;
  granted: number;
  spent: number;
  overdraft: number;
  /** This holder's own clock: it spends only before this (its session's lease ends later). */
  spendableUntil: number;
  /** The session the ledger last answered under: the grant is spendable while that session is renewed. */
  session?: string;
  /** No more to be had from the ledger until then: events past the grant are exceeded at once. */
  exhaustedUntil: number;
  closed: boolean;
  /** The ledger's last answer granted less than asked: it has no more room for now. */
  dry: boolean;
  /** The ledger did not answer: no event waits for it again before then. */
  unreachableUntil: number;
  /** When the renewal timer next looks at it (idle: give back; a new hour ahead: announce it). */
  renewAt: number;
  /** What was spent when the ledger last answered or the timer last saw it spend: unchanged since means idle. */
  spentAtCheck: number;
  /** When `spentAtCheck` was taken: idle for a whole period since then, the allowance is given back. */
  checkedAt: number;
  /** Given back for being idle: held nothing since, until the next event asks again. */
  released: boolean;
  /** Being given back for being idle: spending stopped, but its next event will ask again. */
  releasing: boolean;
  /** The ledger answered at least once: what this holder knows counts against a click. */
  answered: boolean;
  /** Event hours (start, ms) the ledger knows this holder spends in; it spends in no other (AllowanceRequest.hours). */
  hours: Set<number>;
  /** Hours to announce with the next request. */
  toAnnounce: Set<number>;
  inFlight?: Promise<void>;
}

/** An event's cap judgement, as the ingest records it on the event's archive line. */
export interface CapJudgement {
  capStatus: NonNullable<TrackingEvent['capStatus']>;
  capId: string;
  capHolder: string;
  /** What closes the event's JSON line instead of its `}`: the three fields above, serialised once (UTF-8). */
  lineEnd: Buffer;
}
type Judgement = Readonly<CapJudgement>;
interface Verdicts {
  within: Judgement;
  exceeded: Judgement;
  withinNumber: number;
  exceededNumber: number;
}

/** One cap as the hot path finds it: its definition as last read, and what its events last needed. */
interface CapState {
  cap: StoredCap;
  /** The allowance of the window the cap's last event fell in. */
  current?: Allowance;
  verdicts?: Verdicts;
}

/** An offer's caps by the event type they count (clicks; conversions and payout). */
interface OfferCaps {
  click: CapState[];
  conversion: CapState[];
}

const HOUR_MS = 3_600_000;
const NONE: readonly never[] = [];
/** First grants asked for at once when an ingest starts or new caps appear (see askAll). */
const PREFETCH_IN_FLIGHT = 8;

/** What the decision endpoint answers for a click. */
export type CapDecision =
  { decision: 'allow' } | { decision: 'fallback'; capId: string; fallbackUrl?: string };

/** The calls a holder makes: to the ledgers, its session and the registry (tests may give slow or failing ones). */
export type HolderLedgers = Pick<CapLedgerClient, 'request' | 'giveBack'>;
export type HolderSessions = Pick<HolderSessionClient, 'renew' | 'end'>;
export type HolderRegistry = Pick<CapsClient, 'peek' | 'peekRevocations'>;

/** The holder's session: one lease on all its grants, renewed once per period (capHolderSession). */
interface Session {
  ref: SessionRef;
  /** 1, then one more each time a session was lost (cut off past its lease): a new session, a new ID. */
  generation: number;
  /** Renewed at least once: ledgers may be asked under it. */
  answered: boolean;
  /** This holder's own clock: no grant held under this session is spent after it. */
  spendableUntil: number;
  renewAt: number;
  inFlight?: Promise<boolean>;
}

export interface CapEnforcerOptions {
  region: string;
  /** Default: the ledgers and the registry through `client`. */
  ledgers?: HolderLedgers;
  sessions?: HolderSessions;
  registry?: HolderRegistry;
  /** Names the holder's kind in its ID (`<region>/<kind>-<pid>-<random>`): `ingest` or `client`. */
  holderKind?: string;
  /**
   * Ask every cap's ledger for a grant before its first event (default true: an ingest's events never wait for
   * a ledger's start). A client that sends to a few offers sets false, so it holds no share of the others.
   */
  prefetch?: boolean;
  log?: (level: 'warn' | 'error', message: string, err?: unknown) => void;
}

/**
 * Judges events against the caps from allowances held in memory (issue 15): no call to Temporal on the hot
 * path. It reads the definitions in the background, asks each cap's ledger for a grant before it runs out
 * (low-water mark: half a grant left), renews its session (one lease on all its grants, one Update per
 * period however many caps it spends from), and gives back what it did not spend on close.
 * A request whose events find no allowance waits at most `caps.waitForAllowanceMs`, in all, for top-ups in
 * flight; an event past the cap (or with no lease) is `exceeded`, recorded and not paid. Judgements are
 * remembered by event ID (`caps.rememberEvents`), so a resend is judged the same and spends once.
 */
export class CapEnforcer {
  readonly holder: string;
  private readonly ledgers: HolderLedgers;
  private readonly sessions: HolderSessions;
  private readonly registry: HolderRegistry;
  private session: Session;
  private byOffer = new Map<string, OfferCaps>();
  /** Every cap ever read, by ID (kept when deleted: an allowance still held refers to it). */
  private readonly states = new Map<string, CapState>();
  /** The registry's revocations as last read: a ledger this holder starts begins with them. */
  private revoked: RegionRevocation[] = [];
  /** Failovers (operation IDs) of this region whose revocation made it give back everything already. */
  private readonly revocationsGivenBack = new Set<string>();
  private readonly held = new Map<string, Allowance>();
  /** The last `caps.rememberEvents` event IDs judged, each with its judgement's number in `judgements`. */
  private readonly remembered: RecentIds;
  /** Every judgement made, once each (a cap's within and exceeded), numbered by position. */
  private readonly judgements: Judgement[] = [];
  private readonly judgementNumbers = new Map<string, number>();
  private readonly timers: NodeJS.Timeout[] = [];
  private closing = false;
  private readonly log: NonNullable<CapEnforcerOptions['log']>;

  constructor(
    client: Client,
    private readonly config: AppConfig,
    private readonly opts: CapEnforcerOptions,
  ) {
    this.holder = `${opts.region}/${opts.holderKind ?? 'ingest'}-${process.pid}-${randomBytes(3).toString('hex')}`;
    this.ledgers = opts.ledgers ?? new CapLedgerClient(client, config);
    this.sessions = opts.sessions ?? new HolderSessionClient(client, config);
    this.registry = opts.registry ?? new CapsClient(client, config);
    this.session = this.newSession(1);
    this.log = opts.log ?? (() => undefined);
    this.remembered = new RecentIds(config.caps.rememberEvents);
  }

  /**
   * Reads the definitions and asks for each cap's first grant (bounded by caps.updateTimeoutMs each), so the
   * first events find allowance held; then keeps both fresh in the background.
   */
  async start(): Promise<void> {
    await this.refresh();
    if (this.closing) return;
    this.timers.push(setInterval(() => void this.refresh(), this.config.caps.refreshMs).unref());
    // Each allowance is looked at on its own schedule (renewAt), checked often: all at once, a burst of
    // give-backs every period stalled the ingest's and the worker's event loops.
    this.timers.push(setInterval(() => this.renewDue(), Math.min(1_000, this.renewEvery() / 4)).unref());
  }

  private async refresh(): Promise<void> {
    try {
      const [caps, revoked] = await Promise.all([
        this.registry.peek(),
        // Not read (a worker of an older version runs the registry): the last known stand.
        this.registry.peekRevocations().catch(() => this.revoked),
      ]);
      this.revoked = revoked;
      // A failover took this region's allowance: given back now, once per failover, not at the next top-up
      // (there may be none for long). Its next events ask again and are told it is revoked.
      for (const r of revoked) {
        if (r.region !== this.opts.region || this.revocationsGivenBack.has(r.operationId)) continue;
        this.revocationsGivenBack.add(r.operationId);
        for (const a of this.held.values())
          if (a.granted > a.spent && !a.released && !a.closed && !a.inFlight) this.release(a);
      }
      const byOffer = new Map<string, OfferCaps>();
      for (const cap of caps) {
        let state = this.states.get(cap.id);
        if (!state) this.states.set(cap.id, (state = { cap }));
        // A changed definition may put events in another window (day to month, another time zone): its
        // window is worked out again on its next event.
        if (state.current && cap.revision > state.current.cap.revision) state.current = undefined;
        state.cap = cap;
        let offer = byOffer.get(cap.scope.offerId);
        if (!offer) byOffer.set(cap.scope.offerId, (offer = { click: [], conversion: [] }));
        offer[capEventType(cap)].push(state);
      }
      this.byOffer = byOffer;
      // Each cap's current window asked for before its first event: no event waits for a ledger's start.
      const now = Date.now();
      if (this.opts.prefetch !== false)
        await this.askAll(caps.map((cap) => this.allowance(this.states.get(cap.id)!, now, false)));
    } catch (err) {
      this.log('warn', 'cap definitions not read; enforcing the last known', err);
    }
  }

  /**
   * Each event's judgement (undefined where no cap counts it), for the batcher to close its line with. The
   * events are not changed: three properties added to every event made serialising it cost more than
   * appending a judgement serialised once. `instants`: each event's timestamp in ms, when the caller has
   * parsed them already (validateRecords).
   */
  async judge(
    events: readonly TrackingEvent[],
    instants?: readonly number[],
  ): Promise<(Judgement | undefined)[]> {
    // Filled, not holey: a caller may map over it.
    const judged = new Array<Judgement | undefined>(events.length).fill(undefined);
    if (this.byOffer.size === 0) return judged;
    // One clock reading per call: a request's events are judged together, well inside the lease's margin.
    let now = Date.now();
    let deadline: number | undefined;
    // The hot path: plain loops, no closures, the arrays reused per event and never shrunk (setting a length
    // costs), the hour as a number (a string per event cost GC time).
    const held: Allowance[] = [];
    const amounts: number[] = [];
    for (let n = 0; n < events.length; n++) {
      const e = events[n]!;
      const number = this.remembered.get(e.id);
      if (number >= 0) {
        judged[n] = this.judgements[number]!;
        continue;
      }
      const offer = this.byOffer.get(e.offerId);
      if (!offer) continue;
      const states = e.type === 'click' ? offer.click : e.type === 'conversion' ? offer.conversion : NONE;
      const at = instants ? instants[n]! : Date.parse(e.timestamp);
      let count = 0;
      for (let i = 0; i < states.length; i++) {
        const state = states[i]!;
        // Found by offer and event type: only the affiliate is left to check.
        if (!capAdmitsAffiliate(state.cap, e.affiliateId)) continue;
        held[count] = this.allowance(state, at);
        amounts[count++] = capAmountOf(state.cap, e);
      }
      if (count === 0) continue;
      const hour = hourStartOf(at);
      let short = this.shortOf(held, amounts, count, hour, now);
      if (short >= 0) {
        if (deadline === undefined) {
          // One bound for the whole request: waiting per event let a slow ledger hold a request of 500
          // events for minutes. And the request's other new hours go with the first top-up: one round trip,
          // not one per hour (late conversions span many hours).
          deadline = now + this.config.caps.waitForAllowanceMs;
          this.announceAhead(events, n + 1, instants);
        }
        while (short >= 0 && (await this.waitForTopUp(held[short]!, hour, deadline, amounts[short]!)))
          short = this.shortOf(held, amounts, count, hour, Date.now());
        now = Date.now();
      }
      const verdicts = this.verdictsOf(held[short >= 0 ? short : 0]!.state);
      if (short < 0) {
        for (let i = 0; i < count; i++) this.spend(held[i]!, amounts[i]!, now);
        judged[n] = verdicts.within;
        this.remembered.set(e.id, verdicts.withinNumber);
      } else {
        judged[n] = verdicts.exceeded;
        this.remembered.set(e.id, verdicts.exceededNumber);
      }
    }
    return judged;
  }

  /**
   * Asks for every allowance not yet answered or asked for, at most PREFETCH_IN_FLIGHT at a time, and settles
   * when all have their answer (or failed). All at once, 194 update-with-starts on a busy two-core stack took
   * some ledgers past `caps.updateTimeoutMs`: their caps judged events exceeded until the next try.
   */
  private async askAll(allowances: Allowance[], again = false): Promise<void> {
    let next = 0;
    const asker = async (): Promise<void> => {
      while (next < allowances.length) {
        const a = allowances[next++]!;
        if (again || !a.answered) this.topUp(a);
        await a.inFlight;
      }
    };
    await Promise.all(Array.from({ length: Math.min(PREFETCH_IN_FLIGHT, allowances.length) }, asker));
  }

  /** Marks the hours of `events[from..]` that their allowances do not know yet, to be announced next. */
  private announceAhead(events: readonly TrackingEvent[], from: number, instants?: readonly number[]): void {
    for (let n = from; n < events.length; n++) {
      const e = events[n]!;
      const at = instants ? instants[n]! : Date.parse(e.timestamp);
      const hour = hourStartOf(at);
      for (const state of this.statesCovering(e)) {
        const a = this.allowance(state, at);
        if (!a.hours.has(hour)) a.toAnnounce.add(hour);
      }
    }
  }

  /** The caps that count `e` (off the hot path: judge inlines this). */
  private statesCovering(e: Pick<TrackingEvent, 'type' | 'offerId' | 'affiliateId'>): CapState[] {
    const offer = this.byOffer.get(e.offerId);
    const states =
      offer && (e.type === 'click' ? offer.click : e.type === 'conversion' ? offer.conversion : NONE);
    return (states ?? NONE).filter((s) => capCovers(s.cap, e));
  }

  /** The position of the first of `count` allowances that cannot pay its amount in this hour, or -1. */
  private shortOf(held: Allowance[], amounts: number[], count: number, hour: number, now: number): number {
    for (let i = 0; i < count; i++) if (!this.canSpend(held[i]!, amounts[i]!, hour, now)) return i;
    return -1;
  }

  /** For a click about to be redirected: allow, or the fallback of a cap this holder knows is spent. */
  decide(offerId: string, affiliateId: string, now = Date.now()): CapDecision {
    for (const state of this.statesCovering({ type: 'click', offerId, affiliateId })) {
      const a = this.allowance(state, now);
      const hour = hourStartOf(now);
      // Before its first answer the holder knows nothing against the click: allowed (the click, when sent,
      // is judged like any event).
      // Nor while an idle allowance is being given back: its next event asks again.
      const known = a.answered && !a.released && !a.releasing;
      if (known && !this.canSpend(a, 1, hour, now) && (a.dry || a.spendableUntil <= now))
        return { decision: 'fallback', capId: state.cap.id, fallbackUrl: state.cap.fallbackUrl };
    }
    return { decision: 'allow' };
  }

  /** What this holder holds, per cap and window (for its status endpoint and tests). */
  holdings(): {
    capId: string;
    window: string;
    granted: number;
    spent: number;
    spendableUntil: string;
    session?: string;
  }[] {
    return [...this.held.values()].map((a) => ({
      capId: a.cap.id,
      window: a.window.key,
      granted: a.granted,
      spent: a.spent,
      spendableUntil: new Date(a.spendableUntil).toISOString(),
      session: a.session,
    }));
  }

  /** The session this holder renews now (its workflow ID). */
  sessionId(): string {
    return this.session.ref.id;
  }

  /**
   * Stops renewing and gives back what it did not spend, then ends its session, which tells the ledgers not
   * given back to (best effort: else the session's lease ends it).
   */
  async close(): Promise<void> {
    // Nothing is spent or asked for from here on: what is given back below is final.
    this.closing = true;
    for (const a of this.held.values()) a.spendableUntil = 0;
    for (const t of this.timers) clearInterval(t);
    const settled: string[] = [];
    await Promise.all(
      [...this.held.values()].map(async (a) => {
        await a.inFlight;
        const ledger = capLedgerId(a.cap.id, a.window.key);
        if (a.released) return void settled.push(ledger);
        try {
          await this.ledgers.giveBack(a.cap.id, a.window.key, this.holder, a.spent);
          settled.push(ledger);
        } catch (err) {
          this.log(
            'warn',
            `allowance of ${a.cap.id} ${a.window.key} not given back; its session's lease will end`,
            err,
          );
        }
      }),
    );
    await this.session.inFlight;
    if (!this.session.answered) return;
    await this.sessions.end(this.session.ref.id, settled).catch((err: unknown) => {
      this.log('warn', `session ${this.session.ref.id} not ended; its lease will end`, err);
    });
  }

  /** The allowance of `state`'s cap for the window of `atMs`; a new one is asked for at once unless `ask` is false. */
  private allowance(state: CapState, atMs: number, ask = true): Allowance {
    // Nearly every event falls in the window the cap's last one did: no time-zone arithmetic and no key
    // built for it.
    const last = state.current;
    if (
      last &&
      atMs >= last.window.startMs &&
      (last.window.endMs === undefined || atMs < last.window.endMs)
    ) {
      if (state.cap.revision > last.cap.revision) last.cap = state.cap;
      return last;
    }
    return this.windowAllowance(state, atMs, ask);
  }

  /**
   * `allowance` for an instant outside the window of the cap's last event, apart from the hot path: V8
   * deprecates an object literal's map when one of its fields first holds a timestamp, and while the judging
   * path held this literal its optimized code was thrown away and compiled again and again (over 100 times in
   * a run of 425,000 judged events, 0.5-1 µs per event on the compiler's threads).
   */
  private windowAllowance(state: CapState, atMs: number, ask: boolean): Allowance {
    const { cap } = state;
    const window = capWindowOf(cap, atMs);
    const key = `${cap.id}/${window.key}`;
    let a = this.held.get(key);
    if (!a) {
      a = {
        cap,
        state,
        window,
        granted: 0,
        spent: 0,
        overdraft: 0,
        spendableUntil: 0,
        exhaustedUntil: 0,
        closed: false,
        unreachableUntil: 0,
        renewAt: 0,
        spentAtCheck: 0,
        checkedAt: 0,
        released: false,
        releasing: false,
        answered: false,
        dry: false,
        hours: new Set(),
        toAnnounce: new Set([hourStartOf(atMs)]),
      };
      this.held.set(key, a);
      if (ask) this.topUp(a);
    }
    if (cap.revision > a.cap.revision) a.cap = cap;
    state.current = a;
    return a;
  }

  private canSpend(a: Allowance, amount: number, hour: number, now: number): boolean {
    return (
      !a.closed && now < a.spendableUntil && a.hours.has(hour) && a.spent + amount <= a.granted + a.overdraft
    );
  }

  private spend(a: Allowance, amount: number, now: number): void {
    a.spent += amount;
    if (a.granted - a.spent <= this.grantSize(a.cap) / 2 && now >= a.exhaustedUntil) this.topUp(a);
  }

  private grantSize(cap: StoredCap): number {
    const size = cap.limit * this.config.caps.grantFraction;
    return cap.metric === 'payout' ? size : Math.max(1, Math.ceil(size));
  }

  /**
   * Waits, until `deadline`, for a request that may make the event spendable: one in flight, or one started
   * now (announcing its hour when the ledger does not know it yet). True when one answered in time.
   */
  private async waitForTopUp(a: Allowance, hour: number, deadline: number, need: number): Promise<boolean> {
    const unannounced = !a.hours.has(hour);
    const now = Date.now();
    if (a.closed || now < a.unreachableUntil || (!unannounced && now < a.exhaustedUntil)) return false;
    if (unannounced) a.toAnnounce.add(hour);
    this.topUp(a, need);
    const inFlight = a.inFlight;
    const wait = deadline - Date.now();
    if (!inFlight || wait <= 0) return false; // closing: nothing more is asked for
    let timer: NodeJS.Timeout | undefined;
    const answered = await Promise.race([
      inFlight.then(() => true),
      new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), wait))),
    ]);
    clearTimeout(timer);
    return answered;
  }

  /** Asks the ledger for a grant (or only announces hours), unless a request is already in flight. */
  private topUp(a: Allowance, need = 0): void {
    if (a.inFlight || a.closed || this.closing) return;
    const { leaseMs } = this.config.caps;
    const sentAt = Date.now();
    // At least the amount an event waits for: a payout larger than a grant is asked for whole.
    const wantGranted = Math.max(a.granted, a.spent + Math.max(this.grantSize(a.cap), need));
    // Holding again once this is answered; if it is not, close() must give back whatever it may have granted.
    a.released = false;
    // Live traffic is in this hour and the next: announced ahead, so no event waits at the hour's turn.
    const now = hourStartOf(sentAt);
    const hours = [...new Set([...a.toAnnounce, now, now + HOUR_MS])];
    a.toAnnounce.clear();
    // Asked under the session this holder renews; one not renewed yet (started, or lost) is renewed first.
    const session = this.session;
    a.inFlight = (session.answered ? Promise.resolve(true) : this.renewSession())
      .then((renewed) => {
        if (!renewed) throw new Error(`session ${session.ref.id} not renewed`);
        return this.ledgers.request(
          {
            holder: this.holder,
            region: this.opts.region,
            cap: a.cap,
            window: a.window,
            spent: a.spent,
            wantGranted,
            leaseMs,
            hours: hours.map((h) => new Date(h).toISOString()),
            session: session.ref.id,
          },
          { revoked: this.revoked, answeredBefore: a.answered },
        );
      })
      .then(
        (grant) => {
          for (const h of hours) a.hours.add(h);
          a.granted = grant.granted;
          a.overdraft = grant.overdraft;
          a.closed = grant.closed;
          // Spendable while the session it was granted under is renewed (counted from before each renewal left);
          // one replaced meanwhile (lost) is not renewed any more.
          a.session = session.ref.id;
          a.spendableUntil = this.closing || session !== this.session ? 0 : session.spendableUntil;
          a.spentAtCheck = a.spent;
          a.checkedAt = Date.now();
          const first = !a.answered;
          a.answered = true;
          a.dry = grant.granted < wantGranted;
          a.exhaustedUntil = a.dry ? Date.now() + this.retryAfter() : 0;
          // A first grant's first look falls anywhere in the period, so the caps an ingest is granted when it
          // starts are looked at (and the idle ones given back, a look later) at the steady rate, not in one
          // burst. Later looks are a whole period apart.
          a.renewAt = sentAt + this.renewEvery() * (first ? Math.random() : 1);
          // A failover revoked this region: this answer stopped the spending, so its spend is final now.
          if (grant.revoked)
            void this.ledgers
              .giveBack(a.cap.id, a.window.key, this.holder, a.spent)
              .catch((err: unknown) =>
                this.log('warn', `revoked allowance of ${a.cap.id} not given back; its lease will end`, err),
              );
        },
        (err: unknown) => {
          for (const h of hours) if (!a.hours.has(h)) a.toAnnounce.add(h);
          if (isSessionEnded(err)) {
            // Asked under a session that is over: a new one, then this and every other grant asked again.
            a.spendableUntil = 0;
            this.sessionLost(session);
            return;
          }
          if (isClosedLedger(err)) a.closed = true;
          else this.log('warn', `no grant for cap ${a.cap.id} ${a.window.key}; spending what is held`, err);
          a.exhaustedUntil = a.unreachableUntil = a.renewAt = Date.now() + this.retryAfter();
        },
      )
      .finally(() => (a.inFlight = undefined));
  }

  /**
   * Half the usable lease: when Temporal stops answering, the holder still spends for at least the other
   * half. Each session renewal is an Update (about 7 ms of CPU across the holder, the worker and Temporal),
   * one per period for all the holder's caps.
   */
  private renewEvery(): number {
    return (this.config.caps.leaseMs - this.config.caps.leaseMarginMs) / 2;
  }

  /** After a refusal or an empty grant, ask again no sooner than this. */
  private retryAfter(): number {
    return Math.min(this.config.caps.refreshMs, this.renewEvery());
  }

  private renewDue(): void {
    const { maxAgeMs } = this.config.ingest.timestampWindow;
    const now = Date.now();
    // Started by the first grant asked for (a holder of no cap has no session), renewed from then on.
    const { session } = this;
    if (session.answered && now >= session.renewAt && !session.inFlight && !this.closing)
      void this.renewSession();
    for (const [key, a] of this.held) {
      // A window no event can be accepted for any more: give back the rest and forget it.
      if (a.window.endMs !== undefined && a.window.endMs + maxAgeMs < now) {
        this.held.delete(key);
        if (a.state.current === a) a.state.current = undefined;
        void this.ledgers.giveBack(a.cap.id, a.window.key, this.holder, a.spent).catch(() => undefined);
        continue;
      }
      if (now < a.renewAt || a.inFlight || a.closed) continue;
      // Nothing spent for a whole period: give back what it holds, so no other holder waits for it (most caps
      // are idle most of the time); its next event asks again, waiting one round trip. A grant younger than a
      // period is kept until it is a period old: an ingest's first grants, asked for before its traffic
      // arrives, were given back at their first look and asked for again by the first events. A dry one is
      // kept (its click decision says "fallback") and asked again, as one whose next hour the ledger does not
      // know yet (announced ahead, so no event waits at the hour's turn). Any other needs no Update: the
      // session renews its lease.
      const unchanged = a.spent === a.spentAtCheck && !a.dry;
      if (unchanged && now - a.checkedAt >= this.renewEvery()) this.release(a);
      else if (a.dry || !a.hours.has(hourStartOf(now + this.renewEvery()))) this.topUp(a);
      // Looked at again a period on, not a period after its grant: first looks spread the give-backs.
      else if (unchanged) a.renewAt = now + this.renewEvery();
      else {
        a.spentAtCheck = a.spent;
        a.checkedAt = now;
        a.renewAt = now + this.renewEvery();
      }
    }
  }

  private newSession(generation: number): Session {
    const ref = {
      id: holderSessionId(this.holder, generation),
      holder: this.holder,
      region: this.opts.region,
    };
    return { ref, generation, answered: false, spendableUntil: 0, renewAt: 0 };
  }

  /**
   * Renews the session (starting it the first time); true when it answered. Each answer extends every
   * grant held under it. A session found ended (this holder was cut off past its lease, and the ledgers
   * were told) is replaced by a new one, and every grant is asked for again under it.
   */
  private renewSession(): Promise<boolean> {
    const session = this.session;
    if (session.inFlight) return session.inFlight;
    const { leaseMs, leaseMarginMs } = this.config.caps;
    const sentAt = Date.now();
    session.inFlight = this.sessions
      .renew(session.ref, leaseMs)
      .then(
        () => {
          const lost = !session.answered && session.generation > 1;
          session.answered = true;
          session.spendableUntil = this.closing ? 0 : sentAt + leaseMs - leaseMarginMs;
          session.renewAt = sentAt + this.renewEvery();
          for (const a of this.held.values())
            if (a.session === session.ref.id && !a.released && !a.releasing && !this.closing)
              a.spendableUntil = session.spendableUntil;
          if (lost && this.session === session && !this.closing)
            void this.askAll(
              [...this.held.values()].filter((a) => !a.released && !a.closed),
              true,
            );
          return true;
        },
        (err: unknown) => {
          session.renewAt = Date.now() + this.retryAfter();
          if (isSessionEnded(err) && this.session === session) {
            this.sessionLost(session);
            return false;
          }
          this.log(
            'warn',
            `session ${session.ref.id} not renewed; spending what is held until its lease ends`,
            err,
          );
          return false;
        },
      )
      .finally(() => (session.inFlight = undefined));
    return session.inFlight;
  }

  /** `lost` is over (its lease ran out and its ledgers were told): a new session is renewed at once. */
  private sessionLost(lost: Session): void {
    if (this.session !== lost || this.closing) return;
    this.log('warn', `session ${lost.ref.id} ended (cut off past its lease); starting another`);
    this.session = this.newSession(lost.generation + 1);
    void this.renewSession();
  }

  private release(a: Allowance): void {
    // Spending stops before the return leaves: nothing judged meanwhile may spend what is given back.
    a.spendableUntil = 0;
    a.session = undefined;
    a.renewAt = Infinity;
    a.releasing = true;
    a.inFlight = this.ledgers
      .giveBack(a.cap.id, a.window.key, this.holder, a.spent)
      .then(
        () => {
          a.granted = a.spent;
          a.released = true;
        },
        (err: unknown) => {
          // Not spending either way; tried again later (idempotent), else its lease ends.
          a.renewAt = Date.now() + this.retryAfter();
          this.log('warn', `idle allowance of ${a.cap.id} ${a.window.key} not given back`, err);
        },
      )
      .finally(() => {
        a.releasing = false;
        a.inFlight = undefined;
      });
  }

  private verdictsOf(state: CapState): Verdicts {
    if (!state.verdicts) {
      const [within, withinNumber] = this.judgement(state.cap.id, 'within');
      const [exceeded, exceededNumber] = this.judgement(state.cap.id, 'exceeded');
      state.verdicts = { within, exceeded, withinNumber, exceededNumber };
    }
    return state.verdicts;
  }

  /** A cap's judgement and its number, made once however often the cap's definition is read again. */
  private judgement(capId: string, capStatus: 'within' | 'exceeded'): [Judgement, number] {
    const key = `${capStatus}:${capId}`;
    let number = this.judgementNumbers.get(key);
    if (number === undefined) {
      const capHolder = this.holder;
      const fields = { capStatus, capId, capHolder };
      number = this.judgements.push(Object.freeze({ ...fields, ...lineEndOf(fields) })) - 1;
      this.judgementNumbers.set(key, number);
    }
    return [this.judgements[number]!, number];
  }
}

/** The window's ledger finished (closed): REJECT_DUPLICATE refuses to start it again. */
function isClosedLedger(err: unknown): boolean {
  return err instanceof Error && err.name === 'WorkflowExecutionAlreadyStartedError';
}
