/**
 * Group commit for webhooks: verified, parsed webhooks queue here, and whatever queued while
 * the previous batch was committing becomes the next batch (up to `maxBatch`), recorded in ONE
 * transaction. A webhook's promise settles only after that COMMIT, so it is still answered 2xx
 * only once it is durable. One batch runs at a time and keeps arrival order, so a
 * conversation's webhooks are recorded in the order they came in.
 *
 * When the batch's transaction fails, nothing of it was stored, and each webhook is recorded
 * again on its own (with the Ingestor's item-by-item dead-lettering inside it): only a webhook
 * that still fails gets its error (503), the others their 2xx.
 */
import type { Histogram, Gauge } from 'prom-client';
import type { InboundEvent, VerifiedWebhook } from '../adapter.ts';
import type { Ingestor } from './ingestor.ts';
import type { IngestResult, IngestScope } from './scope.ts';

/** The most webhooks one transaction records (bounds its locks, its size and a retry's cost). */
export const DEFAULT_MAX_BATCH = 256;

/**
 * A webhook with more events than this is recorded in its own transaction, beside the batches:
 * queued, it would hold every webhook behind it for as long as its own recording takes.
 */
export const MAX_EVENTS_BATCHED = 64;

/** One queued webhook and who waits for it. */
interface Queued {
  scope: IngestScope;
  webhook: VerifiedWebhook;
  events: InboundEvent[];
  resolve(result: IngestResult): void;
  reject(error: unknown): void;
}

/** Metrics the batcher feeds; optional so a unit can run without a registry. */
export interface GroupCommitMetrics {
  /** Webhooks per committed transaction. */
  batchSize: Pick<Histogram, 'observe'>;
  /** Webhooks waiting for a batch. */
  queued: Pick<Gauge, 'set'>;
}

/** Queues webhooks and records them a batch at a time. */
export class GroupCommitter {
  private queue: Queued[] = [];
  private running = false;

  constructor(
    private readonly ingestor: Ingestor,
    private readonly metrics: GroupCommitMetrics,
    private readonly maxBatch = DEFAULT_MAX_BATCH,
  ) {}

  /** Resolves once the webhook's events are committed; rejects when they could not be. */
  submit(scope: IngestScope, webhook: VerifiedWebhook, events: InboundEvent[]): Promise<IngestResult> {
    if (events.length > MAX_EVENTS_BATCHED) {
      return this.ingestor.record(scope, webhook, events).then((result) => {
        this.metrics.batchSize.observe(1);
        return result;
      });
    }
    return new Promise<IngestResult>((resolve, reject) => {
      this.queue.push({ scope, webhook, events, resolve, reject });
      this.metrics.queued.set(this.queue.length);
      if (!this.running) void this.drain();
    });
  }

  /** Runs batches until the queue is empty; never throws (every failure settles its webhook). */
  private async drain(): Promise<void> {
    this.running = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.maxBatch);
        this.metrics.queued.set(this.queue.length);
        await this.commit(batch);
      }
    } finally {
      this.running = false;
    }
  }

  private async commit(batch: Queued[]): Promise<void> {
    if (batch.length > 1) {
      let results: IngestResult[] | null = null;
      try {
        results = await this.ingestor.recordBatch(batch);
      } catch {
        // Nothing of the batch was stored: each webhook is tried again on its own, below.
      }
      if (results) {
        this.metrics.batchSize.observe(batch.length);
        batch.forEach((item, index) => item.resolve(results[index]!));
        return;
      }
    }
    for (const item of batch) {
      try {
        const result = await this.ingestor.record(item.scope, item.webhook, item.events);
        this.metrics.batchSize.observe(1);
        item.resolve(result);
      } catch (error) {
        item.reject(error);
      }
    }
  }
}
