/**
 * Opens the database: PostgreSQL through postgres.js when `database.url` is set, otherwise
 * the embedded PGlite in `dataDir`, in a worker thread that postgres.js reaches through an
 * in-process socket. Both run the same driver, drizzle schema and migrations.
 */
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import type { Logger } from 'pino';
import * as schema from './schema.ts';
import { loadPostgresDriver } from './postgres-driver.ts';
import { ensurePgliteDataDir } from './pglite-initdb.ts';
import { PgliteThread } from './pglite-thread.ts';

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
export async function openDatabase(options: {
  url: string | null;
  dataDir: string;
  logger: Logger;
  poolSize?: number;
  /** PGlite: how long after its thread died a new one may be started (default 5 s). */
  pgliteRestartDelayMs?: number;
}): Promise<Database> {
  if (options.url) return openPostgres(options.url, options.logger, options.poolSize ?? 20);
  return openPglite(path.join(options.dataDir, 'pglite'), options.logger, options.pgliteRestartDelayMs);
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
  preparingAll(client);
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

/** Named statements for `client` and for the `sql` each transaction gets from `begin`. */
function preparingAll(client: { unsafe: (...args: never[]) => unknown; begin: unknown }): void {
  preparing(client);
  const begin = (client.begin as (...a: unknown[]) => unknown).bind(client);
  client.begin = (...args: unknown[]) => {
    type Scoped = { unsafe: (...args: never[]) => unknown };
    const work = args[args.length - 1] as (sql: Scoped) => unknown;
    return begin(...args.slice(0, -1), (sql: Scoped) => work(preparing(sql)));
  };
}

/** Makes `sql.unsafe` (what drizzle calls) use named statements; returns `sql`. */
function preparing<T extends { unsafe: (...args: never[]) => unknown }>(sql: T): T {
  const unsafe = sql.unsafe.bind(sql) as (query: string, params?: unknown[], options?: object) => unknown;
  (sql as { unsafe: unknown }).unsafe = (query: string, params?: unknown[], options?: object) => unsafe(query, params, { ...options, prepare: true });
  return sql;
}

/**
 * The embedded PGlite, in a thread of its own (pglite-thread.ts) behind postgres.js: the same
 * driver, prepared statements and migrator as PostgreSQL, over one connection (PGlite is one
 * session).
 */
async function openPglite(dir: string, logger: Logger, restartDelayMs?: number): Promise<Database> {
  const { postgres, fixed } = loadPostgresDriver();
  if (!fixed) logger.warn({ component: 'db' }, 'postgres.js loaded without the connection-loss fix (already loaded, or a version it does not recognise)');
  const { drizzle } = await import('drizzle-orm/postgres-js');
  const { migrate } = await import('drizzle-orm/postgres-js/migrator');
  await ensurePgliteDataDir(dir);
  const thread = await PgliteThread.start(dir, logger, restartDelayMs === undefined ? {} : { restartDelayMs });
  // `socket` is a documented option that the type definitions lack: passed as a variable.
  const options = {
    socket: thread.socket,
    // Names in errors ("write CONNECTION_CLOSED pglite"); no host, port or TLS is involved.
    path: 'pglite',
    user: 'postgres',
    database: 'postgres',
    ssl: false,
    max: 1,
    onnotice: () => {},
    // The connection stays for the life of the daemon: a new one would only reset the session.
    // It keeps its statements prepared; their texts are a bounded set (see openPostgres).
    idle_timeout: 0,
    max_lifetime: 0,
    // No waiting between attempts after a failure: the thread spaces its own restarts, and a
    // query (the /readyz ping) meanwhile fails at once instead of waiting up to 20 s to.
    backoff: () => 0,
  };
  const client = postgres(options);
  preparingAll(client);
  const db = drizzle(client, { schema }) as unknown as Db;
  const database: Database = {
    db,
    kind: 'pglite',
    async ping() {
      try {
        await client`select 1`;
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
      await client.end({ timeout: 5 }).catch(() => {});
      await thread.close();
    },
  };
  threads.set(database, thread);
  return database;
}

const threads = new WeakMap<Database, PgliteThread>();

/** The thread of an embedded database (tests stop its worker to see a crash handled). */
export function pgliteThreadOf(database: Database): PgliteThread | undefined {
  return threads.get(database);
}

export { schema };
