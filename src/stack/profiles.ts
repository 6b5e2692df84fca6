import {
  DEV_PORTS,
  LOCAL_REGIONS,
  faultProxyListeners,
  type LocalS3Server,
  type LocalStackPorts,
} from '../config/localStack';
import { metricsPorts } from './devSecrets';

/**
 * A profile is one independent local stack. `dev` runs the main job and keeps the dev server's history and
 * the S3 archive on disk; `test` is wiped on every `up` and lives on ports 10000 higher, so tests never touch a
 * developer's stack.
 */
export interface Profile {
  name: string;
  persistent: boolean;
  ports: StackPorts;
  /** The server behind the S3 listeners (versitygw unless asked for moto, e.g. to compare them). */
  s3: LocalS3Server;
}

export interface StackPorts extends LocalStackPorts {
  temporalHttp: number;
  temporalMetrics: number;
  /** The codec server the Web UI decodes payloads through. */
  codec: number;
}

export interface PortOverrides {
  offset?: number;
  temporal?: number;
  temporalUi?: number;
  moto?: number;
  s3Base?: number;
  statsBase?: number;
  ingest?: number;
  faultProxy?: number;
}

const PROFILES: Record<string, { persistent: boolean; offset: number }> = {
  dev: { persistent: true, offset: 0 },
  test: { persistent: false, offset: 10_000 },
  // benchmarks bring up their own stack, so a measurement never competes with a test run for ports
  bench: { persistent: false, offset: 20_000 },
};

export const profileNames = Object.keys(PROFILES);

export function resolveProfile(
  name: string,
  overrides: PortOverrides = {},
  s3: LocalS3Server = 'versitygw',
): Profile {
  const p = PROFILES[name];
  if (!p) throw new Error(`unknown stack profile "${name}" (known: ${profileNames.join(', ')})`);
  const off = overrides.offset ?? p.offset;
  const temporal = overrides.temporal ?? DEV_PORTS.temporal + off;
  const ports: StackPorts = {
    temporal,
    temporalUi: overrides.temporalUi ?? DEV_PORTS.temporalUi + off,
    temporalHttp: temporal + 10,
    temporalMetrics: temporal + 11,
    moto: overrides.moto ?? DEV_PORTS.moto + off,
    s3Base: overrides.s3Base ?? DEV_PORTS.s3Base + off,
    statsBase: overrides.statsBase ?? DEV_PORTS.statsBase + off,
    ingest: overrides.ingest ?? DEV_PORTS.ingest + off,
    codec: 8089 + off,
    faultProxy: overrides.faultProxy ?? DEV_PORTS.faultProxy + off,
  };
  assertDistinct(ports);
  return { name, persistent: p.persistent, ports, s3 };
}

/** Every port a stack of these ports listens on, by name (the ingest's included: `npm start` runs it). */
export function allPorts(ports: StackPorts): [string, number][] {
  return [
    ['temporal', ports.temporal],
    ['temporalUi', ports.temporalUi],
    ['temporalHttp', ports.temporalHttp],
    ['temporalMetrics', ports.temporalMetrics],
    ['moto', ports.moto],
    ...LOCAL_REGIONS.map((r, i): [string, number] => [`versitygw-${r}`, ports.s3Base + i]),
    ['ingest', ports.ingest],
    ...Object.entries(metricsPorts(ports)).map(([name, port]): [string, number] => [`metrics ${name}`, port]),
    ['codec', ports.codec],
    ['faultProxy', ports.faultProxy],
    ...LOCAL_REGIONS.map((r, i): [string, number] => [`stats-${r}`, ports.statsBase + i]),
    ...faultProxyListeners(ports).map((l): [string, number] => [`fault proxy ${l.name}`, l.port]),
  ];
}

function assertDistinct(ports: StackPorts): void {
  const all = allPorts(ports).map(([, port]) => port);
  const bad = all.filter((p) => !Number.isInteger(p) || p < 1 || p > 65535);
  if (bad.length) throw new Error(`invalid port(s): ${bad.join(', ')}`);
  if (new Set(all).size !== all.length) throw new Error(`stack ports collide: ${all.join(', ')}`);
}
