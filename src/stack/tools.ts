import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cacheDir, repoRoot } from './paths';
import { runStep } from './run';

/** Newest Temporal CLI tag that `go install` accepts (later tags carry a `replace` directive). */
export const TEMPORAL_CLI_VERSION = '1.5.1';
export const MOTO_VERSION = '5.2.5';
/** Versity's S3 gateway: the local stack's persistent S3 (objects are files, metadata extended attributes). */
export const VERSITYGW_VERSION = '1.8.0';
const AWSCRT_VERSION = '0.38.0';
/**
 * Temporal's time-skipping test server (in-memory, Java, Apache-2.0) from Maven Central, for
 * TestWorkflowEnvironment.createTimeSkipping(): the SDK's own download of its native build cannot work here.
 */
export const TEMPORAL_TEST_SERVER_VERSION = '1.38.0';

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

/** The launcher of the time-skipping test server (`<port> --enable-time-skipping` as the SDK passes them). */
export const testServerPath = (): string =>
  join(cacheDir(), `temporal-test-server-${TEMPORAL_TEST_SERVER_VERSION}`, 'bin', 'temporal-test-server');

/** Installs the test server's jars with Maven unless they are there, and writes its launcher. */
export async function ensureTestServer(): Promise<string> {
  const launcher = testServerPath();
  const home = join(launcher, '..', '..');
  if (!existsSync(join(home, 'lib'))) await installTestServer(home);
  // Written on every call, so a changed launcher reaches machines that have the jars already. Quick start
  // flags: the SDK gives the server 5 s to answer, on a 2-core machine shared with other test processes.
  writeFileSync(
    launcher,
    `#!/bin/sh\nexec java -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -cp '${join(home, 'lib')}/*' io.temporal.testserver.TestServer "$@"\n`,
  );
  chmodSync(launcher, 0o755);
  return launcher;
}

async function installTestServer(home: string): Promise<void> {
  requireCommand('java', ['-version'], 'Java (17 or newer) runs the time-skipping test server');
  requireCommand('mvn', ['--version'], 'Maven fetches the time-skipping test server from Maven Central');
  // Built beside and renamed into place, so an interrupted install never leaves a launcher without its jars.
  const scratch = `${home}.partial-${process.pid}`;
  rmSync(scratch, { recursive: true, force: true });
  mkdirSync(join(scratch, 'bin'), { recursive: true });
  writeFileSync(
    join(scratch, 'pom.xml'),
    `<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
<groupId>local.stormproof</groupId><artifactId>temporal-test-server</artifactId><version>1</version><packaging>pom</packaging>
<dependencies><dependency><groupId>io.temporal</groupId><artifactId>temporal-test-server</artifactId><version>${TEMPORAL_TEST_SERVER_VERSION}</version></dependency></dependencies>
</project>\n`,
  );
  console.log(
    `Installing Temporal's time-skipping test server ${TEMPORAL_TEST_SERVER_VERSION} from Maven Central into ${home}.`,
  );
  await runStep('temporal-test-server', 'mvn', [
    '-B',
    '-q',
    '-Dstyle.color=never',
    '-f',
    join(scratch, 'pom.xml'),
    `-Dmaven.repo.local=${join(scratch, 'm2')}`,
    'dependency:copy-dependencies',
    '-DincludeScope=runtime',
    `-DoutputDirectory=${join(scratch, 'lib')}`,
  ]);
  rmSync(join(scratch, 'm2'), { recursive: true, force: true });
  rmSync(home, { recursive: true, force: true });
  renameSync(scratch, home);
}

function requireCommand(command: string, versionArgs: string[], why: string): void {
  const probe = spawnSync(command, versionArgs, { stdio: 'ignore' });
  if (probe.error || probe.status !== 0) throw new Error(`${command} not found: ${why}`);
}
