/**
 * Hot-path statements with constant text, handed straight to the driver under drizzle: no query
 * building per call (drizzle's `sql` templates were about a tenth of the daemon's CPU on the
 * ingest path). On PostgreSQL a constant text is prepared once per connection (db.ts makes every
 * statement a named one), so a call costs one Bind/Execute. The schema, the migrations and every
 * other statement stay with drizzle.
 *
 * Rows come back as drizzle's own `execute` returns them: timestamps and dates as text, jsonb
 * parsed. Parameters are positional (`$1`, `$2`, …); pass text, numbers, booleans or null, and
 * cast in the statement (`$3::jsonb`).
 */
import type { Db, Tx } from './db.ts';

/** What drizzle's sessions keep as `client`: a postgres.js `sql` or a PGlite instance/transaction. */
interface DriverClient {
  unsafe?(text: string, params: unknown[]): PromiseLike<unknown[]>;
  query?(text: string, params: unknown[], options: object): Promise<{ rows: unknown[] }>;
}

const asText = (value: unknown) => value;

/** PGlite's result options as drizzle's raw `execute` uses them (date and time types as text). */
const PGLITE_RAW = {
  rowMode: 'object',
  // timestamp, timestamptz, interval, date and their arrays, numeric[]
  parsers: Object.fromEntries([1114, 1184, 1186, 1082, 1115, 1185, 1187, 1182, 1231].map((oid) => [oid, asText])),
};

/** Runs one statement of constant text on `db` (or inside the transaction `db`); its rows. */
export async function runStatement<T>(db: Db | Tx, text: string, params: ReadonlyArray<unknown>): Promise<T[]> {
  const client = (db as unknown as { session: { client: DriverClient } }).session.client;
  if (client.unsafe) return (await client.unsafe(text, params as unknown[])) as T[];
  const result = await client.query!(text, params as unknown[], PGLITE_RAW);
  return result.rows as T[];
}
