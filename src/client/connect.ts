import { Client, Connection } from '@temporalio/client';
import { dataConverterFor } from '../codec/dataConverter';
import type { AppConfig } from '../config/schema';
import { temporalConnectionOptions } from '../config/temporalConnection';

/** A Temporal client with the project's payload codecs, so what it sends is compressed and encrypted like everything else. */
export async function connectClient(
  config: AppConfig,
): Promise<{ client: Client; close: () => Promise<void> }> {
  const dataConverter = dataConverterFor(config); // reads the keys first: a missing key file fails fast
  const connection = await Connection.connect({
    ...temporalConnectionOptions(config.temporal),
    connectTimeout: 5000,
  });
  return {
    client: new Client({ connection, namespace: config.temporal.namespace, dataConverter }),
    close: () => connection.close(),
  };
}
