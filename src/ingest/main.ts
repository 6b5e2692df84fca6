import { connectClient } from '../client/connect';
import { EventSender } from '../client/eventSender';
import { regionControlReader } from '../client/regionControlReader';
import { CapsClient } from '../client/caps';
import { CapEnforcer } from '../client/capEnforcer';
import { readSecrets } from '../config/secrets';
import { ConfigError, loadConfig } from '../config/load';
import { ingestMetrics } from '../metrics/ingestMetrics';
import { ingestRegistry } from '../metrics/registries';
import { startMetricsServer } from '../metrics/server';
import { createLogger } from '../util/logger';
import { readIngestCredentials } from './auth';
import { watchBacklog } from './backlog';
import { registerRoutingHealth } from './routingHealth';
import { registerCapsRoutes } from './capsRoutes';
import { registerCapDecisionRoutes } from './capDecision';
import { buildIngestServer } from './server';

/**
 * The ingest process. On SIGINT/SIGTERM it stops taking requests, lets those in flight finish, archives what
 * is still lingering and finishes (or captures) its stats deliveries, and only then closes its Temporal
 * connection, so nothing accepted is dropped.
 */
async function main(): Promise<void> {
  const config = loadConfig();
  const log = createLogger('ingest', config.log.level);
  if (!config.ingestAuth) {
    throw new ConfigError(
      'ingestAuth (tokens or hmacKeys) is not configured: the ingest does not accept events unauthenticated',
      ['ingestAuth'],
    );
  }
  const credentials = readIngestCredentials(config.ingestAuth);
  if (!config.encryption)
    log.warn('no encryption configured: event payloads are stored in Temporal only compressed');
  const { client, close } = await connectClient(config);
  const regionControl = regionControlReader(config, client, (m) => log.warn(m));
  const caps = config.caps.enforce
    ? new CapEnforcer(client, config, {
        region: config.ingest.region ?? config.regions[0]!.name,
        log: (level, message, err) => log[level]({ err }, message),
      })
    : undefined;
  // The definitions before the first request (bounded by caps.updateTimeoutMs; without them, none yet).
  await caps?.start();
  const sender = new EventSender(client, config, {
    regionControl,
    caps,
    observe: {
      batch: (outcome, events, seconds) => {
        ingestMetrics.handOverSeconds.observe({ outcome }, seconds);
        ingestMetrics.batchEvents.inc({ outcome }, events);
      },
      delivery: (outcome, events) => ingestMetrics.deliveryEvents.inc({ outcome }, events),
    },
    log: (level, message, err) => log[level]({ err }, message),
  });
  const app = buildIngestServer({
    sender,
    credentials,
    bodyLimitBytes: config.ingest.bodyLimitBytes,
    maxEventLoopDelayMs: config.ingest.maxEventLoopDelayMs,
    maxHeapUsedBytes: config.ingest.maxHeapUsedBytes,
    logLevel: config.log.level,
  });
  if (config.ingest.region) registerRoutingHealth(app, config.ingest.region, regionControl);
  if (config.capsApi)
    registerCapsRoutes(app, new CapsClient(client, config), readSecrets(config.capsApi.tokens));
  if (caps) registerCapDecisionRoutes(app, caps);
  // The bucket order before the first request, so no sender waits for that query (bounded by
  // regionControl.queryTimeoutMs; without an answer the configured order is used, as at any time).
  await regionControl.read();
  const url = await app.listen({ host: config.ingest.host, port: config.ingest.port });
  log.info({ url, temporal: config.temporal.address }, `ingest listening on ${url}`);
  const metrics =
    config.metrics &&
    (await startMetricsServer(ingestRegistry, config.metrics.host, config.metrics.ingestPort));
  const unwatch = watchBacklog(client, config, log);
  if (metrics) log.info({ metrics: metrics.url }, `ingest metrics on ${metrics.url}`);

  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'ingest stopping: finishing requests in flight');
    await app.close();
    await sender.close();
    unwatch();
    await metrics?.close();
    await close();
    log.info('ingest stopped');
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void stop(signal));
}

main().catch((err: unknown) => {
  console.error(err instanceof ConfigError ? err.message : err);
  process.exit(1);
});
