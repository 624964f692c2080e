/**
 * The sender of ONE account. It sends only while this replica holds the account's lease
 * (`send:<account>`), so the account's rate is global across replicas. Due jobs are claimed in
 * order, one per conversation at a time (a conversation's messages go out in acceptance
 * order), and run through the account's own p-queue and call gate: `rateLimit.perSecond`
 * platform calls a second, in bursts of a fifth of that, counted when the calls are made;
 * spaced per recipient when `perRecipientPerSecond` is set, and at most `perGroupPerMinute`
 * platform messages a minute into one group conversation. A `rate_limited` answer pauses this
 * account's queue for the time asked, recorded in the database so a replica that takes the
 * account over waits too; no other account waits, since each has its own queue.
 */
import { BackgroundLoop } from '../core/wakeup.ts';
import PQueue from 'p-queue';
import type { Logger } from 'pino';
import { acquireLease, releaseLease } from '../core/storage/lease.ts';
import type { AdapterEntry } from '../core/registry.ts';
import type { OutboundDeps } from './deps.ts';
import { abandonedJobs, dueJobs, type SendJob } from './jobs.ts';
import { markSendingWithReply } from './reply-claim.ts';
import { loadOutbound, recordFailed, recordSent } from './outcomes.ts';
import { handleSendError } from './retry.ts';
import { CallGate } from './call-gate.ts';
import { AccountQuotas } from './account-quotas.ts';
import { OmniError } from '../core/errors.ts';
import { GroupSendWindows, recordAccountPause, remainingAccountPause } from './shared-throttle.ts';
import { recordSendCost } from './costs.ts';

/**
 * The rate a p-queue enforces: `cap` calls per rolling `intervalMs`. A fifth of the per-second
 * rate every fifth of a second rather than the whole second's worth at once: the same average,
 * but bursts stay small, so jitter between our clock and the platform's (which counts with a
 * token bucket or one-second buckets) never turns a burst at a boundary into a 130429. (Not
 * smaller: each window ends a timer tick late, and ten windows a second lost 2 % of the rate.)
 */
export function queueRate(perSecond: number): { cap: number; intervalMs: number } {
  if (!Number.isFinite(perSecond) || perSecond <= 0) return { cap: 1_000_000, intervalMs: 1000 };
  const cap = Math.max(1, Math.round(perSecond / 5));
  return { cap, intervalMs: (1000 * cap) / perSecond };
}

/** Sends one account's queued messages while holding its lease. */
export class AccountSender extends BackgroundLoop {
  private leader = false;
  private lastRenew = 0;
  private queue: PQueue;
  private gate: CallGate;
  private perSecond: number;
  /**
   * Jobs this replica has in hand (queued in p-queue or waiting for a recipient's turn), with
   * their conversation: while one is in hand, no other job of that conversation is claimed.
   */
  private inHand = new Map<number, string>();
  /** Jobs whose task has started, with the promise that ends it. */
  private readonly started = new Map<number, Promise<void>>();
  private readonly timers = new Set<NodeJS.Timeout>();
  /** Wall-clock ms before which no platform call is made (the platform asked us to wait). */
  private pausedUntil = 0;
  private resumeTimer: NodeJS.Timeout | null = null;
  /** Per conversation: the earliest wall-clock ms of its next call. */
  private readonly recipientNext = new Map<string, number>();
  /** Sends into group conversations in the last minute (`rateLimit.perGroupPerMinute`), shared. */
  private readonly groups: GroupSendWindows;
  private readonly log: Logger;
  /** Account-level quotas the adapter declares (LINE's monthly push quota). */
  private readonly quotas: AccountQuotas;

  constructor(
    private readonly deps: OutboundDeps,
    readonly account: string,
    private readonly entry: () => AdapterEntry | undefined,
  ) {
    super();
    this.log = deps.logger.child({ component: 'sender', account });
    this.groups = new GroupSendWindows(deps.db);
    this.perSecond = entry()?.adapter.capabilities.rateLimit.perSecond ?? 1;
    this.queue = this.makeQueue(this.perSecond);
    this.gate = this.makeGate(this.perSecond);
    this.quotas = new AccountQuotas(deps, account, entry);
  }

  /** True while this replica holds the account's sending lease. */
  get isLeader(): boolean {
    return this.leader;
  }

  /**
   * Stops claiming, drops what has not started, lets calls in flight finish and be recorded
   * (aborting them would leave them ambiguous), then gives the lease up for another replica.
   */
  async stop(): Promise<void> {
    if (!this.running) return;
    await this.halt();
    this.dropWaiting();
    await Promise.allSettled(this.started.values());
    await this.quotas.flush();
    if (this.resumeTimer) clearTimeout(this.resumeTimer);
    if (this.leader) await releaseLease(this.deps.db, this.leaseName, this.deps.holder).catch(() => undefined);
    this.leader = false;
  }

  /**
   * Holds the platform back until `until` (wall-clock ms): the account's queue pauses, and the
   * pause is recorded in the database so a replica taking the account over waits it out too.
   */
  async pause(until: number): Promise<void> {
    this.pauseHere(until);
    await recordAccountPause(this.deps.db, this.account, until - Date.now()).catch((error: unknown) => {
      // This replica still waits; only a take-over in the meantime would not know.
      this.log.warn({ err: error }, 'could not record the account pause for other replicas');
    });
  }

  private pauseHere(until: number): void {
    if (until <= this.pausedUntil) return;
    this.pausedUntil = until;
    this.queue.pause();
    if (this.resumeTimer) clearTimeout(this.resumeTimer);
    this.resumeTimer = setTimeout(() => {
      this.resumeTimer = null;
      this.queue.start();
      this.notify();
    }, until - Date.now());
  }

  /** Holds one conversation back until `until` (the platform's per-recipient limit). */
  holdRecipient(conversationId: string, until: number): void {
    this.recipientNext.set(conversationId, Math.max(until, this.recipientNext.get(conversationId) ?? 0));
  }

  private get leaseName(): string {
    return `send:${this.account}`;
  }

  private makeGate(perSecond: number): CallGate {
    const { cap, intervalMs } = queueRate(perSecond);
    return new CallGate(cap, intervalMs);
  }

  private makeQueue(perSecond: number): PQueue {
    const { cap, intervalMs } = queueRate(perSecond);
    // Enough concurrency for a second's worth of calls, so latency never lowers the rate.
    const concurrency = Math.min(256, Math.max(8, Math.ceil(perSecond)));
    return new PQueue({ concurrency, intervalCap: cap, interval: intervalMs, strict: true });
  }

  protected async run(): Promise<void> {
    let failures = 0;
    let lastDispatch = 0;
    while (this.running) {
      let claimed = 0;
      try {
        // Completions wake the loop one by one; claiming at most every 10 ms batches them.
        const gap = lastDispatch + 10 - Date.now();
        if (gap > 0) await new Promise((resolve) => setTimeout(resolve, gap));
        lastDispatch = Date.now();
        if (await this.holdLease()) {
          await this.quotas.tick();
          claimed = await this.dispatch();
        }
        failures = 0;
      } catch (error) {
        failures++;
        this.log.warn({ err: error, failures }, 'sender loop failed; will retry');
      }
      if (!this.running) break;
      const idle = failures > 0 ? Math.min(5_000, 250 * 2 ** Math.min(failures, 5)) : this.leader ? this.deps.settings.idleMs : this.deps.settings.leaseTtlMs / 3;
      if (claimed === 0) await this.sleep(idle);
    }
  }

  private sleep(ms: number): Promise<void> {
    return this.wakeup.sleep(ms);
  }

  private async holdLease(): Promise<boolean> {
    const now = Date.now();
    const ttl = this.deps.settings.leaseTtlMs;
    if (this.leader && now - this.lastRenew < ttl / 3) return true;
    const had = this.leader;
    try {
      this.leader = await acquireLease(this.deps.db, this.leaseName, this.deps.holder, ttl);
    } catch (error) {
      // Cannot prove we still hold it: stop sending before another replica may start.
      this.leader = false;
      throw error;
    } finally {
      if (had && !this.leader) {
        this.dropWaiting();
        this.quotas.reset();
      }
    }
    this.lastRenew = now;
    if (this.leader !== had) this.log.info({ leader: this.leader }, this.leader ? 'sending lease acquired' : 'sending lease lost');
    if (this.leader && !had) this.groups.reset();
    if (this.leader) {
      // A pause the platform asked of another replica (or of this one before a restart) holds here too.
      const remaining = await remainingAccountPause(this.deps.db, this.account);
      if (remaining > 0) this.pauseHere(Date.now() + remaining);
    }
    // On takeover, and at every renewal: a call whose outcome could not be recorded ages out too.
    if (this.leader) await this.settleAbandoned();
    return this.leader;
  }

  /**
   * Jobs a dead holder left `sending`: the platform may or may not have accepted them, and no
   * platform offers a way to ask. Sending again could deliver twice, so they end `failed`
   * (`channel_unavailable`, `details.ambiguous: true`) for a human or the helpdesk to decide.
   */
  private async settleAbandoned(): Promise<void> {
    for (const job of await abandonedJobs(this.deps.db, this.account)) {
      this.log.warn({ message: job.messageId }, 'send left in flight by a stopped replica; not retried to avoid a double send');
      await recordFailed(this.deps, job, {
        code: 'channel_unavailable',
        message: 'the daemon stopped while this message was being handed to the platform; it may or may not have been sent',
        details: { ambiguous: true, attempts: job.attempts },
      }, { deadLetter: true });
    }
  }

  /** Claims due jobs into the queue; returns how many. */
  private async dispatch(): Promise<number> {
    const entry = this.entry();
    if (!entry) return 0;
    const perSecond = entry.adapter.capabilities.rateLimit.perSecond;
    if (perSecond !== this.perSecond) {
      // p-queue's rate is fixed at construction: waiting tasks move to a queue with the new rate.
      this.perSecond = perSecond;
      this.dropWaiting();
      this.queue = this.makeQueue(perSecond);
      this.gate = this.makeGate(perSecond);
    }
    const highWater = Math.min(1_000, Math.max(16, Math.ceil(2 * perSecond)));
    const room = highWater - this.inHand.size;
    if (room <= 0) return 0;
    // By conversation, not by job: acceptances commit out of order, so a conversation's head
    // can be a job committed after the one in hand; claiming it would put two in flight.
    const jobs = await dueJobs(this.deps.db, this.account, [...new Set(this.inHand.values())], room);
    const perRecipient = entry.adapter.capabilities.rateLimit.perRecipientPerSecond;
    const now = Date.now();
    if (this.recipientNext.size > 10_000) {
      for (const [conversationId, until] of this.recipientNext) if (until < now) this.recipientNext.delete(conversationId);
    }
    const busy = new Set(this.inHand.values());
    let taken = 0;
    for (const job of jobs) {
      // A job accepted concurrently can commit with a lower seq than one already in hand and
      // become its conversation's head: it waits for that one, or both would go out together.
      if (busy.has(job.conversationId)) continue;
      taken++;
      busy.add(job.conversationId);
      this.inHand.set(job.seq, job.conversationId);
      const wait = (this.recipientNext.get(job.conversationId) ?? 0) - now;
      if (wait > 0) {
        const timer = setTimeout(() => {
          this.timers.delete(timer);
          this.enqueue(job, perRecipient);
        }, wait);
        this.timers.add(timer);
      } else {
        this.enqueue(job, perRecipient);
      }
    }
    return taken;
  }

  private enqueue(job: SendJob, perRecipient: number | null): void {
    if (!this.running || !this.leader) {
      this.inHand.delete(job.seq);
      return;
    }
    const queue = this.queue;
    void queue
      .add(() => {
        const task = this.execute(job, perRecipient).catch((error: unknown) => {
          this.log.error({ err: error, message: job.messageId }, 'send task failed; the job stays queued');
        });
        this.started.set(job.seq, task);
        return task;
      })
      .finally(() => {
        this.started.delete(job.seq);
        this.inHand.delete(job.seq);
        this.notify();
      });
  }

  /** Forgets tasks that have not started (they stay `queued` in the database). */
  private dropWaiting(): void {
    this.queue.clear();
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.inHand = new Map([...this.inHand].filter(([seq]) => this.started.has(seq)));
  }

  private async execute(job: SendJob, perRecipient: number | null): Promise<void> {
    const entry = this.entry();
    if (!this.running || !this.leader || !entry?.adapter.send) return;
    const message = await loadOutbound(this.deps, job).catch(async (error: unknown) => {
      await handleSendError(this.deps, this, job, error, { attempts: job.attempts + 1, sent: false, timedOut: false });
      return null;
    });
    if (!message) return;
    // The platform may have asked us to wait after this task was scheduled.
    if (Date.now() < this.pausedUntil) {
      await handleSendError(this.deps, this, job, null, { attempts: job.attempts, sent: false, timedOut: false, pausedUntil: this.pausedUntil });
      return;
    }
    const { sendTimeoutMs, leaseTtlMs } = this.deps.settings;
    const platformMessages = Math.max(1, entry.adapter.platformMessageCount?.(message.parts as ReadonlyArray<{ type: string; caption?: string }>) ?? 1);
    // A group conversation has its own budget where the capabilities give one (Telegram: 20 a minute).
    const perGroup = message.to.conversationKind === 'group' ? (entry.adapter.capabilities.rateLimit.perGroupPerMinute ?? null) : null;
    if (perGroup !== null && perGroup > 0) {
      const slot = await this.groups.nextSlot(job.conversationId, perGroup, platformMessages);
      if (slot > Date.now()) {
        this.holdRecipient(job.conversationId, slot);
        await handleSendError(this.deps, this, job, null, { attempts: job.attempts, sent: false, timedOut: false, pausedUntil: slot });
        return;
      }
    }
    const marked = await markSendingWithReply(this.deps.db, {
      seq: job.seq, holder: this.deps.holder, untilMs: sendTimeoutMs + leaseTtlMs, conversationId: job.conversationId, platformMessages,
    });
    if (!marked) return;
    if (marked.replyContext) message.replyContext = marked.replyContext;
    // An account quota this send would spend is used up: refused here, the platform never called.
    const refusal = this.quotas.refusal(marked.replyContext !== undefined, platformMessages);
    if (refusal) {
      this.deps.metrics.calls.inc({ channel: job.channel, account: job.account, result: 'quota_refused' });
      await recordFailed(this.deps, job, { ...refusal, details: { ...refusal.details, attempts: marked.attempts - 1 } });
      return;
    }
    // After the database round trip, whose time varies with load: the calls themselves keep the rate.
    await this.gate.take();
    if (Date.now() < this.pausedUntil || !this.leader) {
      await handleSendError(this.deps, this, job, null, { attempts: marked.attempts, sent: false, timedOut: false, pausedUntil: this.pausedUntil, marked: true });
      return;
    }
    if (perRecipient) this.holdRecipient(job.conversationId, Date.now() + 1000 / perRecipient);
    if (perGroup !== null && perGroup > 0) await this.groups.note(job.conversationId, platformMessages);
    const deadline = AbortSignal.timeout(sendTimeoutMs);
    let result: { externalId: string; route?: string; quotaUnits?: number };
    try {
      result = await entry.adapter.send(message, deadline);
    } catch (error) {
      if (error instanceof OmniError && error.code === 'quota_exceeded') {
        await this.quotas.platformRefused(error.details?.['quota'], message.replyContext !== undefined).catch((failure: unknown) => this.log.warn({ err: failure }, 'could not record the exhausted account quota'));
      }
      // A repeat is safe only where the adapter says so, and never after spending a reply token.
      const idempotentRetry = entry.adapter.capabilities.outbound?.idempotentRetry === true && !message.replyContext;
      await handleSendError(this.deps, this, job, error, { attempts: marked.attempts, sent: true, timedOut: deadline.aborted, idempotentRetry });
      return;
    }
    await this.recordAccepted(job, result.externalId, message.idempotencyKey, result.route);
    // A send that claimed a reply context and still reports `push` fell back and paid.
    const viaReply = message.replyContext !== undefined && result.route !== 'push';
    await this.quotas.spent(viaReply, platformMessages, result.quotaUnits).catch((error: unknown) => this.log.warn({ err: error }, 'could not count an account quota'));
    await recordSendCost(this.deps, entry, message, result, this.log);
  }

  /**
   * The platform accepted: recording that is the one step that must not be lost, so a failing
   * database is retried for about as long as the job's `sending` claim lasts. Past that the
   * job is left `sending` and settled as ambiguous, never sent again.
   */
  private async recordAccepted(job: SendJob, externalId: string, idempotencyKey: string, route?: string): Promise<void> {
    const deadline = Date.now() + this.deps.settings.sendTimeoutMs;
    for (let attempt = 1; ; attempt++) {
      try {
        await recordSent(this.deps, job, externalId, idempotencyKey, route);
        return;
      } catch (error) {
        if (Date.now() > deadline) throw error;
        this.log.warn({ err: error, message: job.messageId, attempt }, 'could not record an accepted send; retrying');
        await new Promise((resolve) => setTimeout(resolve, Math.min(5_000, 100 * 2 ** attempt)));
      }
    }
  }
}
