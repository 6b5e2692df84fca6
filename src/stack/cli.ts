import { existsSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { LOCAL_S3_SERVERS, type LocalS3Server } from '../config/localStack';
import { archiveUsage, describeUsage } from './archiveUsage';
import { faultCommand } from './faultCommand';
import { isRunning } from './processes';
import { profileNames, resolveProfile, type PortOverrides } from './profiles';
import { readState, s3DataDir, stackDown, stackUp, type StackState } from './stack';
import { ensureTestServer } from './tools';

const port = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('must be a port number');
  return n;
};

interface UpOptions {
  profile: string;
  portOffset?: number;
  temporalPort?: number;
  uiPort?: number;
  motoPort?: number;
  s3Port?: number;
  statsPort?: number;
  s3: LocalS3Server;
}

const program = new Command('stack')
  .description(
    'The embedded local stack: Temporal dev server with UI, versitygw (S3), moto (Route 53), stats services',
  )
  .showHelpAfterError();

program
  .command('test-server')
  .description(
    "install Temporal's time-skipping test server (for the workflow tests) unless cached; print its path",
  )
  .action(async () => console.log(await ensureTestServer()));

program
  .command('up')
  .description(
    'install missing tools, start the stack, wait until every part answers, seed the default world',
  )
  .option('--profile <name>', `which stack (${profileNames.join(', ')})`, 'dev')
  .option('--port-offset <n>', 'add n to every default port', port)
  .option('--temporal-port <port>', 'Temporal frontend (gRPC) port', port)
  .option('--ui-port <port>', 'Temporal Web UI port', port)
  .option('--moto-port <port>', 'moto (Route 53) port', port)
  .option('--s3-port <port>', 'first versitygw port (one per region, consecutive)', port)
  .option('--stats-port <port>', 'first stats service port (one per region, consecutive)', port)
  .addOption(
    new Option('--s3 <server>', 'the S3 server: versitygw keeps objects on disk, moto in memory')
      .choices(LOCAL_S3_SERVERS)
      .env('STORMPROOF_S3')
      .default('versitygw'),
  )
  .action(async (o: UpOptions) => {
    const env = process.env;
    const envPort = (name: string): number | undefined => (env[name] ? port(env[name]) : undefined);
    const overrides: PortOverrides = {
      offset: o.portOffset ?? envPort('STORMPROOF_PORT_OFFSET'),
      temporal: o.temporalPort ?? envPort('STORMPROOF_TEMPORAL_PORT'),
      temporalUi: o.uiPort ?? envPort('STORMPROOF_UI_PORT'),
      moto: o.motoPort ?? envPort('STORMPROOF_MOTO_PORT'),
      s3Base: o.s3Port ?? envPort('STORMPROOF_S3_PORT'),
      statsBase: o.statsPort ?? envPort('STORMPROOF_STATS_PORT'),
    };
    const result = await stackUp(resolveProfile(o.profile, overrides, o.s3));
    console.log(
      result.started
        ? `stack "${o.profile}" is up`
        : `stack "${o.profile}" is already running (started ${result.state.startedAt}); not starting another`,
    );
    printStatus(result.state);
  });

program
  .command('down')
  .description('stop the processes this profile started (and only those)')
  .option('--profile <name>', 'which stack', 'dev')
  .action(async (o: { profile: string }) => {
    const stopped = await stackDown(o.profile);
    console.log(stopped.length ? `stopped ${stopped.join(', ')}` : `stack "${o.profile}" was not running`);
  });

program
  .command('status')
  .description('print every endpoint and whether each process runs; exit 1 if the stack is not (fully) up')
  .option('--profile <name>', 'which stack', 'dev')
  .option('--json', 'machine-readable output')
  .action((o: { profile: string; json?: boolean }) => {
    const state = readState(o.profile);
    if (o.json) console.log(JSON.stringify(state ?? null, null, 2));
    else if (!state) {
      console.log(`stack "${o.profile}" is not running`);
      // what a persistent profile's next `up` will serve again
      if (existsSync(s3DataDir(o.profile)))
        console.log(`  archive (S3 objects) ${archiveLocation(o.profile)}`);
    } else printStatus(state);
    if (!state || !state.processes.every(isRunning)) process.exitCode = 1;
  });

program.addCommand(faultCommand());

function printStatus(state: StackState): void {
  console.log(`profile ${state.profile}, started ${state.startedAt}`);
  for (const [name, url] of Object.entries(state.endpoints)) console.log(`  ${name.padEnd(26)} ${url}`);
  console.log(`  ${'configuration'.padEnd(26)} STORMPROOF_CONFIG=${state.configPath}`);
  console.log(
    `  ${'archive (S3 objects)'.padEnd(26)} ${state.s3DataDir ? archiveLocation(state.profile) : 'in memory (moto): gone when the stack stops'}`,
  );
  for (const p of state.processes) {
    console.log(
      `  process ${p.name.padEnd(20)} pid ${p.pid} ${isRunning(p) ? 'running' : 'NOT RUNNING'}  log ${p.log}`,
    );
  }
}

function archiveLocation(profile: string): string {
  const dir = s3DataDir(profile);
  return `${dir}: ${existsSync(dir) ? describeUsage(archiveUsage(dir)) : 'empty'}`;
}

program.parseAsync().catch((err: unknown) => {
  console.error(`stack: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
