/**
 * Outbox rows for tests that need an event the relay has not published yet (held while media
 * is fetched, or from a crashed replica), and the count of what is still pending.
 */
import type postgres from 'postgres';

/** An outbox row as the ingest writes one; `held` rows wait for their media before publishing. */
export interface OutboxRow {
  subject: string;
  msgId: string;
  payload: unknown;
  orderingKey: string;
  held?: boolean;
  /** Default: the database's now(). */
  createdAt?: Date;
}

/** Insert one unpublished outbox row, created now (or at `createdAt`). */
export async function insertOutboxRow(sql: postgres.Sql, row: OutboxRow): Promise<void> {
  const createdAt = row.createdAt ? sql`${row.createdAt}` : sql`now()`;
  await sql`insert into outbox (subject, msg_id, payload, ordering_key, held, created_at)
    values (${row.subject}, ${row.msgId}, ${sql.json(row.payload as postgres.JSONValue)}, ${row.orderingKey}, ${row.held ?? false}, ${createdAt})`;
}

/** How many outbox rows are not published yet. */
export async function pendingOutboxRows(sql: postgres.Sql): Promise<number> {
  const [row] = await sql<Array<{ pending: number }>>`select count(*)::int as pending from outbox_unpublished`;
  return row!.pending;
}
