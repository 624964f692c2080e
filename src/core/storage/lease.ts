/**
 * Leases in the database: one holder at a time for singleton work (the outbox relay keeps
 * per-conversation order by publishing from one replica). Time is the database's, so
 * replicas with skewed clocks still agree.
 */
import { sql } from 'drizzle-orm';
import type { Db } from './db.ts';

/** Takes or renews the lease; true while `holder` has it. */
export async function acquireLease(db: Db, name: string, holder: string, ttlMs: number): Promise<boolean> {
  const rows = await db.execute<{ holder: string }>(sql`
    insert into leases (name, holder, expires_at)
    values (${name}, ${holder}, now() + (${ttlMs} * interval '1 millisecond'))
    on conflict (name) do update
      set holder = excluded.holder, expires_at = excluded.expires_at
      where leases.holder = excluded.holder or leases.expires_at < now()
    returning holder`);
  return rowsOf(rows).length > 0;
}

/** Gives the lease up so another replica can take over at once. */
export async function releaseLease(db: Db, name: string, holder: string): Promise<void> {
  await db.execute(sql`delete from leases where name = ${name} and holder = ${holder}`);
}

/** Rows of a raw `execute`: postgres.js (under both database kinds) gives an array, other drivers `{ rows }`. */
export function rowsOf<T>(result: unknown): T[] {
  if (Array.isArray(result)) return result as T[];
  return ((result as { rows?: T[] }).rows ?? []) as T[];
}
