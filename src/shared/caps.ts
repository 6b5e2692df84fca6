import type { RegionRevocation } from './capLedger';
/**
 * Cap definitions (issue 15): what an offer, or an offer and affiliate, may spend per window. Shared by the
 * capRegistry workflow (which validates every change: it is the system of record), its client, the CLI and
 * the HTTP API. Pure, and free of zod on purpose: the workflow bundle includes this file, and zod would add
 * 1.1 MB to it (1.9 to 3.0 MB) and ~20 MiB to every worker's RSS for a dozen checks.
 */

export const CAP_METRICS = ['conversions', 'clicks', 'payout'] as const;
export const CAP_MODES = ['hard', 'soft'] as const;
export const CAP_WINDOWS = ['day', 'month', 'lifetime'] as const;

export interface CapDefinition {
  /** Readable and stable: the CLI and the API name it. Lower-case letters, digits and -. */
  id: string;
  /** The events it counts: an offer's, or an offer's from one affiliate. */
  scope: { offerId: string; affiliateId?: string };
  /** conversions or clicks count events of that type; payout sums a conversion attribute. */
  metric: (typeof CAP_METRICS)[number];
  /** The conversion attribute payout sums (payout only; default `payout`). */
  payoutAttribute?: string;
  /** Day and month start at midnight in `timeZone`; lifetime never resets. */
  window: { kind: 'day' | 'month'; timeZone: string } | { kind: 'lifetime' };
  limit: number;
  /** hard: never exceeded; soft: each region may overdraw by `overdraftPerRegion`. */
  mode: (typeof CAP_MODES)[number];
  overdraftPerRegion?: number;
  /** Where a click past the cap is redirected (clicks only). */
  fallbackUrl?: string;
}

/** An IANA time zone the runtime knows (day and month windows start at its midnight). */
function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

const ID = /^[a-z0-9][a-z0-9-]{0,62}$/;
const MAX_AMOUNT = 1e12;
const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const isText = (v: unknown, max: number): v is string =>
  typeof v === 'string' && v.length > 0 && v.length <= max;
const isAmount = (v: unknown): v is number =>
  typeof v === 'number' && Number.isFinite(v) && v > 0 && v <= MAX_AMOUNT;

function isHttpUrl(v: unknown): boolean {
  if (typeof v !== 'string') return false;
  try {
    return ['http:', 'https:'].includes(new URL(v).protocol);
  } catch {
    return false;
  }
}

/** Every field at fault in `input` as a cap definition (empty: it is one). */
function capErrors(input: unknown): CapFieldError[] {
  const errors: CapFieldError[] = [];
  const fail = (field: string, reason: string): void => void errors.push({ field, reason });
  if (!isObject(input)) return [{ field: '(definition)', reason: 'expected an object' }];
  const known = [
    'id',
    'scope',
    'metric',
    'payoutAttribute',
    'window',
    'limit',
    'mode',
    'overdraftPerRegion',
    'fallbackUrl',
  ];
  for (const k of Object.keys(input)) if (!known.includes(k)) fail(k, 'not a field of a cap');

  if (typeof input.id !== 'string' || !ID.test(input.id))
    fail('id', 'lower-case letters, digits and -, at most 63, not starting with -');
  const scope = input.scope;
  if (!isObject(scope)) fail('scope', 'expected {offerId, affiliateId?}');
  else {
    if (!isText(scope.offerId, 64)) fail('scope.offerId', 'expected 1 to 64 characters');
    if (scope.affiliateId !== undefined && !isText(scope.affiliateId, 64))
      fail('scope.affiliateId', 'expected 1 to 64 characters');
    for (const k of Object.keys(scope))
      if (k !== 'offerId' && k !== 'affiliateId') fail(`scope.${k}`, 'not a field of a scope');
  }
  const metric = input.metric;
  if (!CAP_METRICS.includes(metric as CapDefinition['metric']))
    fail('metric', `one of ${CAP_METRICS.join(', ')}`);
  if (input.payoutAttribute !== undefined) {
    if (!isText(input.payoutAttribute, 128)) fail('payoutAttribute', 'expected 1 to 128 characters');
    else if (metric !== 'payout') fail('payoutAttribute', 'only a payout cap sums an attribute');
  }
  const window = input.window;
  if (!isObject(window) || !CAP_WINDOWS.includes(window.kind as CapDefinition['window']['kind']))
    fail('window.kind', `one of ${CAP_WINDOWS.join(', ')}`);
  else if (window.kind === 'lifetime') {
    if (window.timeZone !== undefined) fail('window.timeZone', 'a lifetime window has no time zone');
  } else if (typeof window.timeZone !== 'string' || !isTimeZone(window.timeZone))
    fail('window.timeZone', 'not an IANA time zone (e.g. Europe/Berlin, UTC)');
  if (!isAmount(input.limit)) fail('limit', `expected a number above 0 and at most ${MAX_AMOUNT}`);
  else if (metric !== 'payout' && !Number.isInteger(input.limit))
    fail('limit', `a count of ${String(metric)} must be a whole number`);
  if (!CAP_MODES.includes(input.mode as CapDefinition['mode']))
    fail('mode', `one of ${CAP_MODES.join(', ')}`);
  if (input.overdraftPerRegion !== undefined && !isAmount(input.overdraftPerRegion))
    fail('overdraftPerRegion', `expected a number above 0 and at most ${MAX_AMOUNT}`);
  else if (input.mode === 'soft' && input.overdraftPerRegion === undefined)
    fail('overdraftPerRegion', 'a soft cap needs the overdraft each region may take');
  else if (input.mode === 'hard' && input.overdraftPerRegion !== undefined)
    fail('overdraftPerRegion', 'a hard cap has no overdraft (use mode soft)');
  if (input.fallbackUrl !== undefined) {
    if (!isHttpUrl(input.fallbackUrl)) fail('fallbackUrl', 'expected an http(s) URL');
    else if (metric !== 'clicks')
      fail('fallbackUrl', 'only clicks are redirected; conversions past a cap are recorded as exceeded');
  }
  return errors;
}

/** A definition as the registry holds it: who changed it last, when, and its revision (1 when created). */
export interface StoredCap extends CapDefinition {
  revision: number;
  createdAt: string;
  updatedAt: string;
  updatedBy: string;
}

/** One field at fault in a definition, named by its dotted path. */
export interface CapFieldError {
  field: string;
  reason: string;
}

/** Checks a definition, or says every field at fault. */
export function parseCap(input: unknown): { cap: CapDefinition } | { errors: CapFieldError[] } {
  const errors = capErrors(input);
  return errors.length ? { errors } : { cap: input as CapDefinition };
}

/** "`id`: field: reason; field: reason", the text a refused change answers with. */
export function describeCapErrors(input: unknown, errors: CapFieldError[]): string {
  const id = (input as { id?: unknown } | null)?.id;
  const name = typeof id === 'string' ? `cap ${id}` : 'the cap';
  return `${name} is not valid: ${errors.map((e) => `${e.field}: ${e.reason}`).join('; ')}`;
}

export interface CapChange {
  cap: CapDefinition;
  /** Who asks (operator or service), recorded on the definition. */
  by: string;
  /** update only: refuse if the stored revision is another (someone changed it meanwhile). */
  expectedRevision?: number;
}

export interface CapDeletion {
  id: string;
  by: string;
}

export interface CapRegistryInput {
  caps?: StoredCap[];
  /**
   * Regions a failover took the allowance of, until restored: a ledger that starts later (a new window, a
   * new cap) starts with them revoked (its first holder passes them on).
   */
  revoked?: RegionRevocation[];
  /** Continue as new past this many history events (tests set it low). */
  maxHistoryEvents?: number;
}

/** What one cap counts, in words: "conversions of offer o-1 from affiliate a-7 per day (Europe/Berlin)". */
export function describeCap(c: CapDefinition): string {
  const what = c.metric === 'payout' ? `payout (${c.payoutAttribute ?? 'payout'})` : c.metric;
  const scope = `offer ${c.scope.offerId}${c.scope.affiliateId ? ` from affiliate ${c.scope.affiliateId}` : ''}`;
  const window =
    c.window.kind === 'lifetime' ? 'for its lifetime' : `per ${c.window.kind} (${c.window.timeZone})`;
  const mode = c.mode === 'hard' ? 'hard' : `soft, overdraft ${c.overdraftPerRegion} per region`;
  return `${c.limit} ${what} of ${scope} ${window}, ${mode}`;
}
