/**
 * The poll loop, the inbound pipeline's second door: for every account whose adapter receives
 * by long polling (`inboundMode: 'polling'`), one poller across all replicas, elected by a
 * lease in PostgreSQL (`poll:<channel>:<account>`) that it renews while it polls. A standby
 * takes over within a few seconds when the holder dies. The cursor a poll returns is written in
 * the transaction that records that poll's events (and only while the lease is still held), so
 * a crash between recording and confirming neither loses nor repeats an update.
 */
import { failureFields } from '../log-fields.ts';
import { and, eq, gt, sql } from 'drizzle-orm';
import type { Logger } from 'pino';
import type { ChannelAdapter } from '../adapter.ts';
import type { Metrics } from '../metrics.ts';
import type { Db, Tx } from '../storage/db.ts';
import { leases, pollCursors } from '../storage/schema.ts';
import { acquireLease, releaseLease } from '../storage/lease.ts';
import type { InboundPipeline } from './pipeline.ts';

/** Timings; the defaults take over a dead poller within about `leaseTtlMs`. */
export interface PollOptions {
  leaseTtlMs?: number;
  /** How often a standby asks for the lease. */
  standbyMs?: number;
  /** First backoff after a failed poll; doubles up to `maxBackoffMs`. */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** Backoff after the platform says another client is polling (Telegram's 409). */
  conflictBackoffMs?: number;
}

/** An account's live adapter as the registry holds it. */
export interface PollEntry {
  adapter: ChannelAdapter;
  window: string;
}

/** What the pollers need from the daemon. */
export interface PollDeps {
  db: Db;
  pipeline: InboundPipeline;
  /** This replica's id; each poller adds its own serial, so an old and a new loop never share a lease. */
  holder: string;
  logger: Logger;
  metrics: Metrics;
  options?: PollOptions;
}

/** Thrown inside the recording transaction when this poller no longer holds the lease. */
class LeaseLostError extends Error {
  constructor() {
    super('poll lease lost before the cursor was committed');
    this.name = 'LeaseLostError';
  }
}

/**
 * Refuses an account that asks to poll without being able to: a config error at start or
 * reload, never a loop that cannot run.
 */
export function checkInboundMode(adapter: ChannelAdapter): void {
  if ((adapter.inboundMode ?? 'webhook') !== 'polling') return;
  if (!adapter.capabilities.inbound.includes('polling') || typeof adapter.fetchUpdates !== 'function') {
    throw new Error(
      `account ${adapter.account} (${adapter.channel}): inbound mode 'polling' needs a channel whose capabilities list 'polling' and that implements fetchUpdates`,
    );
  }
}

/** True when a poll failure means another client polls the same bot (HTTP 409, `conflict`). */
function isConflict(error: unknown): boolean {
  const e = error as { code?: unknown; status?: unknown; details?: { status?: unknown; platformCode?: unknown } } | null;
  if (!e || typeof e !== 'object') return false;
  return e.code === 'conflict' || e.status === 409 || e.details?.status === 409 || e.details?.platformCode === 409 || e.details?.platformCode === '409';
}

let serial = 0;

/** One poller's state as `/readyz` details show it. */
export interface PollStatus {
  leader: boolean;
  /** Since when the platform has reported another client (or a webhook) on the account. */
  conflict: { since: string; reason: string } | null;
}

/** One account's poller; `stop` aborts the poll in flight and releases the lease. */
export class AccountPoller {
  private readonly abort = new AbortController();
  private readonly lease: string;
  private readonly holder: string;
  private readonly opts: Required<PollOptions>;
  private readonly log: Logger;
  private loop: Promise<void> | null = null;
  private leader = false;
  private prepared = false;
  private conflict: PollStatus['conflict'] = null;

  constructor(
    readonly entry: PollEntry,
    private readonly deps: PollDeps,
  ) {
    const { channel, account } = entry.adapter;
    this.lease = `poll:${channel}:${account}`;
    this.holder = `${deps.holder}:poll-${++serial}`;
    const o = deps.options ?? {};
    const leaseTtlMs = o.leaseTtlMs ?? 6_000;
    this.opts = {
      leaseTtlMs,
      standbyMs: o.standbyMs ?? Math.max(250, Math.floor(leaseTtlMs / 5)),
      backoffMs: o.backoffMs ?? 1_000,
      maxBackoffMs: o.maxBackoffMs ?? 30_000,
      conflictBackoffMs: o.conflictBackoffMs ?? 60_000,
    };
    this.log = deps.logger.child({ component: 'poller', channel, account });
  }

  /** True while this poller holds its account's lease. */
  get isLeader(): boolean {
    return this.leader;
  }

  /** The poller's state for `/readyz`. */
  get status(): PollStatus {
    return { leader: this.leader, conflict: this.conflict };
  }

  /** Starts polling once `after` (the previous poller of this account stopping) has settled. */
  start(after: Promise<unknown> = Promise.resolve()): void {
    this.loop ??= after.catch(() => {}).then(() => this.run());
  }

  /** Aborts the poll in flight, waits for the loop, gives the lease up; idempotent. */
  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
    if (this.leader) await releaseLease(this.deps.db, this.lease, this.holder).catch(() => {});
    this.leader = false;
  }

  private get stopped(): boolean {
    return this.abort.signal.aborted;
  }

  private async run(): Promise<void> {
    const { channel, account } = this.entry.adapter;
    let failures = 0;
    while (!this.stopped) {
      let pause = 0;
      try {
        if (!(await this.holdLease())) {
          pause = this.opts.standbyMs;
        } else {
          await this.pollOnce();
          failures = 0;
          this.deps.metrics.polls.inc({ channel, account, result: 'ok' });
          if (this.conflict) {
            this.conflict = null;
            this.deps.metrics.pollConflict.set({ channel, account }, 0);
            this.log.info('polling again: the other client is gone');
          }
        }
      } catch (error) {
        if (this.stopped) break;
        failures++;
        if (isConflict(error)) {
          // Another client (another deployment, a stray script) polls this bot: ours must not
          // fight it in a tight loop, and an operator must hear about it.
          this.deps.metrics.polls.inc({ channel, account, result: 'conflict' });
          this.deps.metrics.pollConflict.set({ channel, account }, 1);
          const reason = (error as { details?: { reason?: unknown } }).details?.reason;
          this.conflict ??= { since: new Date().toISOString(), reason: typeof reason === 'string' ? reason : 'conflict' };
          this.log.error({ ...failureFields(error), account, retryInMs: this.opts.conflictBackoffMs }, 'the platform reports another client polling this account; backing off');
          pause = this.opts.conflictBackoffMs;
        } else {
          this.deps.metrics.polls.inc({ channel, account, result: 'error' });
          pause = Math.min(this.opts.maxBackoffMs, this.opts.backoffMs * 2 ** Math.min(failures - 1, 10));
          this.log.warn({ ...failureFields(error), failures, retryInMs: pause }, 'poll failed; will retry');
        }
      }
      if (pause > 0) await this.sleep(pause);
    }
  }

  private async holdLease(): Promise<boolean> {
    const had = this.leader;
    this.leader = await acquireLease(this.deps.db, this.lease, this.holder, this.opts.leaseTtlMs);
    if (this.leader !== had) this.log.info({ leader: this.leader }, this.leader ? 'poll lease acquired' : 'poll lease lost');
    return this.leader;
  }

  /** One long poll and its recording; the lease is renewed meanwhile, and losing it aborts the poll. */
  private async pollOnce(): Promise<void> {
    const { adapter } = this.entry;
    const poll = new AbortController();
    const cancel = () => poll.abort();
    this.abort.signal.addEventListener('abort', cancel, { once: true });
    const renew = setInterval(() => {
      acquireLease(this.deps.db, this.lease, this.holder, this.opts.leaseTtlMs)
        .then((held) => {
          if (!held) {
            this.leader = false;
            poll.abort();
          }
        })
        .catch(() => {
          // The database is away: the transaction below checks the lease before committing.
        });
    }, Math.max(100, Math.floor(this.opts.leaseTtlMs / 3)));
    try {
      if (!this.prepared) {
        await adapter.preparePolling?.(poll.signal);
        this.prepared = true;
      }
      const cursor = await this.readCursor();
      const updates = await adapter.fetchUpdates!(cursor, poll.signal);
      if (poll.signal.aborted) return;
      const next = updates.nextCursor ?? cursor;
      if (updates.events.length === 0 && next === cursor) return;
      await this.deps.pipeline.recordPolled(this.entry, updates.events, (tx) => this.commitCursor(tx, next));
    } finally {
      clearInterval(renew);
      this.abort.signal.removeEventListener('abort', cancel);
    }
  }

  private async readCursor(): Promise<string | null> {
    const { channel, account } = this.entry.adapter;
    const [row] = await this.deps.db
      .select({ cursor: pollCursors.cursor })
      .from(pollCursors)
      .where(and(eq(pollCursors.channel, channel), eq(pollCursors.account, account)))
      .limit(1);
    return row?.cursor ?? null;
  }

  /** In the recording transaction: only the lease holder may move the cursor. */
  private async commitCursor(tx: Tx, cursor: string | null): Promise<void> {
    const { channel, account } = this.entry.adapter;
    const held = await tx
      .select({ name: leases.name })
      .from(leases)
      .where(and(eq(leases.name, this.lease), eq(leases.holder, this.holder), gt(leases.expiresAt, sql`now()`)))
      .for('update');
    if (held.length === 0) {
      this.leader = false;
      throw new LeaseLostError();
    }
    await tx
      .insert(pollCursors)
      .values({ channel, account, cursor, updatedAt: sql`now()` as unknown as Date })
      .onConflictDoUpdate({ target: [pollCursors.channel, pollCursors.account], set: { cursor, updatedAt: sql`now()` as unknown as Date } });
  }

  private sleep(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.abort.signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.abort.signal.addEventListener('abort', done, { once: true });
    });
  }
}

/** The pollers of this replica, kept in step with the registry's adapters. */
export class PollLoops {
  private readonly pollers = new Map<string, AccountPoller>();

  constructor(private readonly deps: PollDeps) {}

  /** The poller of an account on this replica, if it polls. */
  get(account: string): AccountPoller | undefined {
    return this.pollers.get(account);
  }

  /**
   * Starts a poller for every polling account and stops those whose adapter went away (removed,
   * disabled, or replaced by a reload: the new loop starts once the old one has let go).
   */
  sync(entries: Iterable<PollEntry>): void {
    const wanted = new Map<string, PollEntry>();
    for (const entry of entries) if ((entry.adapter.inboundMode ?? 'webhook') === 'polling') wanted.set(entry.adapter.account, entry);
    for (const [account, poller] of [...this.pollers]) {
      const next = wanted.get(account);
      if (next && next.adapter === poller.entry.adapter) continue;
      this.pollers.delete(account);
      const stopping = poller.stop();
      if (next) this.launch(next, stopping);
    }
    for (const [account, entry] of wanted) if (!this.pollers.has(account)) this.launch(entry);
  }

  /** Every poller's state, by account. */
  status(): Record<string, PollStatus> {
    return Object.fromEntries([...this.pollers].map(([account, poller]) => [account, poller.status]));
  }

  /** Stops every poller (SIGTERM): polls in flight are aborted, leases released. */
  async stop(): Promise<void> {
    const all = [...this.pollers.values()];
    this.pollers.clear();
    await Promise.all(all.map((poller) => poller.stop()));
  }

  private launch(entry: PollEntry, after?: Promise<unknown>): void {
    const poller = new AccountPoller(entry, this.deps);
    this.pollers.set(entry.adapter.account, poller);
    poller.start(after);
  }
}
