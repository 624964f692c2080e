import { sql } from 'drizzle-orm';
import type { Db } from './storage/db.ts';
import { rowsOf } from './storage/lease.ts';

/** Backlog of the outbox: rows not yet published and the age of the oldest, for /metrics. */
export async function outboxStats(db: Db): Promise<{ pending: number; lagSeconds: number }> {
  const [row] = rowsOf<{ pending: number | string; lag: number | string | null }>(
    await db.execute(sql`select count(*) as pending, extract(epoch from now() - min(created_at)) as lag from outbox where published_at is null`),
  );
  return { pending: Number(row?.pending ?? 0), lagSeconds: Math.max(0, Number(row?.lag ?? 0)) };
}
