import { z } from 'zod';

/**
 * The stats API's response shapes as TypeScript types, with zod schemas that clients (the stats
 * activities) use to check what a server sent back. openapi.yaml is the authoritative contract; these
 * mirror only the response shapes, because a client must not trust a remote service blindly.
 */

export const GRANULARITIES = ['minute', 'hour'] as const;
export type Granularity = (typeof GRANULARITIES)[number];

export const ingestResultSchema = z.object({
  accepted: z.number().int().nonnegative(),
  duplicates: z.number().int().nonnegative(),
});
export type IngestResult = z.infer<typeof ingestResultSchema>;

export const bucketSchema = z.object({
  region: z.string(),
  granularity: z.enum(GRANULARITIES),
  start: z.string(),
  count: z.number().int().positive(),
  /** Of count, events the ingest judged past a cap (absent from a service that predates caps). */
  capExceeded: z.number().int().nonnegative().optional(),
  digest: z.string().regex(/^[0-9a-f]{32}$/),
});
export type Bucket = z.infer<typeof bucketSchema>;

export const bucketListSchema = z.object({ buckets: z.array(bucketSchema) });
export type BucketList = z.infer<typeof bucketListSchema>;

export const idPageSchema = z.object({ ids: z.array(z.string()), nextCursor: z.string().nullable() });
export type IdPage = z.infer<typeof idPageSchema>;

export const deleteResultSchema = z.object({ deleted: z.boolean() });
export type DeleteResult = z.infer<typeof deleteResultSchema>;

export const healthSchema = z.object({ status: z.literal('ok') });
export type Health = z.infer<typeof healthSchema>;

export const errorDetailSchema = z.object({
  index: z.number().int().nonnegative().optional(),
  field: z.string(),
  reason: z.string(),
});
export type ErrorDetail = z.infer<typeof errorDetailSchema>;

export const errorBodySchema = z.object({
  error: z.string(),
  message: z.string(),
  details: z.array(errorDetailSchema).optional(),
});
export type ErrorBody = z.infer<typeof errorBodySchema>;
