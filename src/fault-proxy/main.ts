import { Command, InvalidArgumentError } from 'commander';
import { integerOption } from '../util/cliOptions';
import { createLogger } from '../util/logger';
import type { ListenerSpec } from './listener';
import { DEFAULT_UPSTREAM_TIMEOUT_MS, startFaultProxy } from './server';
import { closeOnSignals } from '../util/closeOnSignals';

const integer = integerOption;

const port = integer(0, 65_535);

/** name=port=upstream, e.g. s3-us-east-1=4611=http://127.0.0.1:4566; the upstream is checked by startFaultProxy. */
function listenerSpec(value: string, previous: ListenerSpec[]): ListenerSpec[] {
  const match = /^([^=]+)=([^=]+)=(.+)$/.exec(value);
  if (!match)
    throw new InvalidArgumentError(
      'expected name=port=upstream, e.g. s3-us-east-1=4611=http://127.0.0.1:4566',
    );
  return [...previous, { name: match[1]!, port: port(match[2]!), upstream: match[3]! }];
}

async function main(): Promise<void> {
  const options = new Command('fault-proxy')
    .description(
      'Reverse proxy with one listener per (service, region) in front of S3, Route 53 and the stats services; ' +
        'faults are set per listener at run time through the control API.',
    )
    .requiredOption('--control-port <port>', 'control API port (0 picks a free one)', port)
    .option(
      '--listener <name=port=upstream>',
      'a listener, e.g. s3-us-east-1=4611=http://127.0.0.1:4566; repeatable',
      listenerSpec,
      [],
    )
    .option('--host <host>', 'address of the control API and every listener', '127.0.0.1')
    .option(
      '--upstream-timeout-ms <ms>',
      'longest silence on an upstream call before the client gets a 502',
      integer(1, 2 ** 31 - 1),
      DEFAULT_UPSTREAM_TIMEOUT_MS,
    )
    .option('--log-level <level>', 'pino level', 'info')
    .parse()
    .opts<{
      controlPort: number;
      listener: ListenerSpec[];
      host: string;
      upstreamTimeoutMs: number;
      logLevel: string;
    }>();

  const proxy = await startFaultProxy({
    host: options.host,
    controlPort: options.controlPort,
    listeners: options.listener,
    upstreamTimeoutMs: options.upstreamTimeoutMs,
    logger: createLogger('fault-proxy', options.logLevel),
  });
  for (const spec of options.listener) {
    console.log(`listener ${spec.name} on ${proxy.listeners[spec.name]} -> ${spec.upstream}`);
  }
  // Printed last: whoever starts the proxy waits for this line.
  console.log(`fault proxy control on ${proxy.controlUrl}`);

  closeOnSignals('fault proxy', () => proxy.close());
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
