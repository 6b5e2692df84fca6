/**
 * A cap holder's session (issue 15): one lease per enforcing process for all the grants it holds, renewed
 * once per period, instead of one lease per cap and window renewed by an Update to each ledger. The session
 * knows the ledgers that granted to the holder (each tells it before its first grant) and tells them when
 * the lease ended unrenewed (or the holder closed it), so they strand and reclaim its grants as before.
 */

/** `cap-holder-<holder>`, and `-<generation>` after the holder lost an earlier session (cut off past its lease). */
export const holderSessionId = (holder: string, generation: number): string =>
  `cap-holder-${holder}${generation > 1 ? `-${generation}` : ''}`;

export interface HolderSessionInput {
  holder: string;
  region: string;
  /** The first lease, from the start (the starting renewal extends it the same way). */
  leaseMs: number;
  /** Carried over continue-as-new. */
  state?: { leaseEndsAt: number; ledgers: string[] };
  maxHistoryEvents?: number;
}

/** The holder renews: the lease now ends `leaseMs` after the session heard it (never earlier than it did). */
export interface SessionRenewal {
  leaseMs: number;
}

export interface SessionLease {
  leaseEndsAt: string;
}

/** The holder closes: it spends nothing more. `settled`: ledgers it gave back to (they need not be told). */
export interface SessionEnd {
  settled: string[];
}

/** What a session tells each of its ledgers when it ends; `endedAt` is when the holder's lease ended. */
export interface HolderSessionEnded {
  holder: string;
  session: string;
  endedAt: string;
}

export interface HolderSessionStatus {
  holder: string;
  region: string;
  leaseEndsAt: string;
  /** Ledgers (workflow IDs) that granted to the holder in this session. */
  ledgers: string[];
  ended: boolean;
}

/** The error type a ledger refuses a request with when its session ended (the holder starts a new one). */
export const SESSION_ENDED = 'HolderSessionEnded';
