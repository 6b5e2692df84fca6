import { hash, timingSafeEqual } from 'node:crypto';
import type { SecretValue } from '../config/secrets';

/** Shortest token accepted: anything shorter could be guessed. */
export const MIN_TOKEN_LENGTH = 16;

/**
 * Checks `Authorization: Bearer <token>` against every configured token. The tokens are compared as SHA-256
 * digests with `timingSafeEqual`, so neither the comparison time nor a length mismatch tells a caller how
 * close it came; every token is compared, so the time does not tell which one matched either.
 * Returns the ID of the matching token (for logs and metrics), or undefined.
 */
export function bearerTokenCheck(
  tokens: SecretValue[],
): (authorization: string | undefined) => string | undefined {
  if (tokens.length === 0) throw new Error('at least one bearer token is needed');
  for (const t of tokens) {
    if (t.value.length < MIN_TOKEN_LENGTH) {
      throw new Error(`token ${t.id} is shorter than ${MIN_TOKEN_LENGTH} characters`);
    }
  }
  const digests = tokens.map((t) => ({ id: t.id, digest: sha256(t.value) }));
  return (authorization) => {
    const match = /^Bearer +(\S+) *$/i.exec(authorization ?? '');
    if (!match) return undefined;
    const presented = sha256(match[1]!);
    let found: string | undefined;
    for (const t of digests) if (timingSafeEqual(t.digest, presented) && found === undefined) found = t.id;
    return found;
  };
}

// One-shot: a Hash object per request cost more than the digest itself.
const sha256 = (text: string): Buffer => hash('sha256', text, 'buffer');
