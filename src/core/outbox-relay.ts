/**
 * The outbox relay: publishes recorded events to JetStream with their deterministic
 * `Nats-Msg-Id`, many in flight, in order per conversation. What it has published is one
 * progress row (outbox-progress.ts: the transactions committed between two snapshots), written
 * once per batch, not a mark on every row. One replica relays at a time (a database lease) so
 * per-conversation order holds with several replicas; the others stand by and take over when
 * the lease lapses, from the progress row. NATS being down only makes the backlog grow:
 * webhooks are still answered from PostgreSQL.
 *
 * No single row can stop publishing: an event larger than the server's `max_payload` goes out
 * bounded (outbox-bounds.ts), and a publish that fails for a reason retrying cannot cure (still
 * too large, a subject the server refuses) is dead-lettered and skipped. Only connectivity and
 * timeouts stop the batch, because those are the failures a retry fixes.
 */
import { BackgroundLoop } from './wakeup.ts';
import { eq, sql } from 'drizzle-orm';
import type { JetStreamClient } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import type { Logger } from 'pino';
import type { Db } from './storage/db.ts';
import { outbox } from './storage/schema.ts';
import { acquireLease, releaseLease } from './storage/lease.ts';
import type { Metrics } from './metrics.ts';
import { payloadBudget, preparePayload } from './outbox-bounds.ts';
import { EventTooLarge, deadLetterNotice, permanentFailure, type Permanent } from './outbox-dead-letters.ts';
import { AckPublisher } from './nats/ack-publisher.ts';
import { prunePublished, readRelayRows, rebaseAfterRestore, saveRelayProgress, type RelayRow } from './outbox-progress.ts';

const LEASE = 'outbox-relay';

/** Tuning knobs; the defaults suit one CI-sized box. */
export interface RelayOptions {
  batchSize?: number;
  idleMs?: number;
  leaseTtlMs?: number;
  publishTimeoutMs?: number;
  /** Published rows are kept this long for replays, then pruned. */
  retentionMs?: number;
  /** The server's `max_payload`; by default read from the connection's INFO (1 MiB if unknown). */
  maxPayload?: () => number | undefined;
}

/** NATS's default `max_payload`, used until the server has said otherwise. */
const DEFAULT_MAX_PAYLOAD = 1024 * 1024;

type Row = Pick<RelayRow, 'id' | 'subject' | 'msgId' | 'payload'>;

/** Publishes the outbox; `start` runs until `stop`. */
export class OutboxRelay extends BackgroundLoop {
  private leader = false;
  private lastRenew = 0;
  private lastPrune = 0;
  /** The prune run in progress: rows written before `before`, from the id after `after`. */
  private pruning: { before: Date; after: number } | null = null;
  /** This relay's last batch stored a snapshot it has not finished (the next read walks on from its cursor). */
  private diffBegun = false;
  private readonly opts: Required<Omit<RelayOptions, 'maxPayload'>>;
  private readonly maxPayloadOption: RelayOptions['maxPayload'];
  /** Acks matched under one inbox subscription, for the connection the JetStream client uses. */
  private publisher: AckPublisher | null = null;

  constructor(
    private readonly db: Db,
    private readonly js: () => JetStreamClient | null,
    private readonly holder: string,
    private readonly logger: Logger,
    private readonly metrics: Metrics,
    options: RelayOptions = {},
  ) {
    super();
    this.opts = {
      batchSize: options.batchSize ?? 500,
      idleMs: options.idleMs ?? 200,
      leaseTtlMs: options.leaseTtlMs ?? 10_000,
      publishTimeoutMs: options.publishTimeoutMs ?? 5_000,
      retentionMs: options.retentionMs ?? 7 * 24 * 3600_000,
    };
    this.maxPayloadOption = options.maxPayload;
  }

  /** True while this replica holds the relay lease. */
  get isLeader(): boolean {
    return this.leader;
  }

  /** Finishes the batch in flight, releases the lease; idempotent. */
  async stop(): Promise<void> {
    await this.halt();
    this.publisher?.close();
    this.publisher = null;
    if (this.leader) await releaseLease(this.db, LEASE, this.holder).catch(() => {});
    this.leader = false;
  }

  /** Publishes until nothing is left (tests and shutdown use it), while holding the lease. Returns rows done with. */
  async drainOnce(): Promise<number> {
    let total = 0;
    for (;;) {
      if (!(await this.holdLease())) return total;
      const n = await this.publishBatch();
      total += n;
      if (n === 0) return total;
    }
  }

  protected async run(): Promise<void> {
    let failures = 0;
    while (this.running) {
      let published = 0;
      try {
        if (await this.holdLease()) {
          published = await this.publishBatch();
          await this.maybePrune();
        }
        failures = 0;
      } catch (error) {
        failures++;
        this.metrics.outboxPublishFailures.inc();
        this.logger.warn({ err: error, failures }, 'outbox relay batch failed; will retry');
      }
      // A full batch means more is waiting: go on at once. A partial one took everything there
      // was: wait for the next commit's wake-up (or the idle poll) instead of asking again
      // right away, which under steady ingest was a third of the relay's statements.
      if (published < this.opts.batchSize && this.running) {
        const backoff = failures > 0 ? Math.min(5_000, 200 * 2 ** Math.min(failures, 5)) : this.opts.idleMs;
        await this.wakeup.sleep(this.leader || failures > 0 ? backoff : this.opts.leaseTtlMs / 4);
      }
    }
  }

  private async holdLease(): Promise<boolean> {
    const now = Date.now();
    if (this.leader && now - this.lastRenew < this.opts.leaseTtlMs / 3) return true;
    const had = this.leader;
    const got = await acquireLease(this.db, LEASE, this.holder, this.opts.leaseTtlMs);
    if (got && !had) {
      // Before the first batch of a new term (a failure here leaves it for the next try).
      const deferred = await rebaseAfterRestore(this.db);
      if (deferred !== null) {
        this.logger.warn({ deferred }, 'outbox progress came from another PostgreSQL cluster (a restored dump?): re-based; unpublished rows are published again, some maybe twice');
      }
    }
    this.leader = got;
    this.lastRenew = now;
    if (this.leader !== had) {
      // Another holder may have moved the progress on meanwhile: start from what is stored.
      this.diffBegun = false;
      this.logger.info({ leader: this.leader }, this.leader ? 'outbox relay lease acquired' : 'outbox relay lease lost');
    }
    return this.leader;
  }

  /**
   * Publishes one batch: the deferred rows whose turn has come, then the next rows of the
   * snapshot diff in id order (a held row, or one behind a deferred row of its conversation, is
   * deferred instead). Then one statement records the progress and the deferrals. Returns how
   * many rows it is done with (published, dead-lettered or deferred).
   */
  private async publishBatch(): Promise<number> {
    const js = this.js();
    if (!js) return 0;
    const read = await readRelayRows(this.db, this.opts.batchSize, this.diffBegun);
    this.diffBegun = false;
    const blocked = new Set<string>();
    const defer: number[] = [];
    const publish: RelayRow[] = [...read.deferred];
    for (const row of read.diff) {
      if (row.held || row.blocked || blocked.has(row.orderingKey)) {
        blocked.add(row.orderingKey);
        defer.push(row.id);
      } else {
        publish.push(row);
      }
    }
    const budgetOf = (row: Row) => payloadBudget(this.maxPayload(js), row.msgId);
    // Issued in this order on one connection, so the stream receives them in that order.
    const results = await Promise.allSettled(publish.map((row) => this.publishRow(js, row, budgetOf(row))));
    // The diff is done up to the first row a connectivity failure stopped (a retry resends from
    // there, in order; duplicates are absorbed). Deferred rows are marked one by one.
    const streamAnswered = results.some((result) => result.status === 'fulfilled');
    const markPublished: number[] = [];
    let count = 0;
    let stoppedAt: number | null = null;
    let failure: unknown = null;
    for (const [i, result] of results.entries()) {
      const row = publish[i]!;
      if (result.status === 'fulfilled') {
        if (result.value.duplicate) this.metrics.outboxPublishDuplicates.inc();
        if (result.value.bounded) this.metrics.outboxBounded.inc();
        if (row.source === 'deferred') markPublished.push(row.id);
        count++;
        continue;
      }
      const permanent = permanentFailure(result.reason, budgetOf(row), js === this.js(), streamAnswered);
      if (permanent !== null) {
        try {
          await this.deadLetter(js, row, permanent);
          continue;
        } catch (error) {
          failure = error;
        }
      } else {
        failure = result.reason;
      }
      // Deferred rows come first: a failure among them leaves the whole diff for the retry.
      stoppedAt = row.source === 'deferred' ? 0 : row.id;
      break;
    }
    const finished = stoppedAt === null && read.diffFinished;
    const before = stoppedAt ?? Number.POSITIVE_INFINITY;
    const doneRows = read.diff.filter((row) => row.id < before);
    const cursor = Math.max(read.cursor, ...doneRows.map((row) => row.id));
    const deferred = defer.filter((id) => id < before);
    // An empty diff of a new snapshot changes nothing: the next read takes a newer one from the
    // same `done`. A stored snapshot must be finished, though (its last batch was a full one).
    if (markPublished.length > 0 || doneRows.length > 0 || (finished && read.targetStored)) {
      const kept = await saveRelayProgress(this.db, { name: LEASE, holder: this.holder, ttlMs: this.opts.leaseTtlMs }, { target: read.target, finished, cursor, defer: deferred, published: markPublished });
      if (kept) this.lastRenew = Date.now();
      // Walking on from the cursor only pays once this batch moved it: after a failure among the
      // deferred rows of a new snapshot the cursor is still 0, and the walk would start at the
      // table's first row.
      this.diffBegun = kept && !finished && doneRows.length > 0;
      if (!kept) {
        this.leader = false;
        this.logger.info('outbox relay lease lost during a batch; the new holder goes on from the last progress');
      }
    }
    if (count > 0) this.metrics.outboxPublished.inc(count);
    if (failure) throw failure;
    return publish.length + deferred.length;
  }

  /** Publishes one row, bounded to fit; rejects with the reason when it cannot be published. */
  private async publishRow(js: JetStreamClient, row: Row, budget: number): Promise<{ duplicate: boolean; bounded: boolean }> {
    const prepared = preparePayload(row.payload, budget);
    if (!prepared.ok) throw new EventTooLarge(prepared.sizeBytes);
    const ack = await this.publisherFor(js).publish(row.subject, prepared.data, row.msgId);
    return { duplicate: ack.duplicate, bounded: prepared.bounded };
  }

  /** The ack publisher on the JetStream client's connection (a new one if that changed). */
  private publisherFor(js: JetStreamClient): AckPublisher | JetStreamClientPublisher {
    const nc = (js as Partial<{ nc: NatsConnection }>).nc;
    if (!nc) return new JetStreamClientPublisher(js, this.opts.publishTimeoutMs);
    if (this.publisher?.nc !== nc) {
      this.publisher?.close();
      this.publisher = new AckPublisher(nc, this.opts.publishTimeoutMs);
    }
    return this.publisher;
  }

  /**
   * Gives up on one row: a small notice on the dead-letter subject (when the event names its
   * channel and account), then the row is marked done with the reason. The payload stays in
   * PostgreSQL whole. Logs carry ids and the reason only, never the event's content.
   */
  private async deadLetter(js: JetStreamClient, row: Row, failure: Permanent): Promise<void> {
    const notice = deadLetterNotice(row, failure);
    let noticed = false;
    if (notice) {
      try {
        await js.publish(notice.subject, JSON.stringify(notice.event), { msgID: `${row.msgId}:deadletter`, timeout: this.opts.publishTimeoutMs });
        noticed = true;
      } catch (error) {
        // Without a connection or in time the whole row waits; a notice the server refuses
        // (or no stream captures) is not worth a stuck outbox.
        if (permanentFailure(error, Number.POSITIVE_INFINITY, js === this.js(), true) === null) throw error;
      }
    }
    await this.db
      .update(outbox)
      .set({ publishedAt: sql`now()`, deadLetteredAt: sql`now()`, deadLetterReason: failure.reason })
      .where(eq(outbox.id, row.id));
    this.metrics.outboxDeadLettered.inc({ reason: failure.reason });
    this.logger.error(
      { outboxId: row.id, msgId: row.msgId, subject: row.subject, reason: failure.reason, error: failure.detail, noticed },
      'outbox event dead-lettered: it can never be published; the rows behind it go on',
    );
  }

  /** The server's `max_payload` from its INFO (the JetStream client keeps its connection as `nc`). */
  private maxPayload(js: JetStreamClient): number {
    const configured = this.maxPayloadOption?.();
    if (configured !== undefined) return configured;
    const nc = (js as Partial<{ nc: NatsConnection }>).nc;
    return nc?.info?.max_payload ?? DEFAULT_MAX_PAYLOAD;
  }

  /**
   * Once a minute a prune run starts; each turn of the loop takes one step of it (a bounded
   * delete in id order), so a large backlog of old rows never holds publishing up for long.
   */
  private async maybePrune(): Promise<void> {
    if (!this.pruning) {
      const now = Date.now();
      if (now - this.lastPrune < 60_000) return;
      this.lastPrune = now;
      this.pruning = { before: new Date(now - this.opts.retentionMs), after: 0 };
    }
    try {
      const step = await prunePublished(this.db, this.pruning.before, this.pruning.after);
      if (step.deleted > 0) this.metrics.outboxPruned.inc(step.deleted);
      this.pruning = step.done ? null : { before: this.pruning.before, after: step.lastId };
    } catch (error) {
      // Not a publishing failure: publishing goes on at its pace, the next run comes in a minute.
      this.pruning = null;
      this.logger.warn({ err: error }, 'outbox prune failed; it runs again in a minute');
    }
  }
}

/** A JetStream client that does not expose its connection (never the case with nats.js): its own publish. */
class JetStreamClientPublisher {
  constructor(
    private readonly js: JetStreamClient,
    private readonly timeoutMs: number,
  ) {}

  publish(subject: string, data: Uint8Array | string, msgId: string): Promise<{ duplicate: boolean }> {
    return this.js.publish(subject, data, { msgID: msgId, timeout: this.timeoutMs });
  }
}
