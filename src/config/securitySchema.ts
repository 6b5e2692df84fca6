import { z } from 'zod';

/** Names a key or token in logs and payload metadata; never the secret itself. */
const secretId = z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be 1-64 letters, digits, ".", "_" or "-"');

/**
 * A secret is never written into the configuration itself: it is read from a file (a mounted Kubernetes or
 * Docker secret, a file the local stack generated) or from an environment variable.
 */
export const namedSecretSchema = z
  .object({
    id: secretId,
    /** Path of a file holding the secret (surrounding whitespace is ignored). */
    file: z.string().min(1).optional(),
    /** Name of an environment variable holding the secret. */
    env: z.string().min(1).optional(),
  })
  .strict()
  .refine((s) => (s.file === undefined) !== (s.env === undefined), {
    message: 'set exactly one of file or env',
  });

/** Several secrets at once, so a new one can be rolled out before the old one is withdrawn. */
const secretList = z
  .array(namedSecretSchema)
  .min(1)
  .superRefine((list, ctx) => {
    const seen = new Set<string>();
    list.forEach((s, i) => {
      if (seen.has(s.id))
        ctx.addIssue({ code: 'custom', path: [i, 'id'], message: `id ${s.id} is listed twice` });
      seen.add(s.id);
    });
  });

/** AES-256-GCM payload encryption: encrypt with the current key, decrypt with any key of the ring. */
export const encryptionSchema = z
  .object({
    currentKeyId: secretId,
    /** Each key is 32 random bytes, base64-encoded (`openssl rand -base64 32`). */
    keys: secretList,
  })
  .strict()
  .superRefine((e, ctx) => {
    if (!e.keys.some((k) => k.id === e.currentKeyId)) {
      ctx.addIssue({
        code: 'custom',
        path: ['currentKeyId'],
        message: `key ${e.currentKeyId} is not among keys (${e.keys.map((k) => k.id).join(', ')})`,
      });
    }
  });

/** Bearer tokens a caller must present (`Authorization: Bearer <token>`); any listed one is accepted. */
export const bearerTokensSchema = z.object({ tokens: secretList }).strict();

/**
 * Who may send events: bearer tokens, HMAC signing keys (`X-Stormproof-Signature`, see src/ingest/signature.ts),
 * or both; a request passes with either.
 */
export const ingestAuthSchema = z
  .object({ tokens: secretList.optional(), hmacKeys: secretList.optional() })
  .strict()
  .refine((a) => a.tokens !== undefined || a.hmacKeys !== undefined, {
    message: 'set tokens, hmacKeys or both',
  });

/** Prometheus endpoints, each serving `/metrics`; absent means no metrics server. */
export const metricsSchema = z
  .object({
    host: z.string().min(1),
    /** The ingest's own series. */
    ingestPort: z.number().int().min(0).max(65535),
    /** The worker's own series (archived, delivered, circuit breakers, failover phase). */
    workerPort: z.number().int().min(0).max(65535),
    /** The Temporal SDK runtime's series of the worker (task slots, latencies, polls). */
    workerSdkPort: z.number().int().min(0).max(65535),
  })
  .strict();

export type NamedSecret = z.output<typeof namedSecretSchema>;
export type EncryptionConfig = z.output<typeof encryptionSchema>;
export type BearerTokensConfig = z.output<typeof bearerTokensSchema>;
export type IngestAuthConfig = z.output<typeof ingestAuthSchema>;
export type MetricsConfig = z.output<typeof metricsSchema>;
