import { z } from 'zod';

/**
 * Cap definitions (issue 15): what an offer, or an offer and affiliate, may spend per window. Shared by the
 * capRegistry workflow (which validates every change: it is the system of record), its client and the CLI.
 * Pure: the workflow bundle includes this file.
 */

export const CAP_METRICS = ['conversions', 'clicks', 'payout'] as const;
export const CAP_MODES = ['hard', 'soft'] as const;
export const CAP_WINDOWS = ['day', 'month', 'lifetime'] as const;

/** An IANA time zone the runtime knows (day and month windows start at its midnight). */
function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

const timeZone = z
  .string()
  .refine(isTimeZone, { message: 'not an IANA time zone (e.g. Europe/Berlin, UTC)' });

export const capDefinitionSchema = z
  .object({
    /** Readable and stable: the ledger's workflow ID and the CLI name it. */
    id: z
      .string()
      .regex(
        /^[a-z0-9][a-z0-9-]{0,62}$/,
        'lower-case letters, digits and -, at most 63, not starting with -',
      ),
    /** The events it counts: an offer's, or an offer's from one affiliate. */
    scope: z
      .object({ offerId: z.string().min(1).max(64), affiliateId: z.string().min(1).max(64).optional() })
      .strict(),
    /** conversions or clicks count events of that type; payout sums a conversion attribute. */
    metric: z.enum(CAP_METRICS),
    /** The conversion attribute payout sums (payout only; default `payout`). */
    payoutAttribute: z.string().min(1).max(128).optional(),
    /** Day and month start at midnight in `timeZone`; lifetime never resets. */
    window: z.discriminatedUnion('kind', [
      z.object({ kind: z.literal('day'), timeZone }).strict(),
      z.object({ kind: z.literal('month'), timeZone }).strict(),
      z.object({ kind: z.literal('lifetime') }).strict(),
    ]),
    limit: z.number().positive().max(1e12),
    /** hard: never exceeded; soft: each region may overdraw by `overdraftPerRegion`. */
    mode: z.enum(CAP_MODES),
    overdraftPerRegion: z.number().positive().max(1e12).optional(),
    /** Where a click past the cap is redirected (clicks only). */
    fallbackUrl: z.url({ protocol: /^https?$/ }).optional(),
  })
  .strict()
  .superRefine((cap, ctx) => {
    const issue = (path: string, message: string): void =>
      ctx.addIssue({ code: 'custom', path: [path], message });
    if (cap.metric !== 'payout' && !Number.isInteger(cap.limit))
      issue('limit', `a count of ${cap.metric} must be a whole number`);
    if (cap.metric !== 'payout' && cap.payoutAttribute !== undefined)
      issue('payoutAttribute', 'only a payout cap sums an attribute');
    if (cap.mode === 'soft' && cap.overdraftPerRegion === undefined)
      issue('overdraftPerRegion', 'a soft cap needs the overdraft each region may take');
    if (cap.mode === 'hard' && cap.overdraftPerRegion !== undefined)
      issue('overdraftPerRegion', 'a hard cap has no overdraft (use mode soft)');
    if (cap.metric !== 'clicks' && cap.fallbackUrl !== undefined)
      issue('fallbackUrl', 'only clicks are redirected; conversions past a cap are recorded as exceeded');
  });

export type CapDefinition = z.output<typeof capDefinitionSchema>;

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

/** Parses a definition, or says every field at fault. */
export function parseCap(input: unknown): { cap: CapDefinition } | { errors: CapFieldError[] } {
  const parsed = capDefinitionSchema.safeParse(input);
  if (parsed.success) return { cap: parsed.data };
  return {
    errors: parsed.error.issues.map((i) => ({
      field: i.path.map(String).join('.') || '(definition)',
      reason: i.message,
    })),
  };
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
