import { z } from 'zod';

/** Largest serialized `attributes` object we accept per event: keeps batches far below Temporal's payload limit. */
export const MAX_ATTRIBUTES_BYTES = 4096;

export const EVENT_TYPES = ['click', 'conversion', 'impression'] as const;
export const CAP_STATUSES = ['within', 'exceeded'] as const;

const utf8 = new TextEncoder();
/** Longest JSON text of a finite number, e.g. -1.7976931348623157e+308. */
const MAX_NUMBER_JSON = 25;

/** Longest attribute key and string value, in UTF-16 units (as string lengths count). */
const MAX_ATTRIBUTE_KEY = 128;
const MAX_ATTRIBUTE_STRING = 1024;

export type AttributeValue = string | number | boolean | null;
export type Attributes = Record<string, AttributeValue>;

/** Why attributes whose every key and value is fine are refused together. */
export const ATTRIBUTES_TOO_LARGE = `attributes exceed ${MAX_ATTRIBUTES_BYTES} bytes when serialized`;

/**
 * Whether `attributes` (every key and value already checked), serialized, fit the limit. An upper bound of
 * their JSON size taken without serializing (each UTF-16 unit is at most 6 bytes of JSON, as an escape)
 * settles most, as stringifying every event's attributes cost the ingest about 0.4 µs per event. The one
 * check of an event a JSON schema cannot make: the stats service makes it after its contract's schema.
 * `bound`: `attributesBound`, when the caller summed it in a pass of its own over the attributes.
 */
export function attributesFit(attributes: Attributes, bound = attributesBound(attributes)): boolean {
  if (bound <= MAX_ATTRIBUTES_BYTES) return true;
  const json = JSON.stringify(attributes);
  return json.length * 3 <= MAX_ATTRIBUTES_BYTES || utf8.encode(json).length <= MAX_ATTRIBUTES_BYTES;
}

/** An upper bound of the JSON size of attributes: `{}` and each entry's `attributeBound`. */
function attributesBound(attributes: Attributes): number {
  let bound = 2;
  for (const key of Object.keys(attributes)) bound += attributeBound(key, attributes[key]);
  return bound;
}

/** An upper bound of one entry's JSON size: quoted key and value (6 bytes a unit, escaped), colon, comma. */
function attributeBound(key: string, value: unknown): number {
  return 6 * key.length + 4 + (typeof value === 'string' ? 6 * value.length + 2 : MAX_NUMBER_JSON);
}

/** Why one attribute is refused, or undefined when it is fine. */
function attributeProblem(key: string, value: unknown): string | undefined {
  if (key.length > MAX_ATTRIBUTE_KEY) return `key longer than ${MAX_ATTRIBUTE_KEY} characters`;
  switch (typeof value) {
    case 'string':
      return value.length <= MAX_ATTRIBUTE_STRING
        ? undefined
        : `longer than ${MAX_ATTRIBUTE_STRING} characters`;
    case 'number':
      return Number.isFinite(value) ? undefined : 'not a finite number';
    case 'boolean':
      return undefined;
    default:
      return value === null
        ? undefined
        : `must be a string of at most ${MAX_ATTRIBUTE_STRING} characters, a number, true, false or null`;
  }
}

const isPlainObject = (v: unknown): v is Attributes => {
  if (typeof v !== 'object' || v === null) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
};

/**
 * An event's flat attributes, checked (and their JSON size bounded) in one pass over the object: as
 * `z.record` of a union, zod's generic walk of every key and value was 1.5 of the 2.5 µs the schema cost per
 * event, and the ingest and every stats service validate each event. Each bad attribute is named
 * (`attributes.<key>`).
 */
const attributesSchema = z
  .custom<Attributes>(isPlainObject, 'must be an object of attributes')
  .check((ctx) => {
    let bad = false;
    // The size bound in the same pass: the ingest validates every event.
    let bound = 2;
    for (const key of Object.keys(ctx.value)) {
      const value = ctx.value[key];
      bound += attributeBound(key, value);
      const problem = attributeProblem(key, value);
      if (problem === undefined) continue;
      bad = true;
      ctx.issues.push({ code: 'custom', path: [key], message: problem, input: value });
    }
    if (!bad && !attributesFit(ctx.value, bound))
      ctx.issues.push({ code: 'custom', message: ATTRIBUTES_TOO_LARGE, input: ctx.value });
  });

const id = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9._:-]+$/, 'only letters, digits and . _ : - are allowed');

/** One tracked event as services hand it over; the shape the archive and the stats API both store. */
export const trackingEventSchema = z
  .object({
    id,
    type: z.enum(EVENT_TYPES),
    timestamp: z.iso.datetime({ offset: true }),
    region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d+$/, 'must be a region name such as us-east-1'),
    offerId: z.string().min(1).max(64),
    affiliateId: z.string().min(1).max(64),
    attributes: attributesSchema.default({}),
    /**
     * The ingest's cap judgement (issue 15), absent when no cap covers the event: `within` spent allowance of
     * every cap that covers it, `exceeded` was past `capId`'s cap (recorded, not paid). Set by the ingest
     * only: a sender's record that carries these fields is refused (see validateRecords).
     */
    capStatus: z.enum(CAP_STATUSES).optional(),
    capId: z.string().min(1).max(64).optional(),
    /** Which enforcing holder judged it (its lease), so a dead holder's spend can be counted from the archive. */
    capHolder: z.string().min(1).max(128).optional(),
  })
  .strict();

/** Fields only the ingest writes: a sender may not set them. */
export const INGEST_ONLY_FIELDS = ['capStatus', 'capId', 'capHolder'] as const;

export type TrackingEvent = z.output<typeof trackingEventSchema>;
