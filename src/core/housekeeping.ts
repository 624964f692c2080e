/**
 * Periodic clean-up that no request does on its own: expired shared-state keys (a send's
 * progress) and stored media bytes no media row references (a purge lost to a crash). One
 * replica at a time does it, under a database lease: the work is idempotent, but two replicas
 * listing the same object store gain nothing.
 */
import type { Logger } from 'pino';
import type { Clock } from './clock.ts';
import type { Db } from './storage/db.ts';
import { acquireLease, releaseLease } from './storage/lease.ts';
import { sweepExpiredSharedState } from './storage/shared-state.ts';
import { sweepOrphanedMedia, type OrphanSweepResult } from './media/purge.ts';
import type { MediaStore } from './media/store.ts';
import { BackgroundLoop } from './wakeup.ts';

const LEASE = 'housekeeping';

/** What one round did, for the log line and tests. */
export interface HousekeepingResult {
  sharedStateExpired: number;
  media: OrphanSweepResult | null;
}

/** Options of the housekeeping loop. */
export interface HousekeepingOptions {
  db: Db;
  store: MediaStore;
  clock: Clock;
  logger: Logger;
  /** The lease holder (the daemon's instance id). */
  holder: string;
  /** Between rounds (default 15 minutes). */
  intervalMs?: number;
  /** Bytes younger than this are never swept: their row may still be on its way (default 24 h). */
  mediaGraceMs?: number;
}

/** Runs `runOnce` every interval while it holds the lease. */
export class Housekeeping extends BackgroundLoop {
  private readonly intervalMs: number;
  private readonly mediaGraceMs: number;

  constructor(private readonly options: HousekeepingOptions) {
    super();
    this.intervalMs = options.intervalMs ?? 15 * 60_000;
    this.mediaGraceMs = options.mediaGraceMs ?? 24 * 3600_000;
  }

  /** One round, if this replica gets the lease; null when another replica holds it. */
  async runOnce(): Promise<HousekeepingResult | null> {
    const { db, store, clock, logger, holder } = this.options;
    // The lease outlives a round (listing a large store takes a while) and lapses if we die.
    if (!(await acquireLease(db, LEASE, holder, this.intervalMs * 2))) return null;
    const result: HousekeepingResult = { sharedStateExpired: 0, media: null };
    try {
      result.sharedStateExpired = await sweepExpiredSharedState(db);
    } catch (error) {
      logger.warn({ err: error }, 'expired shared state could not be swept; next round tries again');
    }
    try {
      result.media = await sweepOrphanedMedia(db, store, { graceMs: this.mediaGraceMs, now: clock.now(), logger });
    } catch (error) {
      logger.warn({ err: error }, 'orphaned media could not be swept; next round tries again');
    }
    if (result.sharedStateExpired > 0 || (result.media && result.media.deleted + result.media.failed > 0)) logger.info(result, 'housekeeping done');
    return result;
  }

  /** Ends the loop after the round in flight and gives the lease up; idempotent. */
  async stop(): Promise<void> {
    await this.halt();
    await releaseLease(this.options.db, LEASE, this.options.holder).catch(() => {});
  }

  protected async run(): Promise<void> {
    while (this.running) {
      await this.runOnce().catch((error: unknown) => this.options.logger.warn({ err: error }, 'housekeeping round failed'));
      await this.wakeup.sleep(this.intervalMs);
    }
  }
}
