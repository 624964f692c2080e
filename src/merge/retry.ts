/**
 * Transactions that retry when they lost a race: PostgreSQL broke a deadlock by aborting us
 * (40P01), a serialization failure (40001), or a contact we read was merged before we could
 * lock it. The work is repeated from the start on fresh reads, so the end state is the one a
 * serial order would give.
 */
import type { Db, Tx } from '../core/storage/db.ts';
import { StaleReadError } from './store.ts';

const RETRYABLE_SQLSTATES = new Set(['40P01', '40001']);
const MAX_ATTEMPTS = 12;

/** True when an error means "run the transaction again". */
export function isRetryable(error: unknown): boolean {
  for (let cause: unknown = error, depth = 0; cause && depth < 5; cause = (cause as { cause?: unknown }).cause, depth++) {
    if (cause instanceof StaleReadError) return true;
    const code = (cause as { code?: unknown }).code;
    if (typeof code === 'string' && RETRYABLE_SQLSTATES.has(code)) return true;
  }
  return false;
}

/** Runs `work` in a transaction, again (with a short random pause) when it lost a race. */
export async function inTransaction<T>(db: Db, work: (tx: Tx) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await db.transaction(work);
    } catch (error) {
      if (!isRetryable(error) || attempt >= MAX_ATTEMPTS) throw error;
      // Jitter so two replicas that collided do not collide again in lockstep.
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 10 * attempt));
    }
  }
}
