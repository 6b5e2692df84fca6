import { Client, Connection } from '@temporalio/client';
import { dataConverter } from '../codec/dataConverter';
import type { AppConfig } from '../config/schema';
import { temporalConnectionOptions } from '../config/temporalConnection';

/** A Temporal client with the project's payload codecs, so what it sends is compressed like everything else. */
export async function connectClient(
  config: AppConfig,
): Promise<{ client: Client; close: () => Promise<void> }> {
  const connection = await Connection.connect({
    ...temporalConnectionOptions(config.temporal),
    connectTimeout: 5000,
  });
  return {
    client: new Client({ connection, namespace: config.temporal.namespace, dataConverter }),
    close: () => connection.close(),
  };
}
