/**
 * All accounts' senders of this replica: one `AccountSender` per configured account that can
 * send, kept in step with hot reloads, plus the sweep that matches receipts which raced the
 * recording of their send. Every replica runs one; the per-account leases decide who sends.
 */
import type { Logger } from 'pino';
import type { OutboundDeps } from './deps.ts';
import { AccountSender } from './account-queue.ts';
import { sweepReceipts } from './outcomes.ts';

/** Runs the account senders of this replica. */
export class OutboundSender {
  private readonly senders = new Map<string, AccountSender>();
  private syncTimer: NodeJS.Timeout | null = null;
  private sweepTimer: NodeJS.Timeout | null = null;
  private sweeping = false;
  private running = false;
  private readonly log: Logger;

  constructor(private readonly deps: OutboundDeps) {
    this.log = deps.logger.child({ component: 'sender' });
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.sync();
    // Accounts come and go with config reloads; a cheap in-memory comparison twice a second.
    this.syncTimer = setInterval(() => this.sync(), 500);
    this.sweepTimer = setInterval(() => void this.sweep(), this.deps.settings.receiptSweepMs);
  }

  /** A send of this account was accepted here: start on it now if we hold the account. */
  notify(account: string): void {
    this.senders.get(account)?.notify();
  }

  /** The sender of one account (tests and the bench look at its lease). */
  get(account: string): AccountSender | undefined {
    return this.senders.get(account);
  }

  /** Stops every account's sender; calls in flight finish and are recorded first. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.syncTimer) clearInterval(this.syncTimer);
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    await Promise.allSettled([...this.senders.values()].map((sender) => sender.stop()));
    this.senders.clear();
  }

  /** Matches receipts that raced their send's recording; returns how many were applied. */
  async sweep(): Promise<number> {
    if (this.sweeping || !this.running) return 0;
    this.sweeping = true;
    try {
      return await sweepReceipts(this.deps);
    } catch (error) {
      this.log.warn({ err: error }, 'receipt sweep failed; will retry');
      return 0;
    } finally {
      this.sweeping = false;
    }
  }

  private sync(): void {
    if (!this.running) return;
    const live = new Set<string>();
    for (const entry of this.deps.accounts.all()) {
      if (!entry.adapter.send) continue;
      const id = entry.account.id;
      live.add(id);
      if (this.senders.has(id)) continue;
      const sender = new AccountSender(this.deps, id, () => this.deps.accounts.get(id));
      this.senders.set(id, sender);
      sender.start();
    }
    for (const [id, sender] of this.senders) {
      if (live.has(id)) continue;
      // Removed or disabled: its queued messages wait in the database for the account to return.
      this.senders.delete(id);
      void sender.stop();
    }
  }
}
