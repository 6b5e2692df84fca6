import { readFileSync } from 'node:fs';
import type { NamedSecret } from './securitySchema';

export interface SecretValue {
  id: string;
  value: string;
}

/** Reads one secret from its file or environment variable; the error names the secret and its source, never its value. */
export function readSecret(secret: NamedSecret, env: NodeJS.ProcessEnv = process.env): SecretValue {
  let value: string | undefined;
  if (secret.file !== undefined) {
    try {
      value = readFileSync(secret.file, 'utf8');
    } catch (err) {
      throw new Error(`secret ${secret.id}: cannot read file ${secret.file}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  } else {
    value = env[secret.env!];
    if (value === undefined)
      throw new Error(`secret ${secret.id}: environment variable ${secret.env} is not set`);
  }
  value = value.trim();
  if (value === '') throw new Error(`secret ${secret.id}: ${secret.file ?? `$${secret.env}`} is empty`);
  return { id: secret.id, value };
}

export const readSecrets = (secrets: NamedSecret[], env?: NodeJS.ProcessEnv): SecretValue[] =>
  secrets.map((s) => readSecret(s, env));
