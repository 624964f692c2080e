/**
 * A database of one's own on the shared PostgreSQL server, migrated and opened as the daemon
 * opens it, with a plain postgres.js client beside it for the test's own reads and writes: the
 * setup of the tests that drive one core component (relay, merge look-ups) without a daemon.
 */
import postgres from 'postgres';
import { pino } from 'pino';
import { openDatabase, type Database } from '../../src/core/storage/db.ts';
import { createTestDatabase } from './services.ts';

export interface MigratedTestDatabase {
  url: string;
  /** The daemon's own handle (drizzle over postgres.js). */
  db: Database;
  /** A separate client for the test's inserts and checks. */
  sql: postgres.Sql;
  /** Closes both and drops the database. */
  close(): Promise<void>;
}

export async function openMigratedTestDatabase(): Promise<MigratedTestDatabase> {
  const database = await createTestDatabase();
  const db = await openDatabase({ url: database.url, dataDir: '/nonexistent', logger: pino({ level: 'silent' }) });
  await db.migrate();
  const sql = postgres(database.url, { max: 4, onnotice: () => {} });
  return {
    url: database.url,
    db,
    sql,
    async close() {
      await sql.end({ timeout: 5 });
      await db.close();
      await database.drop();
    },
  };
}
