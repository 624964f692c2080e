/**
 * The postgres.js fix of src/core/storage/postgres-driver.ts, against the real server: when
 * PostgreSQL terminates the pool's connections with transactions in flight and then refuses
 * new ones for a while, every query settles (nothing is thrown where no caller can catch it),
 * queries during the outage fail at once instead of hanging, and the pool works again as soon
 * as the database does. The stock 3.4.9 driver fails all three.
 */
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPostgresDriver } from '../../src/core/storage/postgres-driver.ts';
import { adminDatabaseUrl, createTestDatabase, type TestDatabase } from '../support/services.ts';

/** 'ok' or the error code (or message) a query settled with. */
function outcome(query: Promise<unknown>): Promise<string> {
  return query.then(
    () => 'ok',
    (error: { code?: string; message?: string }) => error.code ?? error.message ?? 'error',
  );
}

describe('postgres.js with the connection-loss fix', () => {
  let database: TestDatabase;
  let admin: postgres.Sql;
  let name: string;

  beforeAll(async () => {
    database = await createTestDatabase();
    name = new URL(database.url).pathname.slice(1);
    admin = postgres(adminDatabaseUrl(), { max: 1, onnotice: () => {} });
  });
  afterAll(async () => {
    await admin?.unsafe(`alter database ${name} with allow_connections true`).catch(() => {});
    await admin?.end({ timeout: 5 });
    await database?.drop();
  });

  it('settles transactions cut by pg_terminate_backend, fails fast while refused, and recovers at once', { timeout: 60_000 }, async () => {
    const driver = loadPostgresDriver();
    expect(driver.fixed).toBe(true);
    const sql = driver.postgres(database.url, { max: 4, onnotice: () => {}, connect_timeout: 10 });
    try {
      await sql`create table t (id int)`;
      const transactions = Array.from({ length: 4 }, (_, i) =>
        outcome(
          sql.begin(async (tx) => {
            await tx`insert into t values (${i})`;
            await tx`select pg_sleep(5)`;
          }),
        ),
      );
      // All four are inside pg_sleep on their own connection when the backends are terminated.
      const sleeping = async () => (await admin`select count(*)::int as n from pg_stat_activity where datname = ${name} and query like '%pg_sleep%' and state = 'active'`)[0]!.n as number;
      for (let deadline = Date.now() + 10_000; (await sleeping()) < 4; ) {
        if (Date.now() > deadline) throw new Error('transactions never reached pg_sleep');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      await admin.unsafe(`alter database ${name} with allow_connections false`);
      await admin`select pg_terminate_backend(pid) from pg_stat_activity where datname = ${name} and pid <> pg_backend_pid()`;

      expect(await Promise.all(transactions)).toEqual(new Array(4).fill('CONNECTION_CLOSED'));
      // 55000: "database is not currently accepting connections", at once rather than a hang.
      expect(await outcome(sql`select 1`)).toBe('55000');

      await admin.unsafe(`alter database ${name} with allow_connections true`);
      expect(await Promise.all(Array.from({ length: 8 }, () => outcome(sql`select 1`)))).toEqual(new Array(8).fill('ok'));
      expect((await sql`select count(*)::int as n from t`)[0]!.n).toBe(0);
    } finally {
      await sql.end({ timeout: 1 });
    }
  });
});
