import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cacheDir, repoRoot } from './paths';
import { runStep } from './run';

/** Newest Temporal CLI tag that `go install` accepts (later tags carry a `replace` directive). */
export const TEMPORAL_CLI_VERSION = '1.5.1';
export const MOTO_VERSION = '5.2.5';
/** Versity's S3 gateway: the local stack's persistent S3 (objects are files, metadata extended attributes). */
export const VERSITYGW_VERSION = '1.8.0';
const AWSCRT_VERSION = '0.38.0';

export interface Tools {
  temporal: string;
  motoServer: string;
  versitygw: string;
}

export const toolPaths = (): Tools => ({
  temporal: join(cacheDir(), `temporal-${TEMPORAL_CLI_VERSION}`, 'bin', 'temporal'),
  motoServer: join(cacheDir(), `moto-${MOTO_VERSION}`, 'bin', 'moto_server'),
  versitygw: join(cacheDir(), `versitygw-${VERSITYGW_VERSION}`, 'bin', 'versitygw'),
});

/** Installs the pinned tools into the cache unless they are already there; safe to call on every start. */
export async function ensureTools(): Promise<Tools> {
  const paths = toolPaths();
  await goInstall(paths.temporal, {
    label: 'temporal-cli',
    what: `the Temporal CLI v${TEMPORAL_CLI_VERSION} (dev server and Web UI)`,
    pkg: `github.com/temporalio/cli/cmd/temporal@v${TEMPORAL_CLI_VERSION}`,
  });
  await goInstall(paths.versitygw, {
    label: 'versitygw',
    what: `Versity's S3 gateway v${VERSITYGW_VERSION} (the local stack's S3)`,
    pkg: `github.com/versity/versitygw/cmd/versitygw@v${VERSITYGW_VERSION}`,
  });
  await ensureMoto(paths.motoServer);
  return paths;
}

/** Builds a pinned Go command from the Go module proxy into the cache, once per machine. */
async function goInstall(binary: string, tool: { label: string; what: string; pkg: string }): Promise<void> {
  if (existsSync(binary)) return;
  requireCommand(
    'go',
    ['version'],
    `Go (1.25 or newer) is needed to build ${tool.what} from the Go module proxy`,
  );
  const binDir = join(binary, '..');
  // Build into a scratch directory and rename, so an interrupted build never leaves a half-written binary.
  const scratch = `${binDir}.partial-${process.pid}`;
  rmSync(scratch, { recursive: true, force: true });
  mkdirSync(scratch, { recursive: true });
  console.log(
    `Building ${tool.what} from the Go module proxy into ${binDir}.\n` +
      '  This happens once per machine and takes a few minutes on 2 cores.',
  );
  await runStep(tool.label, 'go', ['install', '-trimpath', '-ldflags=-s -w', tool.pkg], {
    env: { GOBIN: scratch, GOFLAGS: '-mod=mod' },
  });
  rmSync(binDir, { recursive: true, force: true });
  renameSync(scratch, binDir);
}

/** Every package of moto's virtualenv at an exact version, so two machines run the same emulator. */
const MOTO_CONSTRAINTS = join(repoRoot, 'scripts', 'moto-constraints.txt');

async function ensureMoto(motoServer: string): Promise<void> {
  const venv = join(motoServer, '..', '..');
  const marker = join(venv, '.stormproof-complete');
  const wanted = createHash('sha256').update(readFileSync(MOTO_CONSTRAINTS)).digest('hex');
  if (existsSync(motoServer) && existsSync(marker) && readFileSync(marker, 'utf8').trim() === wanted) return;
  requireCommand(
    'python3',
    ['--version'],
    'Python 3 is needed for the moto server (S3 and Route 53 emulator)',
  );
  rmSync(venv, { recursive: true, force: true });
  console.log(`Installing moto ${MOTO_VERSION} (S3 and Route 53 emulator) into the virtualenv ${venv}.`);
  await runStep('moto', 'python3', ['-m', 'venv', venv]);
  await runStep('moto', join(venv, 'bin', 'pip'), [
    'install',
    '--disable-pip-version-check',
    '--progress-bar',
    'off',
    '--constraint',
    MOTO_CONSTRAINTS,
    `moto[server,s3crc32c]==${MOTO_VERSION}`,
    `awscrt==${AWSCRT_VERSION}`,
  ]);
  writeFileSync(marker, `${wanted}\n`);
}

function requireCommand(command: string, versionArgs: string[], why: string): void {
  const probe = spawnSync(command, versionArgs, { stdio: 'ignore' });
  if (probe.error || probe.status !== 0) throw new Error(`${command} not found: ${why}`);
}
