import { parseArgs } from 'node:util';
import { z } from 'zod';
import { startStatsService } from './server';
import { closeOnSignals } from '../util/closeOnSignals';

const USAGE = `usage: tsx src/stats-service/main.ts --port <port> --db <file.sqlite> [--host 127.0.0.1] [--token <token>]
         [--body-limit-bytes <n>] [--max-in-flight <n>] [--log-level info]
environment fallbacks: STATS_PORT STATS_DB STATS_HOST STATS_TOKEN STATS_BODY_LIMIT_BYTES STATS_MAX_IN_FLIGHT STATS_LOG_LEVEL
(prefer STATS_TOKEN over --token: arguments are visible to every user in the process list)`;

const optionsSchema = z.object({
  port: z.coerce.number().int().min(0).max(65_535),
  dbPath: z.string().min(1),
  host: z.string().min(1).optional(),
  token: z.string().min(1).optional(),
  bodyLimitBytes: z.coerce.number().int().positive().optional(),
  maxInFlight: z.coerce.number().int().positive().optional(),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).optional(),
});

function readOptions(): z.infer<typeof optionsSchema> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string' },
      db: { type: 'string' },
      host: { type: 'string' },
      token: { type: 'string' },
      'body-limit-bytes': { type: 'string' },
      'max-in-flight': { type: 'string' },
      'log-level': { type: 'string' },
    },
  });
  const env = process.env;
  const parsed = optionsSchema.safeParse({
    port: values.port ?? env.STATS_PORT,
    dbPath: values.db ?? env.STATS_DB,
    host: values.host ?? env.STATS_HOST,
    token: values.token ?? env.STATS_TOKEN,
    bodyLimitBytes: values['body-limit-bytes'] ?? env.STATS_BODY_LIMIT_BYTES,
    maxInFlight: values['max-in-flight'] ?? env.STATS_MAX_IN_FLIGHT,
    logLevel: values['log-level'] ?? env.STATS_LOG_LEVEL,
  });
  if (!parsed.success) {
    throw new Error(`${z.prettifyError(parsed.error)}\n${USAGE}`);
  }
  return parsed.data;
}

async function main(): Promise<void> {
  const service = await startStatsService(readOptions());
  console.log(`stats service listening on ${service.url}`);

  closeOnSignals('stats service', () => service.close());
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(2);
});
