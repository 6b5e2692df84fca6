/**
 * Escrow for caps (issue 15): what the ledger workflows, the enforcing holders (ingests) and the reclaim
 * activity share. Pure and workflow-safe (no zod, no Node): which cap covers an event, how much it spends,
 * which window it falls in, and the messages of a ledger.
 */
import type { CapDefinition, StoredCap } from './caps';

/** The slice of an event a cap judges (the whole TrackingEvent fits it). */
export interface CappedEvent {
  type: string;
  timestamp: string;
  offerId: string;
  affiliateId: string;
  attributes?: Record<string, unknown>;
}

/** Whether `cap` counts `event`: its offer (and affiliate), and the event type its metric counts. */
export function capCovers(
  cap: CapDefinition,
  event: Pick<CappedEvent, 'type' | 'offerId' | 'affiliateId'>,
): boolean {
  if (cap.scope.offerId !== event.offerId || !capAdmitsAffiliate(cap, event.affiliateId)) return false;
  return event.type === capEventType(cap);
}

/** The event type a cap counts: clicks count clicks; conversions and payout count conversions. */
export function capEventType(cap: CapDefinition): 'click' | 'conversion' {
  return cap.metric === 'clicks' ? 'click' : 'conversion';
}

/** The affiliate part of `capCovers`, for a caller that found the cap by offer and metric already. */
export function capAdmitsAffiliate(cap: CapDefinition, affiliateId: string): boolean {
  return cap.scope.affiliateId === undefined || cap.scope.affiliateId === affiliateId;
}

/**
 * What `event` spends of `cap`: 1 for a count, the payout attribute for payout. A conversion without a
 * numeric, non-negative payout spends nothing (it is still judged: a cap already spent makes it exceeded).
 */
export function capAmountOf(cap: CapDefinition, event: CappedEvent): number {
  if (cap.metric !== 'payout') return 1;
  const v = event.attributes?.[cap.payoutAttribute ?? 'payout'];
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : 0;
}

/** One window of a cap: `key` names it in ledger IDs; [startMs, endMs), endMs undefined for lifetime. */
export interface CapWindow {
  key: string;
  startMs: number;
  endMs?: number;
}

/**
 * The window an instant falls in: day and month start at midnight in the cap's time zone (DST included),
 * lifetime is one window. An event counts in the window of its own timestamp.
 */
export function capWindowOf(cap: CapDefinition, atMs: number): CapWindow {
  const w = cap.window;
  if (w.kind === 'lifetime') return { key: 'lifetime', startMs: 0 };
  const { year, month, day } = zonedParts(atMs, w.timeZone);
  if (w.kind === 'day') {
    return {
      key: `${year}-${pad(month)}-${pad(day)}`,
      startMs: zonedMidnight(year, month, day, w.timeZone),
      endMs: zonedMidnight(year, month, day + 1, w.timeZone),
    };
  }
  return {
    key: `${year}-${pad(month)}`,
    startMs: zonedMidnight(year, month, 1, w.timeZone),
    endMs: zonedMidnight(year, month + 1, 1, w.timeZone),
  };
}

const pad = (n: number): string => String(n).padStart(2, '0');

/** Building a formatter costs ~100 times formatting with one: one per zone, kept. */
const formatters = new Map<string, Intl.DateTimeFormat>();
function formatterOf(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

function zonedParts(
  atMs: number,
  timeZone: string,
): Record<'year' | 'month' | 'day' | 'hour' | 'minute' | 'second', number> {
  const parts = formatterOf(timeZone).formatToParts(new Date(atMs));
  const get = (t: string): number => Number(parts.find((p) => p.type === t)?.value ?? 0);
  return {
    year: get('year'),
    month: get('month'),
    day: get('day'),
    hour: get('hour'),
    minute: get('minute'),
    second: get('second'),
  };
}

/** The zone's offset from UTC at an instant, in ms. */
function offsetAt(atMs: number, timeZone: string): number {
  const p = zonedParts(atMs, timeZone);
  return Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) - Math.floor(atMs / 1000) * 1000;
}

/** The instant of local midnight starting that date (month and day may overflow: Date.UTC normalises). */
function zonedMidnight(year: number, month: number, day: number, timeZone: string): number {
  const wall = Date.UTC(year, month - 1, day);
  const guess = wall - offsetAt(wall, timeZone);
  return wall - offsetAt(guess, timeZone);
}

/** One ledger per cap and window: `cap-ledger-<capId>-<window key>`. */
export const capLedgerId = (capId: string, windowKey: string): string => `cap-ledger-${capId}-${windowKey}`;

/**
 * A holder's request: totals, not increments, so a retried Update changes nothing more. `spent` is what the
 * holder has spent in this window so far; `wantGranted` the total grant it would like to hold.
 */
export interface AllowanceRequest {
  holder: string;
  region: string;
  cap: StoredCap;
  window: CapWindow;
  spent: number;
  wantGranted: number;
  leaseMs: number;
  /**
   * The holder's session (capHolderSession's workflow ID): its grant is leased for as long as the session
   * lives, which the holder renews once per period for all its caps, instead of this ledger renewing it.
   * The ledger tells the session it holds the holder before it grants; the session tells the ledger when it
   * ended. Absent (holders before sessions): the grant's lease is `leaseMs` from this request, renewed by
   * asking again.
   */
  session?: string;
  /**
   * Hours (UTC, ISO) of event timestamps this holder may spend in: it spends only in hours the ledger knows,
   * so a dead holder's spend is counted by reading those hours of the archive, however wide the accepted
   * lateness.
   */
  hours: string[];
}

/** The answer: the holder's total grant, valid until the lease ends (the holder counts from before it asked). */
export interface AllowanceGrant {
  granted: number;
  leaseEndsAt: string;
  /** Soft mode: how far past its grant this holder may spend while no more can be had. 0 in hard mode. */
  overdraft: number;
  /** The window is closed to new grants (past its end plus the accepted lateness). */
  closed: boolean;
  /**
   * The holder's region is revoked (failed over): `granted` is what it reported spent, its lease is not
   * renewed, and it should give back at once with its final spend (it spends nothing more after this answer).
   */
  revoked?: boolean;
}

/** A holder gives back what it did not spend (window close, shutdown); `spent` is its final total. */
export interface AllowanceReturn {
  holder: string;
  spent: number;
}

export type HolderState = 'active' | 'returned' | 'expired' | 'reclaimed';

export interface HolderStatus {
  holder: string;
  region: string;
  state: HolderState;
  granted: number;
  /** As last reported by the holder, or counted from the archive once reclaimed. */
  spent: number;
  /** When its lease ended (expired) or, without a session, ends; with a live session it ends with that. */
  leaseEndsAt: string;
  /** The session its grant is leased by (AllowanceRequest.session); absent: leased per request. */
  session?: string;
  /** That session ended (its lease ran out, or the holder closed it): a request naming it is refused. */
  sessionEnded?: boolean;
  firstGrantAt: string;
  /** expired: granted but not reported, held back until counted from the archive. */
  stranded: number;
  /** The event hours it announced (see AllowanceRequest.hours): all its spend lies in them. */
  hours: string[];
}

/** A holder's lease in words (ledger details, `caps status`): a live session's holder holds while it lives. */
export const holderLease = (h: HolderStatus): string =>
  h.session !== undefined && h.state === 'active'
    ? `leased by session ${h.session}`
    : `lease ends ${h.leaseEndsAt}`;

export interface CapLedgerStatus {
  capId: string;
  window: CapWindow;
  limit: number;
  mode: CapDefinition['mode'];
  /** What the cap has committed: spent by holders that are done, granted to those still holding. */
  committed: number;
  spent: number;
  available: number;
  /** Spent past the limit: never in hard mode; in soft mode at most the overdraft of each region. */
  overshoot: number;
  holders: HolderStatus[];
  /** Allowance an expired lease left and the archive count gave back, in all. */
  reclaimed: number;
  closed: boolean;
  /** Once closed: the window's spend counted from the archive, and how it compares with the ledger's. */
  archived?: { spent: number; overshoot: number; ledgerSpent: number };
  /** Regions whose holders are granted nothing now (a failover took their traffic away). */
  revoked?: CapRevocation[];
}

/** A failover takes a region's allowance back (revokeRegion), its rollback or failback gives it back (restoreRegion). */
export interface RegionRevocation {
  region: string;
  operationId: string;
}

/** An Update's validator for a revocation (ledger and registry alike): both fields named, or refused. */
export function checkRevocation(r: RegionRevocation): void {
  if (typeof r?.region !== 'string' || !r.region || typeof r.operationId !== 'string' || !r.operationId)
    throw new Error('say which region and which operation (region, operationId)');
}

export interface CapRevocation extends RegionRevocation {
  since: string;
  /** Unspent allowance its holders gave back since, answering (returnAllowance). */
  returned: number;
  /** Unspent allowance reclaimed since from its holders whose lease ended unrenewed. */
  reclaimed: number;
}

/** What a region's holders of one ledger still hold while it is revoked, and what came back so far. */
export interface RegionHolding {
  ledger: string;
  /** Active holders' grant not spent, and expired holders' stranded grant: not back yet. */
  unspent: number;
  /** Of its holders, those that still hold (active with grant left, or expired and not yet counted). */
  holding: string[];
  returned: number;
  reclaimed: number;
}

/** A region's holding of one ledger, from its status (the one definition of "still holds allowance"). */
export function regionHolding(ledger: string, s: CapLedgerStatus, region: string): RegionHolding {
  const of = s.holders.filter((h) => h.region === region);
  const still = of.filter((h) => (h.state === 'active' && h.granted > h.spent) || h.state === 'expired');
  const r = s.revoked?.find((x) => x.region === region);
  return {
    ledger,
    unspent: still.reduce((n, h) => n + (h.state === 'expired' ? h.stranded : h.granted - h.spent), 0),
    holding: still.map((h) => h.holder),
    returned: r?.returned ?? 0,
    reclaimed: r?.reclaimed ?? 0,
  };
}

/** What the archive count reads: a cap's window spend, of one holder or (absent) of all, in these hours. */
export interface CapSpendQuery {
  cap: StoredCap;
  window: CapWindow;
  holder?: string;
  /** The event hours the holder(s) announced: the only hours they spent in. */
  hours: string[];
}

export interface CapLedgerInput {
  capId: string;
  window: CapWindow;
  /** When the ledger stops granting: the window's end plus the accepted lateness (absent: lifetime). */
  closesAtMs?: number;
  /** How long after a lease ends its batches may still be landing, before its spend is counted. */
  reclaimAfterMs: number;
  /**
   * Regions revoked when it starts (the registry's record, passed on by the holder that starts it): a ledger
   * started after a failover grants that region nothing either.
   */
  revoked?: RegionRevocation[];
  /** Carried over continue-as-new. */
  state?: {
    cap: StoredCap;
    holders: HolderStatus[];
    reclaimed: number;
    /** Thresholds (0.8, 0.9, 1) already alerted. */
    alerted: number[];
    revoked?: CapRevocation[];
  };
  maxHistoryEvents?: number;
}
