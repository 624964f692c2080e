/**
 * Opens the database: PostgreSQL through postgres.js when `database.url` is set, otherwise
 * the embedded PGlite in `dataDir`. Both run the same drizzle schema and migrations.
 */
import { fileURLToPath } from 'node:url';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { sql } from 'drizzle-orm';
import type { Logger } from 'pino';
import * as schema from './schema.ts';
import { loadPostgresDriver } from './postgres-driver.ts';
import { ensurePgliteDataDir, PGLITE_SETTINGS } from './pglite-initdb.ts';

/** The drizzle database, whichever driver is underneath. */
export type Db = PgDatabase<PgQueryResultHKT, typeof schema>;
/** A transaction handle (same query API as `Db`). */
export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];

/** An open database with its lifecycle. */
export interface Database {
  db: Db;
  kind: 'postgres' | 'pglite';
  /** Cheap liveness probe for /readyz. */
  ping(): Promise<boolean>;
  migrate(): Promise<void>;
  close(): Promise<void>;
}

const MIGRATIONS = fileURLToPath(new URL('../../../drizzle', import.meta.url));
/** Arbitrary constant: serialises migrations when several replicas start at once. */
const MIGRATION_LOCK = 4_242_001;

/** Opens PostgreSQL (url) or PGlite (dataDir/pglite). */
export async function openDatabase(options: { url: string | null; dataDir: string; logger: Logger; poolSize?: number }): Promise<Database> {
  if (options.url) return openPostgres(options.url, options.logger, options.poolSize ?? 20);
  return openPglite(path.join(options.dataDir, 'pglite'), options.logger);
}

async function openPostgres(url: string, logger: Logger, poolSize: number): Promise<Database> {
  const { postgres, fixed } = loadPostgresDriver();
  if (!fixed) logger.warn({ component: 'db' }, 'postgres.js loaded without the connection-loss fix (already loaded, or a version it does not recognise)');
  const { drizzle } = await import('drizzle-orm/postgres-js');
  const { migrate } = await import('drizzle-orm/postgres-js/migrator');
  const client = postgres(url, {
    max: poolSize,
    onnotice: () => {},
    connect_timeout: 10,
    // Keep the pool healthy across a PostgreSQL restart: idle sockets are recycled.
    idle_timeout: 30,
    max_lifetime: 60 * 30,
  });
  // drizzle asks postgres.js for unnamed statements, and postgres.js then needs two round trips
  // for each statement with parameters (describe, then execute). Named (prepared) statements
  // are described once per connection and then cost one round trip. The statement texts are a
  // bounded set (drizzle builds the same text for the same query shape), and connections are
  // recycled (idle_timeout, max_lifetime), which bounds what each one keeps prepared.
  // Transactions get their own `sql` from `begin`: prepared the same way.
  preparing(client);
  const begin = client.begin.bind(client);
  (client as { begin: unknown }).begin = (...args: unknown[]) => {
    type Scoped = { unsafe: (...args: never[]) => unknown };
    const work = args[args.length - 1] as (sql: Scoped) => unknown;
    return (begin as (...a: unknown[]) => unknown)(...args.slice(0, -1), (sql: Scoped) => work(preparing(sql)));
  };
  const db = drizzle(client, { schema }) as unknown as Db;
  return {
    db,
    kind: 'postgres',
    async ping() {
      try {
        await client`select 1`;
        return true;
      } catch {
        return false;
      }
    },
    async migrate() {
      const lock = await client.reserve();
      try {
        await lock`select pg_advisory_lock(${MIGRATION_LOCK})`;
        await migrate(db as never, { migrationsFolder: MIGRATIONS });
        logger.info({ component: 'db' }, 'migrations applied');
      } finally {
        await lock`select pg_advisory_unlock(${MIGRATION_LOCK})`.catch(() => {});
        lock.release();
      }
    },
    async close() {
      await client.end({ timeout: 5 });
    },
  };
}

/** Makes `sql.unsafe` (what drizzle calls) use named statements; returns `sql`. */
function preparing<T extends { unsafe: (...args: never[]) => unknown }>(sql: T): T {
  const unsafe = sql.unsafe.bind(sql) as (query: string, params?: unknown[], options?: object) => unknown;
  (sql as { unsafe: unknown }).unsafe = (query: string, params?: unknown[], options?: object) => unsafe(query, params, { ...options, prepare: true });
  return sql;
}

async function openPglite(dir: string, logger: Logger): Promise<Database> {
  await mkdir(dir, { recursive: true });
  const { PGlite } = await import('@electric-sql/pglite');
  const { drizzle } = await import('drizzle-orm/pglite');
  const { migrate } = await import('drizzle-orm/pglite/migrator');
  await ensurePgliteDataDir(dir);
  const client = await PGlite.create(dir, { postgresqlconf: PGLITE_SETTINGS });
  const db = drizzle(client, { schema }) as unknown as Db;
  return {
    db,
    kind: 'pglite',
    async ping() {
      try {
        await db.execute(sql`select 1`);
        return true;
      } catch {
        return false;
      }
    },
    async migrate() {
      await migrate(db as never, { migrationsFolder: MIGRATIONS });
      logger.info({ component: 'db' }, 'migrations applied');
    },
    async close() {
      await client.close();
    },
  };
}

export { schema };
