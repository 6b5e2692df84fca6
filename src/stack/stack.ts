import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { createAwsClients, secretValue } from '../aws/clients';
import {
  LOCAL_REGIONS,
  faultProxyListeners,
  localStackConfig,
  type LocalS3Server,
} from '../config/localStack';
import type { AppConfig } from '../config/schema';
import { searchAttributeFlags } from '../shared/searchAttributes';
import { devS3Credentials, devSecurityConfig } from './devSecrets';
import { repoRoot, stateDir } from './paths';
import { isRunning, startDetached, stopProcess, type StartedProcess } from './processes';
import { allPorts, type Profile } from './profiles';
import { httpAnswers, temporalServes, waitReady } from './readiness';
import { seedWorld } from './seed';
import { ensureTools } from './tools';
import { versitygwArgs, versitygwEnv } from './versitygw';

export interface StackState {
  profile: string;
  startedAt: string;
  processes: StartedProcess[];
  /** The generated configuration every component of this stack reads (STORMPROOF_CONFIG). */
  configPath: string;
  endpoints: Record<string, string>;
  hostedZoneId: string;
  /** The server behind the S3 listeners; absent in the state of a stack started before versitygw. */
  s3?: LocalS3Server;
  /** Where versitygw keeps the archive's objects (one directory per bucket); absent when moto holds S3. */
  s3DataDir?: string;
}

const statePath = (profile: string): string => join(stateDir(profile), 'state.json');

/** Where versitygw keeps a profile's S3 objects (the dev profile keeps it across restarts). */
export const s3DataDir = (profile: string): string => join(stateDir(profile), 's3');

export function readState(profile: string): StackState | undefined {
  const path = statePath(profile);
  if (!existsSync(path)) return undefined;
  return JSON.parse(readFileSync(path, 'utf8')) as StackState;
}

const CENTURY_MS = 100 * 365 * 24 * 3_600_000;

export type UpResult = { started: true; state: StackState } | { started: false; state: StackState };

/** Starts the whole local stack, or reports the one already running for this profile. */
export async function stackUp(profile: Profile): Promise<UpResult> {
  const previous = readState(profile.name);
  if (previous && previous.processes.every(isRunning)) return { started: false, state: previous };
  if (previous) await stopAll(previous.processes); // a half-dead stack from a crash: clear it first

  const tools = await ensureTools();
  const dir = stateDir(profile.name);
  if (!profile.persistent) rmSync(dir, { recursive: true, force: true });
  const logDir = join(dir, 'logs');
  mkdirSync(logDir, { recursive: true });
  const { ports } = profile;
  await assertPortsFree(ports);

  const base = localStackConfig(ports);
  const s3Credentials = devS3Credentials(dir);
  const config: AppConfig = {
    ...base,
    // Tests and benchmarks isolate themselves in hours of their own, decades ahead: the test and bench
    // profiles accept any timestamp within a century; dev keeps the production window.
    ...(!profile.persistent && {
      ingest: { ...base.ingest, timestampWindow: { maxAgeMs: CENTURY_MS, maxFutureMs: CENTURY_MS } },
    }),
    aws: { ...base.aws, credentials: s3Credentials },
    ...devSecurityConfig(dir, ports),
  };
  const configPath = join(dir, 'stormproof.config.json');
  writeFileSync(configPath, JSON.stringify(config, null, 2) + '\n');

  const tsx = join(repoRoot, 'node_modules', '.bin', 'tsx');
  const processes: StartedProcess[] = [];
  const state: StackState = {
    profile: profile.name,
    startedAt: new Date().toISOString(),
    processes,
    configPath,
    endpoints: endpointsOf(config, profile),
    hostedZoneId: '',
    s3: profile.s3,
    ...(profile.s3 === 'versitygw' && { s3DataDir: s3DataDir(profile.name) }),
  };
  const record = (p: StartedProcess): StartedProcess => {
    processes.push(p);
    writeFileSync(statePath(profile.name), JSON.stringify(state, null, 2) + '\n');
    return p;
  };

  try {
    const temporal = record(startDetached('temporal', tools.temporal, temporalArgs(profile, dir), logDir));
    const codec = record(
      startDetached('codec', tsx, [join(repoRoot, 'src', 'codec', 'main.ts'), ...codecArgs(ports)], logDir, {
        STORMPROOF_CONFIG: configPath, // its keyring and accepted tokens
      }),
    );
    const moto = record(
      startDetached('moto', tools.motoServer, ['-H', '127.0.0.1', '-p', String(ports.moto)], logDir),
    );
    const versitygw = state.s3DataDir
      ? startVersitygw(tools.versitygw, state.s3DataDir, s3Credentials, ports, logDir).map(record)
      : [];
    const faultProxy = record(
      startDetached(
        'fault-proxy',
        tsx,
        [join(repoRoot, 'src', 'fault-proxy', 'main.ts'), ...faultProxyArgs(profile)],
        logDir,
      ),
    );
    const stats = config.regions.map((r, i) =>
      record(
        startDetached(
          `stats-${r.name}`,
          tsx,
          [
            join(repoRoot, 'src', 'stats-service', 'main.ts'),
            '--port',
            String(ports.statsBase + i),
            '--db',
            join(dir, `stats-${r.name}.sqlite`),
          ],
          logDir,
        ),
      ),
    );

    await waitReady('moto', moto, httpAnswers(`http://127.0.0.1:${ports.moto}/moto-api/`), 30_000);
    await Promise.all(
      versitygw.map((p, i) =>
        // any answer (403 to an unsigned request) means it serves
        waitReady(p.name, p, httpAnswers(`http://127.0.0.1:${ports.s3Base + i}/`), 30_000),
      ),
    );
    // Seeding and every later call go through the proxy's listeners.
    await waitReady(
      'fault proxy',
      faultProxy,
      httpAnswers(`${state.endpoints['fault proxy control']}/health`, true),
      30_000,
    );
    const aws = createAwsClients(config);
    try {
      state.hostedZoneId = (await seedWorld(config, aws)).hostedZoneId;
    } finally {
      aws.destroy();
    }
    await waitReady(
      'codec server',
      codec,
      httpAnswers(`${state.endpoints['codec server']}/health`, true),
      30_000,
    );
    await Promise.all(
      stats.map((p, i) =>
        waitReady(p.name, p, httpAnswers(`${config.regions[i]!.statsUrl}/v1/health`, true), 30_000),
      ),
    );
    // The dev server starts more slowly than the rest; checking it last overlaps the waits.
    await waitReady(
      'Temporal dev server',
      temporal,
      temporalServes(config.temporal.address, 'default'),
      60_000,
    );
    await waitReady('Temporal UI', temporal, httpAnswers(state.endpoints['temporal-ui']!), 30_000);
  } catch (err) {
    await stopAll(processes);
    rmSync(statePath(profile.name), { force: true });
    throw err;
  }
  writeFileSync(statePath(profile.name), JSON.stringify(state, null, 2) + '\n');
  return { started: true, state };
}

/** Stops exactly the processes this profile's `up` recorded. Returns their names. */
export async function stackDown(profileName: string): Promise<string[]> {
  const state = readState(profileName);
  if (!state) return [];
  await stopAll(state.processes);
  rmSync(statePath(profileName), { force: true });
  return state.processes.map((p) => p.name);
}

async function stopAll(processes: StartedProcess[]): Promise<void> {
  await Promise.all([...processes].reverse().map((p) => stopProcess(p)));
}

/**
 * One versitygw per region over the same directory: a gateway answers only requests signed for its own
 * region, and the shared directory keeps one bucket namespace (its lock files make that safe).
 */
function startVersitygw(
  binary: string,
  dataDir: string,
  credentials: ReturnType<typeof devS3Credentials>,
  ports: Profile['ports'],
  logDir: string,
): StartedProcess[] {
  mkdirSync(dataDir, { recursive: true });
  const env = versitygwEnv({
    accessKeyId: credentials.accessKeyId,
    secretAccessKey: secretValue(credentials.secretAccessKey),
  });
  return LOCAL_REGIONS.map((region, i) =>
    startDetached(
      `versitygw-${region}`,
      binary,
      versitygwArgs(ports.s3Base + i, region, dataDir),
      logDir,
      env,
    ),
  );
}

function temporalArgs(profile: Profile, dir: string): string[] {
  const { ports } = profile;
  return temporalDevServerArgs({
    port: ports.temporal,
    uiPort: ports.temporalUi,
    httpPort: ports.temporalHttp,
    metricsPort: ports.temporalMetrics,
    logLevel: 'warn',
    // the Web UI decodes (decompresses) payloads through the stack's codec server
    extra: ['--ui-codec-endpoint', `http://127.0.0.1:${ports.codec}`],
    // The main job keeps its history across restarts; tests start from nothing (in memory).
    dbFile: profile.persistent ? join(dir, 'temporal.sqlite') : undefined,
  });
}

/**
 * `temporal server start-dev` on loopback with the project's namespace and search attributes: the stack's
 * server, and the private ones tests kill and restart.
 */
export function temporalDevServerArgs(o: {
  port: number;
  uiPort: number;
  httpPort: number;
  metricsPort: number;
  logLevel: string;
  dbFile?: string;
  extra?: string[];
}): string[] {
  return [
    'server',
    'start-dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(o.port),
    '--ui-port',
    String(o.uiPort),
    '--http-port',
    String(o.httpPort),
    '--metrics-port',
    String(o.metricsPort),
    '--namespace',
    'default',
    '--log-level',
    o.logLevel,
    ...(o.extra ?? []),
    ...searchAttributeFlags().flatMap((sa) => ['--search-attribute', sa]),
    ...(o.dbFile ? ['--db-filename', o.dbFile] : []),
  ];
}

function endpointsOf(config: AppConfig, { ports, s3 }: Profile): Record<string, string> {
  return {
    'temporal-ui': `http://127.0.0.1:${ports.temporalUi}`,
    'codec server': `http://127.0.0.1:${ports.codec}`,
    'codec server token (file)': config.codecServer?.tokens[0]?.file ?? '',
    'ingest token (file)': config.ingestAuth?.tokens?.[0]?.file ?? '',
    'caps API token (file)': config.capsApi?.tokens[0]?.file ?? '',
    ...(config.metrics && {
      'metrics: ingest': `http://${config.metrics.host}:${config.metrics.ingestPort}/metrics`,
      'metrics: worker': `http://${config.metrics.host}:${config.metrics.workerPort}/metrics`,
      'metrics: worker SDK': `http://${config.metrics.host}:${config.metrics.workerSdkPort}/metrics`,
    }),
    temporal: config.temporal.address,
    [`aws (moto: Route 53${s3 === 'moto' ? ', S3' : ''})`]: config.aws.endpoint ?? '',
    ...(s3 === 'versitygw' &&
      Object.fromEntries(
        LOCAL_REGIONS.map((r, i) => [`s3 ${r} (versitygw)`, `http://127.0.0.1:${ports.s3Base + i}`]),
      )),
    's3 access key ID': config.aws.credentials?.accessKeyId ?? '',
    's3 secret key (file)': secretFileOf(config.aws.credentials?.secretAccessKey),
    'fault proxy control': config.faultProxy?.controlUrl ?? '',
    ...Object.fromEntries(config.regions.map((r) => [`s3 ${r.name} (via proxy)`, r.s3Endpoint ?? ''])),
    ...Object.fromEntries(config.regions.map((r) => [`stats ${r.name} (via proxy)`, r.statsUrl])),
    'route53 (via proxy)': config.route53.endpoint ?? '',
  };
}

const secretFileOf = (secret: string | { file?: string } | undefined): string =>
  typeof secret === 'object' ? (secret.file ?? '') : '';

function codecArgs(ports: Profile['ports']): string[] {
  const origins = [`http://127.0.0.1:${ports.temporalUi}`, `http://localhost:${ports.temporalUi}`];
  return ['--port', String(ports.codec), ...origins.flatMap((o) => ['--allow-origin', o])];
}

function faultProxyArgs({ ports, s3 }: Profile): string[] {
  const listeners = faultProxyListeners(ports, s3).map((l) => `${l.name}=${l.port}=${l.upstream}`);
  return [
    '--control-port',
    String(ports.faultProxy),
    // well under the AWS and stats clients' request timeouts, so a hung upstream shows as a 502 first
    '--upstream-timeout-ms',
    '8000',
    '--log-level',
    'warn',
    ...listeners.flatMap((l) => ['--listener', l]),
  ];
}

async function assertPortsFree(ports: Profile['ports']): Promise<void> {
  const busy: string[] = [];
  for (const [name, port] of allPorts(ports)) if (!(await portFree(port))) busy.push(`${name}=${port}`);
  if (busy.length) {
    throw new Error(
      `port(s) in use by another process: ${busy.join(', ')}. Stop it, or move the stack with --port-offset.`,
    );
  }
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}
