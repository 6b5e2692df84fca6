import { createHmac, timingSafeEqual } from 'node:crypto';
import type { SecretValue } from '../config/secrets';

/** `X-Stormproof-Signature: keyId=<id>,t=<unix seconds>,sig=<base64 HMAC-SHA256 of "<t>.<raw body>">` */
export const SIGNATURE_HEADER = 'x-stormproof-signature';
/** A signature older or newer than this is refused, so a captured request cannot be replayed later. */
export const MAX_SIGNATURE_AGE_SECONDS = 300;
/** HMAC keys are longer than bearer tokens: they never travel, and must resist offline guessing. */
export const MIN_HMAC_KEY_LENGTH = 32;

export interface SignatureClaim {
  keyId: string;
  timestamp: number;
  signature: Buffer;
}

const mac = (key: string, timestamp: number, body: Buffer): Buffer =>
  createHmac('sha256', key).update(`${timestamp}.`).update(body).digest();

/** The header value a sender puts on a request with this body (for Node senders and tests). */
export function signRequest(
  key: SecretValue,
  body: Buffer | string,
  nowSeconds = Math.floor(Date.now() / 1000),
): string {
  const sig = mac(key.value, nowSeconds, Buffer.from(body)).toString('base64');
  return `keyId=${key.id},t=${nowSeconds},sig=${sig}`;
}

/**
 * Verifies signatures in two steps, because the body arrives after the headers: `claim` checks the header
 * (known key, fresh timestamp) before anything is read, `verify` the HMAC over the raw body once it is.
 * Each returns the reason for a refusal, never a hint at the expected value.
 */
export function hmacVerifier(keys: SecretValue[]) {
  for (const k of keys) {
    if (k.value.length < MIN_HMAC_KEY_LENGTH) {
      throw new Error(`HMAC key ${k.id} is shorter than ${MIN_HMAC_KEY_LENGTH} characters`);
    }
  }
  const byId = new Map(keys.map((k) => [k.id, k.value]));
  return {
    claim(header: string, nowSeconds = Math.floor(Date.now() / 1000)): SignatureClaim | string {
      const fields = Object.fromEntries(
        header.split(',').map((part) => {
          const at = part.indexOf('=');
          return [part.slice(0, at).trim(), part.slice(at + 1).trim()];
        }),
      );
      const timestamp = Number(fields.t);
      if (!fields.keyId || !Number.isInteger(timestamp) || !fields.sig) {
        return `${SIGNATURE_HEADER} must be keyId=<id>,t=<unix seconds>,sig=<base64 HMAC-SHA256>`;
      }
      if (!byId.has(fields.keyId)) return `signing key ${fields.keyId} is not accepted`;
      if (Math.abs(nowSeconds - timestamp) > MAX_SIGNATURE_AGE_SECONDS) {
        return `signature timestamp is more than ${MAX_SIGNATURE_AGE_SECONDS} s from the server's clock`;
      }
      return { keyId: fields.keyId, timestamp, signature: Buffer.from(fields.sig, 'base64') };
    },
    verify(claim: SignatureClaim, body: Buffer): boolean {
      const expected = mac(byId.get(claim.keyId)!, claim.timestamp, body);
      return claim.signature.length === expected.length && timingSafeEqual(claim.signature, expected);
    },
  };
}
