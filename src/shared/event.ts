import { z } from 'zod';

/** Largest serialized `attributes` object we accept per event: keeps batches far below Temporal's payload limit. */
export const MAX_ATTRIBUTES_BYTES = 4096;

export const EVENT_TYPES = ['click', 'conversion', 'impression'] as const;
export const CAP_STATUSES = ['within', 'exceeded'] as const;

const utf8 = new TextEncoder();
/** Longest JSON text of a finite number, e.g. -1.7976931348623157e+308. */
const MAX_NUMBER_JSON = 25;

/**
 * Whether `attributes`, serialized, fit the limit. Most are far below it: an upper bound taken without
 * serializing (each UTF-16 unit is at most 6 bytes of JSON, as an escape) settles those, as stringifying
 * every event's attributes cost the ingest about 0.4 µs per event. Values are already validated here.
 */
function fitsAttributesLimit(attributes: Record<string, string | number | boolean | null>): boolean {
  let bound = 2;
  for (const key in attributes) {
    const value = attributes[key];
    bound += 6 * key.length + 4 + (typeof value === 'string' ? 6 * value.length + 2 : MAX_NUMBER_JSON);
  }
  if (bound <= MAX_ATTRIBUTES_BYTES) return true;
  const json = JSON.stringify(attributes);
  return json.length * 3 <= MAX_ATTRIBUTES_BYTES || utf8.encode(json).length <= MAX_ATTRIBUTES_BYTES;
}

const id = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9._:-]+$/, 'only letters, digits and . _ : - are allowed');

const attributeValue = z.union([z.string().max(1024), z.number(), z.boolean(), z.null()]);

/** One tracked event as services hand it over; the shape the archive and the stats API both store. */
export const trackingEventSchema = z
  .object({
    id,
    type: z.enum(EVENT_TYPES),
    timestamp: z.iso.datetime({ offset: true }),
    region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d+$/, 'must be a region name such as us-east-1'),
    offerId: z.string().min(1).max(64),
    affiliateId: z.string().min(1).max(64),
    attributes: z
      .record(z.string().max(128), attributeValue)
      .default({})
      .refine(fitsAttributesLimit, {
        message: `attributes exceed ${MAX_ATTRIBUTES_BYTES} bytes when serialized`,
      }),
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
