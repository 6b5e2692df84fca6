import { NativeConnection, Runtime, Worker, type WorkflowBundle } from '@temporalio/worker';
import { createActivities } from './activities';
import { archiveBreakers } from './archive/writer';
import { regionControlTargets } from './archive/targets';
import { connectClient } from './client/connect';
import { regionControlReader } from './client/regionControlReader';
import { createAwsClients } from './aws/clients';
import { ConfigError, loadConfig } from './config/load';
import type { AppConfig } from './config/schema';
import { temporalConnectionOptions } from './config/temporalConnection';
import { dataConverterFor } from './codec/dataConverter';
import { activityMetricsInterceptor } from './metrics/activityMetrics';
import { workerRegistry } from './metrics/registries';
import { startMetricsServer } from './metrics/server';
import { watchBreakers } from './metrics/breakerMetrics';
import { createLogger } from './util/logger';
import { temporalLoggerFrom } from './util/temporalLogger';
import { bundleInChildProcess } from './workflowBundle';

export interface WorkerOptions {
  config: AppConfig;
  /** Tests isolate themselves on a task queue of their own. */
  taskQueue?: string;
  /** A pre-built bundle saves the seconds of bundling when tests create several workers. */
  workflowBundle?: WorkflowBundle;
  /** Seconds in-flight activities get to finish on shutdown before they are cancelled and left to retry. */
  shutdownGraceSeconds?: number;
}

export interface StormproofWorker {
  worker: Worker;
  /** Releases the connection and clients this factory created; call after `worker.run()` has resolved. */
  close: () => Promise<void>;
}

/** Builds the worker: connects with the configuration, registers every workflow and activity of the project. */
export async function createWorker(opts: WorkerOptions): Promise<StormproofWorker> {
  const { config } = opts;
  const dataConverter = dataConverterFor(config); // reads the keys first: a missing key file fails fast
  const connection = await NativeConnection.connect(temporalConnectionOptions(config.temporal));
  const aws = createAwsClients(config);
  const breakers = archiveBreakers();
  const buckets = [...new Set(config.regions.flatMap((r) => r.archive.map((t) => t.bucket)))];
  const unwatchBreakers = watchBreakers(buckets, (bucket) => breakers.state(bucket));
  // A client connection of its own: archiving reads the bucket order from regionControl with a query.
  const client = await connectClient(config).catch(async (err: unknown) => {
    await connection.close();
    throw err;
  });
  const log = createLogger('worker', config.log.level);
  const targets = regionControlTargets(
    config,
    regionControlReader(config, client.client, (m) => log.warn(m)),
  );
  const release = async (): Promise<void> => {
    unwatchBreakers();
    breakers.shutdown();
    aws.destroy();
    await client.close();
    await connection.close();
  };
  try {
    const worker = await Worker.create({
      connection,
      namespace: config.temporal.namespace,
      taskQueue: opts.taskQueue ?? config.temporal.taskQueue,
      ...(opts.workflowBundle
        ? { workflowBundle: opts.workflowBundle }
        : { workflowsPath: require.resolve('./workflows') }),
      activities: createActivities({ config, aws, breakers, targets }),
      dataConverter,
      interceptors: { activity: [activityMetricsInterceptor] },
      // A bounded cache keeps the worker's RSS flat; cap ledgers want it above their number (config).
      maxCachedWorkflows: config.temporal.maxCachedWorkflows,
      shutdownGraceTime: `${opts.shutdownGraceSeconds ?? 30} seconds`,
      // A stuck activity must never hang shutdown forever: past this, the worker stops regardless.
      shutdownForceTime: `${(opts.shutdownGraceSeconds ?? 30) + 15} seconds`,
    });
    return { worker, close: release };
  } catch (err) {
    await release();
    throw err;
  }
}

/** The worker process. SIGINT/SIGTERM start a graceful shutdown (the SDK's runtime installs those handlers). */
async function main(): Promise<void> {
  const config = loadConfig();
  const log = createLogger('worker', config.log.level);
  const { metrics } = config;
  Runtime.install({
    logger: temporalLoggerFrom(log),
    telemetryOptions: {
      // The SDK core's own warnings go through our JSON logger too, not to stderr in its console format.
      logging: { filter: { core: 'WARN', other: 'WARN' }, forward: {} },
      // The SDK's own series (task slots, poll and schedule-to-start latencies, cache) on a port of their own.
      ...(metrics && {
        metrics: {
          prometheus: { bindAddress: `${metrics.host}:${metrics.workerSdkPort}`, countersTotalSuffix: true },
        },
      }),
    },
  });
  if (!config.encryption)
    log.warn('no encryption configured: payloads are stored in Temporal only compressed');
  const { worker, close } = await createWorker({ config, workflowBundle: bundleInChildProcess() });
  const { address, namespace, taskQueue } = { ...config.temporal, taskQueue: worker.options.taskQueue };
  log.info({ address, namespace, taskQueue }, `worker connected to ${address}, namespace ${namespace}`);
  const metricsServer =
    metrics && (await startMetricsServer(workerRegistry, metrics.host, metrics.workerPort));
  if (metricsServer) log.info({ metrics: metricsServer.url }, `worker metrics on ${metricsServer.url}`);
  await worker.run();
  await metricsServer?.close();
  await close();
  log.info('worker stopped: in-flight work finished or released for retry');
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err instanceof ConfigError ? err.message : err);
    process.exit(1);
  });
}
