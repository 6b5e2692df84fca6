import type { Client } from '@temporalio/client';
import type { AppConfig } from '../config/schema';

/**
 * What the cap ledgers' and holder sessions' clients share: each call to Temporal is given up after
 * `caps.updateTimeoutMs`, so a holder cut off from Temporal judges from what it holds instead of waiting.
 */
export abstract class CapCalls {
  constructor(
    protected readonly client: Client,
    protected readonly config: AppConfig,
  ) {}

  protected bounded<T>(fn: () => Promise<T>): Promise<T> {
    return this.client.withDeadline(Date.now() + this.config.caps.updateTimeoutMs, fn);
  }
}
