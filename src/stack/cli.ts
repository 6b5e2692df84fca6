import { Command, InvalidArgumentError } from 'commander';
import { faultCommand } from './faultCommand';
import { isRunning } from './processes';
import { profileNames, resolveProfile, type PortOverrides } from './profiles';
import { readState, stackDown, stackUp, type StackState } from './stack';
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
  statsPort?: number;
}

const program = new Command('stack')
  .description('The embedded local stack: Temporal dev server with UI, moto (S3, Route 53), stats services')
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
  .option('--moto-port <port>', 'moto (S3 and Route 53) port', port)
  .option('--stats-port <port>', 'first stats service port (one per region, consecutive)', port)
  .action(async (o: UpOptions) => {
    const env = process.env;
    const envPort = (name: string): number | undefined => (env[name] ? port(env[name]) : undefined);
    const overrides: PortOverrides = {
      offset: o.portOffset ?? envPort('STORMPROOF_PORT_OFFSET'),
      temporal: o.temporalPort ?? envPort('STORMPROOF_TEMPORAL_PORT'),
      temporalUi: o.uiPort ?? envPort('STORMPROOF_UI_PORT'),
      moto: o.motoPort ?? envPort('STORMPROOF_MOTO_PORT'),
      statsBase: o.statsPort ?? envPort('STORMPROOF_STATS_PORT'),
    };
    const result = await stackUp(resolveProfile(o.profile, overrides));
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
    else if (!state) console.log(`stack "${o.profile}" is not running`);
    else printStatus(state);
    if (!state || !state.processes.every(isRunning)) process.exitCode = 1;
  });

program.addCommand(faultCommand());

function printStatus(state: StackState): void {
  console.log(`profile ${state.profile}, started ${state.startedAt}`);
  for (const [name, url] of Object.entries(state.endpoints)) console.log(`  ${name.padEnd(26)} ${url}`);
  console.log(`  ${'configuration'.padEnd(26)} STORMPROOF_CONFIG=${state.configPath}`);
  for (const p of state.processes) {
    console.log(
      `  process ${p.name.padEnd(18)} pid ${p.pid} ${isRunning(p) ? 'running' : 'NOT RUNNING'}  log ${p.log}`,
    );
  }
}

program.parseAsync().catch((err: unknown) => {
  console.error(`stack: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
