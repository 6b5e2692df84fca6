import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { DEV_PORTS, localStackConfig } from './localStack';
import { configSchema, type AppConfig } from './schema';

export class ConfigError extends Error {
  constructor(
    message: string,
    /** One entry per bad field, as `path.to.field: reason`. */
    readonly problems: string[],
  ) {
    super(message);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

/**
 * Loads the one configuration: the local-stack defaults, overlaid by the file named in STORMPROOF_CONFIG
 * (YAML or JSON), overlaid by the environment (the Temporal SDK's standard TEMPORAL_* names and STORMPROOF_*),
 * then validated as a whole so that every bad field is reported at once.
 */
export function loadConfig(env: Env = process.env): AppConfig {
  let merged: unknown = localStackConfig(DEV_PORTS);
  const file = env.STORMPROOF_CONFIG;
  if (file) merged = deepMerge(merged, readConfigFile(file));
  merged = deepMerge(merged, fromEnv(env));
  const parsed = configSchema.safeParse(merged);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    const source = file ? ` (file ${file} and environment)` : ' (environment)';
    throw new ConfigError(`invalid configuration${source}:\n  ${problems.join('\n  ')}`, problems);
  }
  return parsed.data;
}

function readConfigFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read configuration file ${path}: ${(err as Error).message}`, [path]);
  }
  try {
    return parseYaml(text) as unknown; // YAML is a superset of JSON
  } catch (err) {
    throw new ConfigError(`configuration file ${path} is not valid YAML/JSON: ${(err as Error).message}`, [
      path,
    ]);
  }
}

/** Only the variables that are set; numbers are validated by the schema after coercion here. */
function fromEnv(env: Env): Record<string, unknown> {
  const out: Record<string, Record<string, unknown>> = { temporal: {}, aws: {}, log: {} };
  const set = (section: string, key: string, value: unknown): void => {
    if (value !== undefined && value !== '') (out[section] ??= {})[key] = value;
  };
  set('temporal', 'address', env.TEMPORAL_ADDRESS);
  set('temporal', 'namespace', env.TEMPORAL_NAMESPACE);
  set('temporal', 'apiKey', env.TEMPORAL_API_KEY);
  set('temporal', 'taskQueue', env.STORMPROOF_TASK_QUEUE);
  const tls = {
    clientCertPath: env.TEMPORAL_TLS_CLIENT_CERT_PATH,
    clientKeyPath: env.TEMPORAL_TLS_CLIENT_KEY_PATH,
    serverCaCertPath: env.TEMPORAL_TLS_SERVER_CA_CERT_PATH,
    serverName: env.TEMPORAL_TLS_SERVER_NAME,
  };
  if (Object.values(tls).some((v) => v)) set('temporal', 'tls', dropUndefined(tls));
  else if (env.TEMPORAL_TLS !== undefined)
    set('temporal', 'tls', parseBool('TEMPORAL_TLS', env.TEMPORAL_TLS));
  set('aws', 'endpoint', env.STORMPROOF_AWS_ENDPOINT);
  set('log', 'level', env.STORMPROOF_LOG_LEVEL ?? env.LOG_LEVEL);
  set('notifications', 'webhookUrl', env.STORMPROOF_WEBHOOK_URL);
  set('monitor', 'policy', env.STORMPROOF_MONITOR_POLICY);
  return out;
}

function parseBool(name: string, value: string): boolean | string {
  if (/^(1|true|yes)$/i.test(value)) return true;
  if (/^(0|false|no)$/i.test(value)) return false;
  return `${name}=${value} is not a boolean`; // left as a string so the schema names the field
}

function dropUndefined(o: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(Object.entries(o).filter((e): e is [string, string] => e[1] !== undefined));
}

const plainObject = z.record(z.string(), z.unknown());

/** Objects merge key by key; arrays and scalars of the overlay replace the base. */
function deepMerge(base: unknown, overlay: unknown): unknown {
  const b = plainObject.safeParse(base);
  const o = plainObject.safeParse(overlay);
  if (!b.success || !o.success || Array.isArray(base) || Array.isArray(overlay)) return overlay ?? base;
  const out: Record<string, unknown> = { ...b.data };
  for (const [k, v] of Object.entries(o.data)) out[k] = deepMerge(b.data[k], v);
  return out;
}
