import { Command, InvalidArgumentError, Option } from 'commander';
import { integerOption } from '../util/cliOptions';
import { FaultProxyClient, type ErrorFormat, type FaultInput, type ListenerStatus } from '../fault-proxy';
import { readState } from './stack';

const MODES = ['pass', 'error', 'reset', 'hang', 'latency', 'lose-answer', 'rewrite-pending'] as const;

interface SetOptions {
  profile: string;
  status: number;
  code?: string;
  retryAfter?: number;
  latencyMs?: number;
  count?: number;
  methods?: string[];
  pathRegex?: string;
}

const positive = integerOption(0);

/** An error body shaped like the service behind the listener, so its clients see what a real outage sends. */
function formatOf(listener: string): ErrorFormat {
  if (listener.startsWith('s3-')) return 's3';
  if (listener === 'route53') return 'route53';
  return 'json';
}

function faultFor(mode: (typeof MODES)[number], listener: string, o: SetOptions): FaultInput {
  const scope = { count: o.count, methods: o.methods, pathRegex: o.pathRegex };
  switch (mode) {
    case 'pass':
      return { mode };
    case 'error':
      return {
        mode,
        status: o.status,
        format: formatOf(listener),
        code: o.code,
        retryAfterSeconds: o.retryAfter,
        ...scope,
      };
    case 'latency':
      if (o.latencyMs === undefined) throw new InvalidArgumentError('latency needs --latency-ms');
      return { mode, latencyMs: o.latencyMs, ...scope };
    default:
      return { mode, ...scope };
  }
}

function proxyOf(profile: string): FaultProxyClient {
  const url = readState(profile)?.endpoints['fault proxy control'];
  if (!url) throw new Error(`stack "${profile}" is not running (start it with \`npm run stack -- up\`)`);
  return new FaultProxyClient(url);
}

function print(listeners: ListenerStatus[]): void {
  for (const l of listeners) {
    const { mode, ...rest } = l.fault;
    const detail = Object.keys(rest).length ? ` ${JSON.stringify(rest)}` : '';
    const left = l.remaining === null ? '' : ` (${l.remaining} left)`;
    const c = l.counters;
    console.log(
      `  ${l.name.padEnd(18)} ${`${mode}${detail}${left}`.padEnd(40)} ${l.url} -> ${l.upstream}  ` +
        `requests ${c.requests}, faulted ${c.faulted}, upstream errors ${c.upstreamErrors}`,
    );
  }
}

/** Resolves listener arguments: exact names, or a service (`s3`, `stats`) for every region's listener of it. */
function pick(all: ListenerStatus[], wanted: string[]): string[] {
  const names = wanted.flatMap((w) => {
    const matches = all.filter((l) => l.name === w || l.name.startsWith(`${w}-`)).map((l) => l.name);
    if (!matches.length) {
      throw new Error(`no listener "${w}" (listeners: ${all.map((l) => l.name).join(', ')})`);
    }
    return matches;
  });
  return [...new Set(names)];
}

/** `stack fault …`: switch the local stack's fault proxy at run time (outage drills, manual testing). */
export function faultCommand(): Command {
  const fault = new Command('fault').description(
    "switch the fault proxy in front of each region's S3, stats API and Route 53",
  );
  fault
    .command('list')
    .description('every listener with its fault and counters')
    .option('--profile <name>', 'which stack', 'dev')
    .action(async (o: { profile: string }) => print(await proxyOf(o.profile).list()));
  fault
    .command('set')
    .description('set a fault, e.g. `fault set error s3-us-east-1` or `fault set hang stats`')
    .addArgument(new Command().createArgument('<mode>', 'fault mode').choices(MODES))
    .argument('<listeners...>', 'listener names (s3-us-east-1, stats-us-west-2, route53) or s3 / stats')
    .option('--profile <name>', 'which stack', 'dev')
    .option('--status <code>', 'HTTP status of an error fault', positive, 503)
    .option('--code <code>', 'error code (default: SlowDown for S3 503, Throttling for Route 53)')
    .option('--retry-after <seconds>', 'Retry-After header of an error fault', positive)
    .option('--latency-ms <ms>', 'added latency of a latency fault', positive)
    .option('--count <n>', 'only the next n matching requests', positive)
    .addOption(
      new Option('--methods <list>', 'only these HTTP methods, comma-separated').argParser((v) =>
        v.split(',').map((m) => m.trim()),
      ),
    )
    .option('--path-regex <re>', 'only requests whose path and query match')
    .action(async (mode: (typeof MODES)[number], wanted: string[], o: SetOptions) => {
      const proxy = proxyOf(o.profile);
      const names = pick(await proxy.list(), wanted);
      const changed = await Promise.all(names.map((n) => proxy.setFault(n, faultFor(mode, n, o))));
      print(changed);
    });
  fault
    .command('clear')
    .description('back to pass: the named listeners, or every listener')
    .argument('[listeners...]', 'listener names or s3 / stats; none means all')
    .option('--profile <name>', 'which stack', 'dev')
    .action(async (wanted: string[], o: { profile: string }) => {
      const proxy = proxyOf(o.profile);
      if (!wanted.length) return print(await proxy.clearAll());
      const names = pick(await proxy.list(), wanted);
      print(await Promise.all(names.map((n) => proxy.clear(n))));
    });
  return fault;
}
