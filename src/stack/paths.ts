import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

/** Repository root (this file lives in src/stack). */
export const repoRoot = resolve(__dirname, '..', '..');

/** Installed tools, keyed by version, outside the work tree so clean clones on one machine reuse them. */
export const cacheDir = (): string =>
  process.env.STORMPROOF_CACHE_DIR ??
  join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'stormproof');

/** Per-profile runtime state: pids, logs, generated configuration, the dev server's database. */
export const stateDir = (profile: string): string =>
  join(process.env.STORMPROOF_STATE_DIR ?? join(repoRoot, '.stack'), profile);
