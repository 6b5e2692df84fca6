import { randomUUID } from 'node:crypto';
import { loadConfig } from '../../src/config/load';
import type { AppConfig } from '../../src/config/schema';

/** The running test stack's configuration (scripts/test.sh starts the stack and sets STORMPROOF_CONFIG). */
export function testConfig(): AppConfig {
  if (!process.env.STORMPROOF_CONFIG) {
    throw new Error('STORMPROOF_CONFIG is not set: run tests with `npm test`, which starts the test stack');
  }
  return loadConfig();
}

/** A name no other test (or earlier run) uses: lowercase, so it is also a valid bucket name part. */
export const uniqueName = (prefix: string): string => `${prefix}-${randomUUID().slice(0, 8)}`;
