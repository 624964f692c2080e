/**
 * `SharedState` for adapters, kept in PostgreSQL so every replica sees the same access
 * token or poll offset. Writes are compare-and-set on a revision number.
 */
import { and, eq } from 'drizzle-orm';
import type { SharedState } from '../adapter.ts';
import type { Db } from './db.ts';
import { sharedState } from './schema.ts';

/** A SharedState whose keys are namespaced (e.g. by channel and account). */
export function createSharedState(db: Db, namespace: string): SharedState {
  const k = (key: string) => `${namespace}:${key}`;
  return {
    async get(key) {
      const [row] = await db.select().from(sharedState).where(eq(sharedState.key, k(key))).limit(1);
      return row ? { value: row.value, revision: row.revision } : null;
    },
    async put(key, value, revision) {
      const now = new Date();
      if (revision === 0) {
        const rows = await db
          .insert(sharedState)
          .values({ key: k(key), value, revision: 1, updatedAt: now })
          .onConflictDoNothing()
          .returning({ key: sharedState.key });
        return rows.length > 0;
      }
      const rows = await db
        .update(sharedState)
        .set({ value, revision: revision + 1, updatedAt: now })
        .where(and(eq(sharedState.key, k(key)), eq(sharedState.revision, revision)))
        .returning({ key: sharedState.key });
      return rows.length > 0;
    },
  };
}
