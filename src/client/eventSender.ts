import type { Client } from '@temporalio/client';
import { createStatsApi, statsOptionsOf } from '../activities/stats';
import { regionControlTargets } from '../archive/targets';
import { archiveBreakers, createArchiveWriter } from '../archive/writer';
import { createAwsClients } from '../aws/clients';
import type { AppConfig } from '../config/schema';
import { watchBreakers } from '../metrics/breakerMetrics';
import { Batcher } from './batcher';
import type { CapEnforcer } from './capEnforcer';
import { createCaptureStarter } from './capture';
import { createHandOver, type HandOverObserver, type HandOverReceipt } from './handOver';
import { regionControlReader, type RegionControlReader } from './regionControlReader';
import { validateRecords, type RejectedRecord, type TimestampWindow } from './validate';

export interface SendResult {
  /** Events durably accepted: archived in S3, or held by a captureBatch workflow in Temporal. */
  accepted: number;
  /** Records refused as invalid, each with its index in the input and the field at fault; nothing of them was kept. */
  rejected: RejectedRecord[];
  /** The batches holding the accepted events. */
  batches: HandOverReceipt[];
  /**
   * Valid records that were NOT accepted, because neither S3 nor Temporal took their batch (only when some
   * others were accepted; when none was, `send` rejects instead). Resending exactly these is safe.
   */
  notAccepted?: { indexes: number[]; reason: string };
}

export interface EventSenderOptions {
  observe?: HandOverObserver;
  log?: (level: 'warn' | 'error', message: string, err?: unknown) => void;
  /** regionControl's state as this process already reads it (the ingest's routing health shares it). */
  regionControl?: RegionControlReader;
  /** Judges each valid event against the caps before it is batched (started by the owner). */
  caps?: CapEnforcer;
}

/** Thrown when no valid event of a send was accepted: nothing of it was kept, resending all of it is safe. */
export class NotAccepted extends Error {
  override name = 'NotAccepted';
}

/**
 * The hand-over every sender uses, in-process (Node services) or behind the HTTP ingest: validate each
 * record, batch, and archive each batch on the fast path (S3, then the stats API), handing only what fails to
 * a durable captureBatch workflow. `send` resolves once every accepted event is durable. It rejects with
 * `Overloaded` (nothing accepted) when too much is already waiting, and with `NotAccepted` when neither S3
 * nor Temporal took any of its batches.
 */
export class EventSender {
  private readonly batcher: Batcher<HandOverReceipt>;
  private readonly regions: ReadonlySet<string>;
  private readonly window: TimestampWindow;
  private readonly stopping = new AbortController();
  private readonly release: () => void;
  private readonly caps?: CapEnforcer;

  constructor(client: Client, config: AppConfig, opts: EventSenderOptions = {}) {
    this.caps = opts.caps;
    this.regions = new Set(config.regions.map((r) => r.name));
    const { ingest, archive, temporal } = config;
    this.window = ingest.timestampWindow;
    const log = opts.log ?? (() => undefined);
    const aws = createAwsClients(config);
    const breakers = archiveBreakers();
    const reader = opts.regionControl ?? regionControlReader(config, client, (m) => log('warn', m));
    const writer = createArchiveWriter({ aws, targets: regionControlTargets(config, reader), breakers });
    const buckets = [...new Set(config.regions.flatMap((r) => r.archive.map((t) => t.bucket)))];
    const unwatch = watchBreakers(buckets, (bucket) => breakers.state(bucket));
    this.release = () => {
      unwatch();
      breakers.shutdown();
      aws.destroy();
    };
    this.batcher = new Batcher(
      {
        maxEvents: ingest.maxBatchEvents,
        maxBytes: ingest.maxBatchBytes,
        lingerMs: ingest.lingerMs,
        sealWhenIdle: ingest.sealWhenIdle,
        maxPendingEvents: ingest.maxPendingEvents,
      },
      createHandOver({
        writer,
        stats: createStatsApi(statsOptionsOf(config), () => this.stopping.signal),
        capture: createCaptureStarter(client, {
          taskQueue: temporal.taskQueue,
          capture: { initialMs: archive.captureInitialBackoffMs, maxMs: archive.captureMaxBackoffMs },
          timeoutMs: ingest.handOverTimeoutMs,
        }),
        archiveTimeoutMs: ingest.archiveTimeoutMs,
        stopping: this.stopping.signal,
        observe: opts.observe,
        log,
      }),
    );
  }

  get pendingEvents(): number {
    return this.batcher.pendingEvents;
  }

  /** Whether any event sent now would be refused as Overloaded (senders may be refused before parsing). */
  get full(): boolean {
    return this.batcher.full;
  }

  async send(records: readonly unknown[], indexes?: readonly number[]): Promise<SendResult> {
    const { events, positions, instants, rejected } = validateRecords(
      records,
      this.regions,
      indexes,
      this.window,
    );
    const valid = events.length;
    if (valid === 0) return { accepted: 0, rejected, batches: [] };
    const judgements = await this.caps?.judge(events, instants);
    // After `add` only the count is needed: the events themselves must not outlive it (see SealedBatch).
    const outcomes = await this.batcher.add(events.splice(0), instants, judgements);
    const batches: HandOverReceipt[] = [];
    const refused: number[] = [];
    let reason: unknown;
    for (const { events: inBatch, outcome } of outcomes) {
      if (outcome.status === 'fulfilled') batches.push(outcome.value);
      else {
        reason ??= outcome.reason;
        for (const i of inBatch) refused.push(positions[i]!);
      }
    }
    if (refused.length === valid)
      throw new NotAccepted(`neither S3 nor Temporal took the events: ${messageOf(reason)}`, {
        cause: reason,
      });
    const accepted = valid - refused.length;
    if (refused.length === 0) return { accepted, rejected, batches };
    refused.sort((a, b) => a - b);
    return { accepted, rejected, batches, notAccepted: { indexes: refused, reason: messageOf(reason) } };
  }

  /** Hands over what is still lingering and waits for every batch's work; call before closing. */
  async flush(): Promise<void> {
    await this.batcher.flush();
  }

  /**
   * Flushes, giving deliveries that Temporal cannot take `graceMs` before they are left to reconciliation,
   * then releases the S3 clients.
   */
  async close(graceMs = 10_000): Promise<void> {
    const timer = setTimeout(() => this.stopping.abort(), graceMs);
    try {
      await this.batcher.flush();
      // Every event judged is handed over: what the caps hold unspent goes back to their ledgers.
      await this.caps?.close();
    } finally {
      clearTimeout(timer);
      this.stopping.abort();
      this.release();
    }
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
