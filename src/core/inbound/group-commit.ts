/**
 * Group commit for webhooks: verified, parsed webhooks queue here, and whatever queued while
 * the previous batch was committing becomes the next batch (up to `maxBatch`), recorded in ONE
 * transaction. A webhook's promise settles only after that COMMIT, so it is still answered 2xx
 * only once it is durable.
 *
 * Several lanes commit side by side, so one batch's round trips and fsync overlap with the next
 * batch's work. A webhook goes to the lane of its conversation (a hash of channel, account and
 * the conversation's platform id; statuses by the message they are about), so a conversation's
 * webhooks are recorded in the order they came in, one batch at a time in arrival order within
 * its lane. A webhook that spans lanes (several conversations, or an event about a person or
 * about conversations as a whole) is a barrier: each lane records what came before it, then it
 * is recorded alone, then the lanes go on.
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
  /** A barrier: queued in every lane, recorded once all of them reached it. */
  barrier?: { reached: Set<number> };
}

interface Lane {
  queue: Queued[];
  running: boolean;
  /** The barrier this lane reached and waits behind (it records nothing until that is done). */
  waiting: Queued | null;
}

/** Metrics the batcher feeds; optional so a unit can run without a registry. */
export interface GroupCommitMetrics {
  /** Webhooks per committed transaction. */
  batchSize: Pick<Histogram, 'observe'>;
  /** Webhooks waiting for a batch. */
  queued: Pick<Gauge, 'set'>;
}

/** 32-bit FNV-1a: cheap and stable, which is all a lane needs. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** What orders an event: its conversation (or, for a status, its message); null = no order; '*' = everyone. */
function orderKey(event: InboundEvent): string | null {
  switch (event.kind) {
    case 'message':
    case 'edit':
      return `c\u0000${event.conversation.externalId}`;
    case 'delete':
      return event.conversation ? `c\u0000${event.conversation.externalId}` : '*';
    case 'status':
      return `s\u0000${event.externalId}`;
    case 'ignored':
    case 'invalid':
      return null;
    default:
      // A person's or the account's conversations' change orders against everything.
      return '*';
  }
}

/**
 * The lane of a webhook's events among `lanes`, or 'all' when they span lanes. Exported for
 * tests that need two webhooks in one lane.
 */
export function laneOf(scope: { channel: string; account: string }, events: ReadonlyArray<InboundEvent>, lanes: number): number | 'all' {
  if (lanes <= 1) return 0;
  let lane: number | null = null;
  for (const event of events) {
    const key = orderKey(event);
    if (key === null) continue;
    if (key === '*') return 'all';
    const own = hash(`${scope.channel}\u0000${scope.account}\u0000${key}`) % lanes;
    if (lane !== null && lane !== own) return 'all';
    lane = own;
  }
  return lane ?? 0;
}

/** Queues webhooks and records them a batch at a time per lane. */
export class GroupCommitter {
  private readonly lanes: Lane[];
  private queued = 0;

  constructor(
    private readonly ingestor: Ingestor,
    private readonly metrics: GroupCommitMetrics,
    private readonly maxBatch = DEFAULT_MAX_BATCH,
    lanes = 1,
    /**
     * Event-loop turns to wait before taking a batch. With one transaction at a time (PGlite),
     * the answers of a batch go out together and their clients' next webhooks arrive a few
     * turns later: waiting for them fills the next batch, which costs less per webhook than
     * two half batches. A turn is not a timer: idle costs nothing.
     */
    private readonly lingerTurns = 0,
  ) {
    this.lanes = Array.from({ length: Math.max(1, lanes) }, () => ({ queue: [], running: false, waiting: null }));
  }

  /** Resolves once the webhook's events are committed; rejects when they could not be. */
  submit(scope: IngestScope, webhook: VerifiedWebhook, events: InboundEvent[]): Promise<IngestResult> {
    if (events.length > MAX_EVENTS_BATCHED) {
      return this.ingestor.record(scope, webhook, events).then((result) => {
        this.metrics.batchSize.observe(1);
        return result;
      });
    }
    return new Promise<IngestResult>((resolve, reject) => {
      const item: Queued = { scope, webhook, events, resolve, reject };
      const lane = laneOf(scope.adapter, events, this.lanes.length);
      if (lane === 'all') {
        item.barrier = { reached: new Set() };
        for (const each of this.lanes) each.queue.push(item);
      } else {
        this.lanes[lane]!.queue.push(item);
      }
      this.setQueued(+1);
      for (const each of this.lanes) this.kick(each);
    });
  }

  private kick(lane: Lane): void {
    if (!lane.running && !lane.waiting && lane.queue.length > 0) void this.drain(lane);
  }

  /** Webhooks submitted and not yet taken into a transaction (a barrier counts once). */
  private setQueued(change: number): void {
    this.queued += change;
    this.metrics.queued.set(this.queued);
  }

  /** Runs the lane's batches until it is empty or waits at a barrier; never throws. */
  private async drain(lane: Lane): Promise<void> {
    lane.running = true;
    try {
      while (lane.queue.length > 0 && !lane.waiting) {
        const head = lane.queue[0]!;
        if (head.barrier) {
          lane.queue.shift();
          head.barrier.reached.add(this.lanes.indexOf(lane));
          if (head.barrier.reached.size < this.lanes.length) {
            lane.waiting = head;
            break;
          }
          // Every lane recorded what came before it: the barrier alone, then all lanes go on.
          this.setQueued(-1);
          await this.commit([head]);
          for (const other of this.lanes) if (other.waiting === head) other.waiting = null;
          for (const other of this.lanes) if (other !== lane) this.kick(other);
          continue;
        }
        for (let turn = 0; turn < this.lingerTurns; turn++) await new Promise((resolve) => setImmediate(resolve));
        let end = 1;
        while (end < lane.queue.length && end < this.maxBatch && !lane.queue[end]!.barrier) end++;
        const batch = lane.queue.splice(0, end);
        this.setQueued(-batch.length);
        await this.commit(batch);
      }
    } finally {
      lane.running = false;
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
