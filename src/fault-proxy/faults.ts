import { z } from 'zod';

function compiles(pattern: string): boolean {
  try {
    new RegExp(pattern);
    return true;
  } catch {
    return false;
  }
}

/** Which requests a fault applies to; every field narrows it further. */
const scope = {
  /** Apply to the next `count` matching requests only, then the listener is back to `pass`. */
  count: z.number().int().positive().optional(),
  /** Only these HTTP methods (case-insensitive), e.g. ["PUT"]. */
  methods: z
    .array(
      z
        .string()
        .regex(/^[A-Za-z]+$/, 'must be an HTTP method name')
        .transform((m) => m.toUpperCase()),
    )
    .nonempty()
    .optional(),
  /** Only requests whose path plus query string matches, e.g. "^/2013-04-01/change/". */
  pathRegex: z.string().refine(compiles, 'must be a valid regular expression').optional(),
};

const errorFormats = ['s3', 'route53', 'json'] as const;
export type ErrorFormat = (typeof errorFormats)[number];

/**
 * One listener's fault. Objects are strict: a misspelt field is refused rather than ignored, because an
 * ignored `count` or `pathRegex` would silently fault every request.
 */
export const faultSchema = z.discriminatedUnion('mode', [
  z.strictObject({ mode: z.literal('pass') }),
  z.strictObject({
    mode: z.literal('error'),
    status: z.number().int().min(400).max(599),
    /** Error body as the service behind the listener would write it. */
    format: z.enum(errorFormats),
    /** Overrides the format's usual code for the status (e.g. PriorRequestNotComplete). */
    code: z.string().regex(/^\w+$/, 'must be a word such as SlowDown').optional(),
    message: z.string().min(1).optional(),
    retryAfterSeconds: z.number().int().nonnegative().optional(),
    ...scope,
  }),
  z.strictObject({ mode: z.literal('reset'), ...scope }),
  z.strictObject({ mode: z.literal('hang'), ...scope }),
  z.strictObject({
    mode: z.literal('latency'),
    latencyMs: z.number().int().positive().max(600_000),
    ...scope,
  }),
  z.strictObject({ mode: z.literal('lose-answer'), ...scope }),
  z.strictObject({ mode: z.literal('rewrite-pending'), ...scope }),
]);

/** A fault as the control API accepts it. */
export type FaultInput = z.input<typeof faultSchema>;
/** A fault after validation (methods upper-cased). */
export type Fault = z.output<typeof faultSchema>;
export type ErrorFault = Extract<Fault, { mode: 'error' }>;

export const PASS: Fault = { mode: 'pass' };

/** A fault in force on a listener: its compiled path filter and how many requests it still applies to. */
export interface ActiveFault {
  readonly fault: Fault;
  readonly pathPattern?: RegExp;
  /** Undefined: unlimited. */
  remaining?: number;
}

export function activate(fault: Fault): ActiveFault {
  if (fault.mode === 'pass') return { fault };
  return {
    fault,
    pathPattern: fault.pathRegex === undefined ? undefined : new RegExp(fault.pathRegex),
    remaining: fault.count,
  };
}

export function appliesTo(active: ActiveFault, method: string, url: string): boolean {
  const { fault } = active;
  if (fault.mode === 'pass') return false;
  if (fault.methods && !fault.methods.includes(method)) return false;
  return active.pathPattern?.test(url) ?? true;
}

/** "field: problem; field: problem", so a 400 names what to fix (unknown keys are named in the message). */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => (issue.path.length ? `${issue.path.join('.')}: ${issue.message}` : issue.message))
    .join('; ');
}
