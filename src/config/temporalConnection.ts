import { readFileSync } from 'node:fs';
import type { TLSConfig } from '@temporalio/common/lib/internal-non-workflow';
import type { AppConfig } from './schema';

export interface TemporalConnectionOptions {
  address: string;
  tls?: TLSConfig | boolean;
  apiKey?: string;
}

/** Options that both the client's `Connection` and the worker's `NativeConnection` accept. */
export function temporalConnectionOptions(temporal: AppConfig['temporal']): TemporalConnectionOptions {
  const { address, apiKey, tls } = temporal;
  if (tls === undefined || typeof tls === 'boolean') {
    // An API key (Temporal Cloud) is only ever sent over TLS.
    return { address, apiKey, tls: tls ?? (apiKey ? true : undefined) };
  }
  const read = (path: string | undefined): Buffer | undefined => (path ? readFileSync(path) : undefined);
  const crt = read(tls.clientCertPath);
  const key = read(tls.clientKeyPath);
  return {
    address,
    apiKey,
    tls: {
      serverNameOverride: tls.serverName,
      serverRootCACertificate: read(tls.serverCaCertPath),
      clientCertPair: crt && key ? { crt, key } : undefined,
    },
  };
}
