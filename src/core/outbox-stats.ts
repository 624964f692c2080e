import { sql } from 'drizzle-orm';
import type { Db } from './storage/db.ts';
import { rowsOf } from './storage/lease.ts';
import { unpublished } from './outbox-progress.ts';

/** The oldest row ready to publish older than this marks the outbox stuck in `/readyz`. */
export const OUTBOX_STUCK_AFTER_SECONDS = 300;

/** Backlog of the outbox, for /metrics and /readyz. */
export interface OutboxStats {
  /** Rows not yet published (dead-lettered rows are done, not pending). */
  pending: number;
  /** Age of the oldest unpublished row, waiting for media included. */
  lagSeconds: number;
  /**
   * Age of the oldest row the relay could publish now: not held for media and not behind a held
   * row of its conversation. It only grows when publishing is stuck, so alerts watch it.
   */
  oldestUnpublishedAgeSeconds: number;
}

/** Reads the backlog; two index-backed queries. */
export async function outboxStats(db: Db): Promise<OutboxStats> {
  const [row] = rowsOf<{ pending: number | string; lag: number | string | null }>(
    await db.execute(sql`select count(*) as pending, extract(epoch from now() - min(o.created_at)) as lag from outbox o where ${unpublished('o', { committed: true })}`),
  );
  return { pending: Number(row?.pending ?? 0), lagSeconds: Math.max(0, Number(row?.lag ?? 0)), oldestUnpublishedAgeSeconds: await oldestReadyAge(db) };
}

/**
 * The oldest row the relay could publish now, by the relay's own rule (see outbox-relay.ts).
 * An aggregate, not `order by id limit 1`: that walks the primary key through every published
 * row kept for replays (180 ms at 300,000 rows), where this reads the two small index ranges.
 */
async function oldestReadyAge(db: Db): Promise<number> {
  const [row] = rowsOf<{ age: number | string | null }>(
    await db.execute(sql`
      select extract(epoch from now() - min(o.created_at)) as age from outbox o
      where ${unpublished('o', { committed: true })} and not o.held
        and not exists (select 1 from outbox p where p.deferred and p.published_at is null and p.held and p.ordering_key = o.ordering_key and p.id < o.id offset 0)`),
  );
  return Math.max(0, Number(row?.age ?? 0));
}

/** The `/readyz` view of the outbox: false once publishing has been stuck for a while. One probe, no count. */
export async function outboxReadiness(db: Db, stuckAfterSeconds = OUTBOX_STUCK_AFTER_SECONDS): Promise<{ ok: boolean; oldestUnpublishedAgeSeconds: number }> {
  const age = await oldestReadyAge(db);
  return { ok: age <= stuckAfterSeconds, oldestUnpublishedAgeSeconds: Math.round(age) };
}
