/**
 * `SharedState` for adapters, kept in PostgreSQL so every replica sees the same access
 * token or poll offset. Writes are compare-and-set on a revision number. A key written with
 * `ttlMs` (a send's progress, worthless once the send is settled) reads as absent after it
 * expires, can be created afresh, and is deleted by `sweepExpiredSharedState`. Time is the
 * database's, so replicas with skewed clocks agree on what expired.
 */
import { and, eq, isNull, lte, or, gt, sql } from 'drizzle-orm';
import type { SharedState } from '../adapter.ts';
import type { Db } from './db.ts';
import { sharedState } from './schema.ts';

const live = or(isNull(sharedState.expiresAt), gt(sharedState.expiresAt, sql`now()`));

/** A SharedState whose keys are namespaced (e.g. by channel and account). */
export function createSharedState(db: Db, namespace: string): SharedState {
  const k = (key: string) => `${namespace}:${key}`;
  const expiry = (ttlMs: number | undefined) => (ttlMs === undefined ? null : sql`now() + (${Math.max(0, Math.round(ttlMs))} * interval '1 millisecond')`);
  return {
    async get(key) {
      const [row] = await db.select().from(sharedState).where(and(eq(sharedState.key, k(key)), live)).limit(1);
      return row ? { value: row.value, revision: row.revision } : null;
    },
    async put(key, value, revision, options) {
      const now = new Date();
      const expiresAt = expiry(options?.ttlMs);
      if (revision === 0) {
        // An expired row is as good as absent: creating the key takes its place.
        const rows = await db
          .insert(sharedState)
          .values({ key: k(key), value, revision: 1, updatedAt: now, expiresAt })
          .onConflictDoUpdate({
            target: sharedState.key,
            set: { value, revision: 1, updatedAt: now, expiresAt },
            setWhere: lte(sharedState.expiresAt, sql`now()`),
          })
          .returning({ key: sharedState.key });
        return rows.length > 0;
      }
      const rows = await db
        .update(sharedState)
        .set({ value, revision: revision + 1, updatedAt: now, expiresAt })
        .where(and(eq(sharedState.key, k(key)), eq(sharedState.revision, revision), live))
        .returning({ key: sharedState.key });
      return rows.length > 0;
    },
  };
}

/** Deletes expired keys (every namespace); returns how many. */
export async function sweepExpiredSharedState(db: Db): Promise<number> {
  const rows = await db.delete(sharedState).where(lte(sharedState.expiresAt, sql`now()`)).returning({ key: sharedState.key });
  return rows.length;
}
