import { Command } from 'commander';
import { integerOption } from '../util/cliOptions';
import { ConfigError, loadConfig } from '../config/load';
import { DEV_PORTS } from '../config/localStack';
import { readSecrets } from '../config/secrets';
import { codecsFor } from './dataConverter';
import { startCodecServer } from './server';
import { closeOnSignals } from '../util/closeOnSignals';

/** The local stack's Web UI under both names a browser may use for it. */
const LOCAL_UI_ORIGINS = [
  `http://127.0.0.1:${DEV_PORTS.temporalUi}`,
  `http://localhost:${DEV_PORTS.temporalUi}`,
];

const integer = integerOption;

async function main(): Promise<void> {
  const options = new Command('codec-server')
    .description(
      "Serves the project's payload codecs to the Temporal Web UI and CLI (remote codec protocol). " +
        'Keys and accepted tokens come from the configuration (STORMPROOF_CONFIG: encryption, codecServer.tokens).',
    )
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on (0 picks a free one)', integer(0, 65_535), 8089)
    .option(
      '--allow-origin <origin>',
      `Web UI origin allowed to call from a browser; repeatable (default: ${LOCAL_UI_ORIGINS.join(', ')})`,
      (origin: string, previous: string[]) => [...previous, origin],
      [],
    )
    .option('--body-limit-bytes <n>', 'largest request body accepted', integer(1, 2 ** 31 - 1))
    .option('--log-level <level>', 'pino level', 'info')
    .option('--secure-cookie', 'mark the /login cookie Secure (when browsers reach this server over HTTPS)')
    .parse()
    .opts<{
      host: string;
      port: number;
      allowOrigin: string[];
      bodyLimitBytes?: number;
      logLevel: string;
      secureCookie?: boolean;
    }>();

  const config = loadConfig();
  if (!config.codecServer) {
    throw new ConfigError(
      'codecServer.tokens is not configured: the codec server does not serve decryption unauthenticated',
      ['codecServer'],
    );
  }
  if (!config.encryption) console.warn('codec server: no encryption configured, serving compression only');
  const server = await startCodecServer({
    codecs: codecsFor(config),
    tokens: readSecrets(config.codecServer.tokens),
    host: options.host,
    port: options.port,
    allowedOrigins: options.allowOrigin.length > 0 ? options.allowOrigin : LOCAL_UI_ORIGINS,
    bodyLimitBytes: options.bodyLimitBytes,
    logLevel: options.logLevel,
    secureCookie: options.secureCookie,
  });
  console.log(`codec server listening on ${server.url}`);

  closeOnSignals('codec server', () => server.close());
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
