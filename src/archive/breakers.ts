import CircuitBreaker from 'opossum';

export interface BreakerSettings {
  /** Share of failed calls in the rolling window that opens the breaker. */
  errorThresholdPercentage: number;
  /** Calls needed in the window before the breaker may open, so one failure never does. */
  volumeThreshold: number;
  rollingWindowMs: number;
  /** How long an open breaker skips its bucket before letting one probe call through. */
  resetTimeoutMs: number;
}

export const DEFAULT_BREAKER: BreakerSettings = {
  errorThresholdPercentage: 50,
  volumeThreshold: 3,
  rollingWindowMs: 10_000,
  resetTimeoutMs: 5_000,
};

type Call<T> = () => Promise<T>;

/**
 * One circuit breaker per bucket, shared by every activity in this worker: a bucket that keeps failing is
 * skipped at once instead of costing every batch a timeout, and is probed again after `resetTimeoutMs`.
 */
export class BucketBreakers {
  private readonly breakers = new Map<string, CircuitBreaker<[Call<unknown>], unknown>>();

  constructor(
    private readonly settings: BreakerSettings = DEFAULT_BREAKER,
    /** Errors that say nothing about the bucket's health (e.g. 412 on a conditional PUT). */
    private readonly isHealthyError: (err: unknown) => boolean = () => false,
  ) {}

  /** Runs `call` through the bucket's breaker; rejects with `BucketCircuitOpen` while it is open. */
  async run<T>(bucket: string, call: Call<T>): Promise<T> {
    return (await this.breaker(bucket).fire(call)) as T;
  }

  state(bucket: string): 'closed' | 'open' | 'half-open' {
    const b = this.breakers.get(bucket);
    if (!b || b.closed) return 'closed';
    return b.halfOpen ? 'half-open' : 'open';
  }

  shutdown(): void {
    for (const b of this.breakers.values()) b.shutdown();
  }

  private breaker(bucket: string): CircuitBreaker<[Call<unknown>], unknown> {
    let b = this.breakers.get(bucket);
    if (!b) {
      b = new CircuitBreaker((call: Call<unknown>) => call(), {
        name: bucket,
        timeout: false, // the S3 client has its own connect and request timeouts
        errorThresholdPercentage: this.settings.errorThresholdPercentage,
        volumeThreshold: this.settings.volumeThreshold,
        rollingCountTimeout: this.settings.rollingWindowMs,
        resetTimeout: this.settings.resetTimeoutMs,
        errorFilter: this.isHealthyError,
      });
      this.breakers.set(bucket, b);
    }
    return b;
  }
}

/** opossum's rejection while a breaker is open. */
export const isOpenCircuit = (err: unknown): boolean => (err as { code?: string }).code === 'EOPENBREAKER';
