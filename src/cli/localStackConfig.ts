import { existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { stateDir } from '../stack/paths';

/**
 * With no STORMPROOF_CONFIG, an operator's command on a machine running the local dev stack uses the
 * configuration `npm run stack -- up` wrote (its ports, its codec keys, its ingest token), the one `npm start`
 * runs with; otherwise it would talk to the stack without its keys. Said on stderr, so it is never a surprise.
 */
export function useLocalStackConfig(env: NodeJS.ProcessEnv = process.env): void {
  if (env.STORMPROOF_CONFIG) return;
  const file = join(stateDir('dev'), 'stormproof.config.json');
  if (!existsSync(file)) return;
  env.STORMPROOF_CONFIG = file;
  console.error(
    `stormproof: using the local dev stack's configuration ${relative(process.cwd(), file)} (STORMPROOF_CONFIG chooses another)`,
  );
}
