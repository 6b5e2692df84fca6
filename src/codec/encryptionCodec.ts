import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { METADATA_ENCODING_KEY, type Payload, type PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { PayloadCodecError } from './compressionCodec';
import type { Keyring } from './keyring';

/** `metadata.encoding` of an encrypted payload (the name Temporal's sample codecs use). */
export const ENCRYPTION_ENCODING = 'binary/encrypted';
/** Metadata naming the key a payload was encrypted with, so keys can rotate while old history stays readable. */
export const KEY_ID_METADATA = 'encryption-key-id';

const ALGORITHM = 'aes-256-gcm';
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const ProtoPayload = temporal.api.common.v1.Payload;
const encodingBytes = Buffer.from(ENCRYPTION_ENCODING);

/**
 * Encrypts each whole payload (metadata included, protobuf-encoded) with AES-256-GCM under the keyring's
 * current key; data is nonce ‖ ciphertext ‖ tag and the key ID is bound in as additional authenticated data,
 * so a payload relabelled with another key ID fails to decrypt. Decoding takes any key of the ring. Payloads of
 * other encodings pass through decode untouched (history written before encryption was switched on).
 */
export class EncryptionCodec implements PayloadCodec {
  private readonly currentKey: Buffer;

  constructor(private readonly keyring: Keyring) {
    const key = keyring.keys.get(keyring.currentKeyId);
    if (!key) throw new Error(`current encryption key ${keyring.currentKeyId} is not in the keyring`);
    this.currentKey = key;
  }

  // Deferred with then(), so that a failure rejects the promise rather than throwing at the caller.
  encode(payloads: Payload[]): Promise<Payload[]> {
    return Promise.resolve().then(() => payloads.map((p) => this.encryptOne(p)));
  }

  decode(payloads: Payload[]): Promise<Payload[]> {
    return Promise.resolve().then(() => payloads.map((p, i) => this.decodeOne(p, i)));
  }

  private encryptOne(payload: Payload): Payload {
    const keyId = Buffer.from(this.keyring.currentKeyId);
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv(ALGORITHM, this.currentKey, nonce).setAAD(keyId);
    const plain = ProtoPayload.encode(payload).finish();
    const data = Buffer.concat([nonce, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
    return { metadata: { [METADATA_ENCODING_KEY]: encodingBytes, [KEY_ID_METADATA]: keyId }, data };
  }

  private decodeOne(payload: Payload, index: number): Payload {
    const encoding = payload.metadata?.[METADATA_ENCODING_KEY];
    if (!encoding || !encodingBytes.equals(encoding)) return payload;
    const rawKeyId = payload.metadata?.[KEY_ID_METADATA];
    const keyId = rawKeyId ? Buffer.from(rawKeyId).toString() : undefined;
    const fail = (reason: string, cause?: unknown): PayloadCodecError =>
      new PayloadCodecError(`cannot decrypt payload ${index}: ${reason}`, cause);
    if (!keyId) throw fail(`it has no ${KEY_ID_METADATA} metadata`);
    const key = this.keyring.keys.get(keyId);
    if (!key) {
      throw fail(
        `it was encrypted with key "${keyId}", which is not in this keyring (known: ${[...this.keyring.keys.keys()].join(', ')})`,
      );
    }
    const data = Buffer.from(payload.data ?? []);
    if (data.length < NONCE_BYTES + TAG_BYTES)
      throw fail(`its data is ${data.length} bytes, too short to be ours`);
    let plain: Buffer;
    try {
      const decipher = createDecipheriv(ALGORITHM, key, data.subarray(0, NONCE_BYTES)).setAAD(
        Buffer.from(keyId),
      );
      decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
      plain = Buffer.concat([
        decipher.update(data.subarray(NONCE_BYTES, data.length - TAG_BYTES)),
        decipher.final(),
      ]);
    } catch (err) {
      throw fail(
        `key "${keyId}" does not authenticate it (wrong key material, or the data was altered)`,
        err,
      );
    }
    try {
      return ProtoPayload.decode(plain);
    } catch (err) {
      throw fail(`decrypted data is not a Payload protobuf (${(err as Error).message})`, err);
    }
  }
}
