import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AppConfig } from '../config/schema';
import type { LocalStackPorts } from '../config/localStack';

/** The dev stack's key and token IDs; a real deployment names its own (and rotates them). */
export const DEV_KEY_ID = 'local-1';
export const DEV_INGEST_TOKEN_ID = 'local-ingest-1';
export const DEV_CODEC_TOKEN_ID = 'local-codec-1';
export const DEV_CAPS_TOKEN_ID = 'local-caps-1';
export const DEV_S3_KEY_ID = 'local-s3-1';
/** The local S3 server's root user. An access key ID is an identifier, not a secret: only its key is. */
export const DEV_S3_ACCESS_KEY_ID = 'stormproof-local';

/** Where a profile's generated secrets live (mode 0700, files 0600). */
export const secretsDir = (stateDir: string): string => join(stateDir, 'secrets');

/** The metrics ports of the stack's worker and ingest: just above the ingest's port. */
export const metricsPorts = (ports: LocalStackPorts) => ({
  ingestPort: ports.ingest + 1,
  workerPort: ports.ingest + 2,
  workerSdkPort: ports.ingest + 3,
});

const token = (): string => randomBytes(32).toString('base64url');

/**
 * Generates the local stack's encryption key and bearer tokens into its state directory (once: the dev
 * profile keeps them, since its history on disk is encrypted with that key) and returns the configuration
 * that references them by path, never by value.
 */
export function devSecurityConfig(
  stateDir: string,
  ports: LocalStackPorts,
): Pick<AppConfig, 'encryption' | 'ingestAuth' | 'capsApi' | 'codecServer' | 'metrics'> {
  const secret = (name: string, make: () => string): string => secretFile(stateDir, name, make);
  return {
    encryption: {
      currentKeyId: DEV_KEY_ID,
      keys: [
        {
          id: DEV_KEY_ID,
          file: secret(`encryption-key-${DEV_KEY_ID}`, () => randomBytes(32).toString('base64')),
        },
      ],
    },
    ingestAuth: {
      tokens: [{ id: DEV_INGEST_TOKEN_ID, file: secret(`ingest-token-${DEV_INGEST_TOKEN_ID}`, token) }],
    },
    capsApi: {
      tokens: [{ id: DEV_CAPS_TOKEN_ID, file: secret(`caps-token-${DEV_CAPS_TOKEN_ID}`, token) }],
    },
    codecServer: {
      tokens: [{ id: DEV_CODEC_TOKEN_ID, file: secret(`codec-token-${DEV_CODEC_TOKEN_ID}`, token) }],
    },
    metrics: { host: '127.0.0.1', ...metricsPorts(ports) },
  };
}

/**
 * The root credentials of the stack's S3 server (versitygw checks every signature; moto accepts them too),
 * generated once like the keys above, so S3 tools a developer pointed at the dev stack keep working.
 */
export function devS3Credentials(stateDir: string): NonNullable<AppConfig['aws']['credentials']> {
  const file = secretFile(stateDir, `s3-secret-key-${DEV_S3_KEY_ID}`, token);
  return { accessKeyId: DEV_S3_ACCESS_KEY_ID, secretAccessKey: { id: DEV_S3_KEY_ID, file } };
}

/** The path of a generated secret in the profile's secrets directory, made on first use. */
function secretFile(stateDir: string, name: string, make: () => string): string {
  const dir = secretsDir(stateDir);
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o700);
  const path = join(dir, name);
  if (!existsSync(path)) writeFileSync(path, `${make()}\n`, { mode: 0o600 });
  return path;
}
