import type { Client } from '@temporalio/client';
import { connectClient } from '../client/connect';
import { loadConfig } from '../config/load';
import type { AppConfig } from '../config/schema';

/** One command's Temporal connection: loads the configuration, connects, and always closes it. */
export async function withTemporal<T>(fn: (client: Client, config: AppConfig) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const { client, close } = await connectClient(config);
  try {
    return await fn(client, config);
  } finally {
    await close();
  }
}
