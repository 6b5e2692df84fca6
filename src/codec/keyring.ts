import type { EncryptionConfig } from '../config/securitySchema';
import { readSecret } from '../config/secrets';

/** AES-256 takes 32-byte keys. */
export const KEY_BYTES = 32;

export interface Keyring {
  /** The key new payloads are encrypted with. */
  currentKeyId: string;
  /** Every key a payload may have been encrypted with: the current one and those being retired. */
  keys: ReadonlyMap<string, Buffer>;
}

/** Reads every key of the configured ring; each must be 32 bytes, base64-encoded. */
export function loadKeyring(config: EncryptionConfig, env: NodeJS.ProcessEnv = process.env): Keyring {
  const keys = new Map<string, Buffer>();
  for (const source of config.keys) {
    const { value } = readSecret(source, env);
    const key = Buffer.from(value, 'base64');
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(value) || key.length !== KEY_BYTES) {
      throw new Error(
        `encryption key ${source.id} must be ${KEY_BYTES} bytes, base64-encoded (e.g. \`openssl rand -base64 32\`)`,
      );
    }
    keys.set(source.id, key);
  }
  return { currentKeyId: config.currentKeyId, keys };
}
