// What test files import to reach the real servers that test/support/global-setup.ts started,
// plus small helpers for isolation (own database, own NATS prefix, own temp dir) and polling.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { inject } from 'vitest';
import { freePort as osFreePort } from '../../src/core/nats/ports.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Admin URL (database `postgres`, trust auth) of the run's PostgreSQL server. */
    omnibusTestPgUrl: string;
    /** URL of the run's nats-server, JetStream enabled. */
    omnibusTestNatsUrl: string;
  }
}

/** Lower-case letters and digits, `length` of them; safe in database names and NATS subjects. */
function randomId(length = 10): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  return Array.from(randomBytes(length), (byte) => alphabet[byte % alphabet.length]).join('');
}

/** The env var when set (also outside vitest, e.g. benchmarks), else what global-setup provided. */
function serviceUrl(envName: string, key: 'omnibusTestPgUrl' | 'omnibusTestNatsUrl'): string {
  const fromEnv = process.env[envName];
  if (fromEnv) return fromEnv;
  let provided: string | undefined;
  try {
    provided = inject(key);
  } catch {
    // Not inside a vitest worker: only the environment could have told us.
  }
  if (provided) return provided;
  throw new Error(`${envName} is not set: run tests through vitest (global setup starts the servers) or set it yourself`);
}

/** URL of the nats-server (JetStream) shared by the whole test run. */
export function natsUrl(): string {
  return serviceUrl('OMNIBUS_TEST_NATS_URL', 'omnibusTestNatsUrl');
}

/** Admin URL of the shared PostgreSQL server (database `postgres`); prefer {@link createTestDatabase}. */
export function adminDatabaseUrl(): string {
  return serviceUrl('OMNIBUS_TEST_PG_URL', 'omnibusTestPgUrl');
}

/** A database of one's own on the shared server. */
export interface TestDatabase {
  /** Connection URL of the new, empty database. */
  url: string;
  /** Drops the database, closing any connections still open to it. Idempotent. */
  drop(): Promise<void>;
}

/** Runs `work` on a short-lived admin connection. */
async function withAdmin<T>(work: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const sql = postgres(adminDatabaseUrl(), { max: 1, onnotice: () => {} });
  try {
    return await work(sql);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** Creates a fresh empty database `omnibus_t_<random>`, so test files can run in parallel. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `omnibus_t_${randomId(12)}`;
  await withAdmin((sql) => sql.unsafe(`create database ${name}`));
  const url = new URL(adminDatabaseUrl());
  url.pathname = `/${name}`;
  let dropped: Promise<void> | undefined;
  return {
    url: url.toString(),
    drop: () => {
      // `with (force)` (PostgreSQL 13+): a pool the test forgot to close must not fail the cleanup.
      dropped ??= withAdmin((sql) => sql.unsafe(`drop database if exists ${name} with (force)`)).then(() => undefined);
      return dropped;
    },
  };
}

/** A fresh NATS subject prefix (`t` + lower-case letters/digits) for `nats.prefix`, so parallel streams never collide. */
export function uniquePrefix(): string {
  return `t${randomId(10)}`;
}

/** A TCP port on 127.0.0.1 that is free right now. */
export function freePort(): Promise<number> {
  return osFreePort();
}

const tempDirs = new Set<string>();
process.once('exit', () => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

/**
 * A new empty directory, removed when the test process exits, and in any case with the run's
 * temp root (OMNIBUS_TEST_TMP, made by global-setup) when the run ends.
 */
export async function tempDir(): Promise<string> {
  const dir = mkdtempSync(join(process.env.OMNIBUS_TEST_TMP ?? tmpdir(), 'omnibus-test-'));
  tempDirs.add(dir);
  return dir;
}

/** Options for {@link waitFor}. */
export interface WaitForOptions {
  /** Give up after this long; default 5000 ms. */
  timeoutMs?: number;
  /** Pause between attempts; default 25 ms. */
  intervalMs?: number;
  /** What is being waited for, for the timeout error. */
  description?: string;
}

/**
 * Polls `predicate` until it returns a truthy value (which is returned). A predicate that throws
 * counts as "not yet"; on timeout the error names what was awaited and the last exception.
 */
export async function waitFor<T>(
  predicate: () => T | Promise<T>,
  options: WaitForOptions = {},
): Promise<NonNullable<T>> {
  const { timeoutMs = 5000, intervalMs = 25, description } = options;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await predicate();
      if (value) return value as NonNullable<T>;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) break;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  const what = description ?? (predicate.name || 'condition');
  const cause = lastError instanceof Error ? `; last error: ${lastError.message}` : '';
  throw new Error(`waitFor: ${what} not met within ${timeoutMs} ms${cause}`, { cause: lastError });
}
