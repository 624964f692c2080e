/**
 * The outbox relay: publishes recorded events to JetStream with their deterministic
 * `Nats-Msg-Id`, many in flight, in order per conversation, and marks them published.
 * One replica relays at a time (a database lease) so per-conversation order holds with
 * several replicas; the others stand by and take over when the lease lapses. NATS being
 * down only makes the backlog grow: webhooks are still answered from PostgreSQL.
 */
import { BackgroundLoop } from './wakeup.ts';
import { and, asc, inArray, isNull, lt, sql } from 'drizzle-orm';
import type { JetStreamClient } from '@nats-io/jetstream';
import type { Logger } from 'pino';
import type { Db } from './storage/db.ts';
import { outbox } from './storage/schema.ts';
import { acquireLease, releaseLease } from './storage/lease.ts';
import type { Metrics } from './metrics.ts';

const LEASE = 'outbox-relay';

/** Tuning knobs; the defaults suit one CI-sized box. */
export interface RelayOptions {
  batchSize?: number;
  idleMs?: number;
  leaseTtlMs?: number;
  publishTimeoutMs?: number;
  /** Published rows are kept this long for replays, then pruned. */
  retentionMs?: number;
}

/** Publishes the outbox; `start` runs until `stop`. */
export class OutboxRelay extends BackgroundLoop {
  private leader = false;
  private lastRenew = 0;
  private lastPrune = 0;
  private readonly opts: Required<RelayOptions>;

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
  }

  /** True while this replica holds the relay lease. */
  get isLeader(): boolean {
    return this.leader;
  }

  /** Finishes the batch in flight, releases the lease; idempotent. */
  async stop(): Promise<void> {
    await this.halt();
    if (this.leader) await releaseLease(this.db, LEASE, this.holder).catch(() => {});
    this.leader = false;
  }

  /** Publishes until nothing is left (tests and shutdown use it). Returns rows published. */
  async drainOnce(): Promise<number> {
    let total = 0;
    for (;;) {
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
      if (published === 0 && this.running) {
        const backoff = failures > 0 ? Math.min(5_000, 200 * 2 ** Math.min(failures, 5)) : this.opts.idleMs;
        await this.wakeup.sleep(this.leader || failures > 0 ? backoff : this.opts.leaseTtlMs / 4);
      }
    }
  }

  private async holdLease(): Promise<boolean> {
    const now = Date.now();
    if (this.leader && now - this.lastRenew < this.opts.leaseTtlMs / 3) return true;
    const had = this.leader;
    this.leader = await acquireLease(this.db, LEASE, this.holder, this.opts.leaseTtlMs);
    this.lastRenew = now;
    if (this.leader !== had) this.logger.info({ leader: this.leader }, this.leader ? 'outbox relay lease acquired' : 'outbox relay lease lost');
    return this.leader;
  }

  /** Publishes one batch; returns how many rows were marked published. */
  private async publishBatch(): Promise<number> {
    const js = this.js();
    if (!js) return 0;
    // Rows waiting for media hold back later rows of the same conversation. `offset 0` keeps
    // that check a per-row probe of outbox_ordering_idx (it stops PostgreSQL from flattening
    // it into an anti-join); flattened, the planner often chose one full scan of the table or
    // of every unpublished row per batch: 18–29 ms instead of ~2 ms for 500 rows with 50k
    // pending (docs/performance.md). It does not change which rows are returned.
    const rows = await this.db
      .select({ id: outbox.id, subject: outbox.subject, msgId: outbox.msgId, payload: outbox.payload })
      .from(outbox)
      .where(
        and(
          isNull(outbox.publishedAt),
          sql`not ${outbox.held}`,
          sql`not exists (select 1 from outbox p where p.published_at is null and p.held and p.ordering_key = ${outbox.orderingKey} and p.id < ${outbox.id} offset 0)`,
        ),
      )
      .orderBy(asc(outbox.id))
      .limit(this.opts.batchSize);
    if (rows.length === 0) return 0;
    // Issued in id order on one connection, so the stream receives them in that order.
    const results = await Promise.allSettled(
      rows.map((row) =>
        js.publish(row.subject, JSON.stringify(row.payload), { msgID: row.msgId, timeout: this.opts.publishTimeoutMs }),
      ),
    );
    // Mark only the prefix that succeeded, so a retry resends in order (duplicates are absorbed).
    const done: number[] = [];
    let failure: unknown = null;
    for (const [i, result] of results.entries()) {
      if (result.status === 'rejected') {
        failure = result.reason;
        break;
      }
      if (result.value.duplicate) this.metrics.outboxPublishDuplicates.inc();
      done.push(rows[i]!.id);
    }
    if (done.length > 0) {
      await this.db.update(outbox).set({ publishedAt: sql`now()` }).where(inArray(outbox.id, done));
      this.metrics.outboxPublished.inc(done.length);
    }
    if (failure) throw failure;
    return done.length;
  }

  private async maybePrune(): Promise<void> {
    const now = Date.now();
    if (now - this.lastPrune < 60_000) return;
    this.lastPrune = now;
    await this.db.delete(outbox).where(lt(outbox.publishedAt, new Date(now - this.opts.retentionMs)));
  }
}
