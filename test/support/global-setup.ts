// Starts one real PostgreSQL server and one real nats-server (JetStream) for the whole test run,
// hands their URLs to the test files, and removes every trace afterwards, also when interrupted.
//
// Tests read the URLs through test/support/services.ts. Set OMNIBUS_TEST_PG_URL (admin URL to the
// `postgres` database) and/or OMNIBUS_TEST_NATS_URL to use servers of your own; nothing is started for them.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { pino } from 'pino';
import postgres from 'postgres';
import type { TestProject } from 'vitest/node';
import { startLocalNatsServer } from '../../src/core/nats/local-server.ts';
import { freePort } from '../../src/core/nats/ports.ts';
// Declares the ProvidedContext keys passed to project.provide() below.
import type {} from './services.ts';

/** A server started for the run. */
export interface TestServer {
  url: string;
  /** Graceful stop (SIGTERM/SIGINT, SIGKILL after 5 s), then its temp dir is removed. Idempotent. */
  stop(): Promise<void>;
}

const STOP_GRACE_MS = 5_000;
const PG_READY_TIMEOUT_MS = 30_000;

// Synchronous last-resort cleanups (kill a child, remove a dir), registered the moment a resource
// exists, so an interrupt even halfway through startup leaves nothing behind. Vitest answers Ctrl-C
// by exiting without calling teardown; only `exit` and signal handlers get a chance to run.
const emergencyCleanups = new Set<() => void>();

/** Runs every pending emergency cleanup once. */
function cleanUpNow(): void {
  for (const cleanup of emergencyCleanups) {
    emergencyCleanups.delete(cleanup);
    try {
      cleanup();
    } catch (error) {
      process.stderr.write(`test cleanup failed: ${error instanceof Error ? error.message : String(error)}\n`);
    }
  }
}

/** Removes a temp dir; retries because a just-killed server may still be closing files in it. */
function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
}

/** Directory with initdb and postgres: the highest /usr/lib/postgresql/<version>/bin, else PATH. */
export function findPostgresBin(): string {
  const base = '/usr/lib/postgresql';
  if (existsSync(base)) {
    const versions = readdirSync(base)
      .filter((name) => /^\d+(\.\d+)?$/.test(name) && existsSync(join(base, name, 'bin', 'initdb')))
      .sort((a, b) => Number(b) - Number(a));
    if (versions[0]) return join(base, versions[0], 'bin');
  }
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'postgres'))) return dir;
  }
  throw new Error(
    'PostgreSQL server binaries (initdb, postgres) not found. Run `node scripts/setup.mjs --for-tests`, ' +
      'install the `postgresql` package, or set OMNIBUS_TEST_PG_URL to an existing server.',
  );
}

/** uid/gid to run PostgreSQL as: the `postgres` system user when we are root (it refuses root), else ourselves. */
function postgresIdentity(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const uid = Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout.trim());
  const gid = Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim());
  if (!Number.isInteger(uid) || !Number.isInteger(gid) || uid <= 0) {
    throw new Error('running as root, but there is no `postgres` system user to run PostgreSQL as');
  }
  return { uid, gid };
}

/** Keeps the last lines a child printed, for error messages; also drains its pipes so it never blocks. */
function captureOutput(child: ChildProcess, keep = 30): string[] {
  const lines: string[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    stream?.setEncoding('utf8');
    stream?.on('data', (chunk: string) => {
      lines.push(...chunk.split('\n').filter((line) => line.trim()));
      lines.splice(0, Math.max(0, lines.length - keep));
    });
  }
  return lines;
}

/**
 * Starts a throwaway PostgreSQL cluster (trust auth, fsync off) on a free port of 127.0.0.1.
 * `durable`: fsync, synchronous_commit and full_page_writes on, as in production (the bench).
 * `settings`: more server settings (a profile's `shared_preload_libraries`, say).
 */
export async function startTestPostgres(options: { durable?: boolean; settings?: Record<string, string> } = {}): Promise<TestServer> {
  const bin = findPostgresBin();
  const identity = postgresIdentity();
  const dir = mkdtempSync(join(tmpdir(), 'omnibus-test-pg-'));
  const dataDir = join(dir, 'data');
  let child: ChildProcess | undefined;
  const alive = (): boolean => child !== undefined && child.exitCode === null && child.signalCode === null;
  const killNow = (): void => {
    if (alive() && child?.pid) {
      try {
        // The whole process group: the postmaster and every backend it forked.
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // Gone between the check and the kill: nothing left to stop.
      }
    }
    removeDir(dir);
  };
  emergencyCleanups.add(killNow);

  try {
    if (identity) chownSync(dir, identity.uid, identity.gid);
    const init = spawnSync(
      join(bin, 'initdb'),
      ['-D', dataDir, '--auth=trust', '-U', 'postgres', '--encoding=UTF8', '--no-locale', '--no-sync'],
      { encoding: 'utf8', ...identity },
    );
    if (init.status !== 0) {
      throw new Error(`initdb failed (${init.error?.message ?? `exit ${init.status}`}):\n${init.stdout}${init.stderr}`);
    }
    const port = await freePort();
    const settings = {
      listen_addresses: '127.0.0.1',
      fsync: options.durable ? 'on' : 'off',
      synchronous_commit: options.durable ? 'on' : 'off',
      full_page_writes: options.durable ? 'on' : 'off',
      max_connections: '300',
      shared_buffers: '128MB',
      ...options.settings,
    };
    const args = ['-D', dataDir, '-p', String(port), '-k', dir];
    for (const [name, value] of Object.entries(settings)) args.push('-c', `${name}=${value}`);
    // Own process group, so killNow() reaches the backends too, and a Ctrl-C meant for vitest does
    // not make PostgreSQL exit under the tests' feet before teardown.
    child = spawn(join(bin, 'postgres'), args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true, ...identity });
    const output = captureOutput(child);
    const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
    await waitForPostgres(url, alive, output);

    const running = child;
    const exited = new Promise<void>((resolve) => {
      if (!alive()) resolve();
      else running.once('exit', () => resolve());
    });
    let stopped: Promise<void> | undefined;
    const stop = (): Promise<void> => {
      stopped ??= (async () => {
        if (alive()) {
          // SIGTERM is PostgreSQL's "smart" shutdown, which waits for clients; SIGINT ("fast") does not.
          running.kill('SIGINT');
          const timer = setTimeout(() => killNow(), STOP_GRACE_MS);
          await exited;
          clearTimeout(timer);
        }
        removeDir(dir);
        emergencyCleanups.delete(killNow);
      })();
      return stopped;
    };
    return { url, stop };
  } catch (error) {
    killNow();
    emergencyCleanups.delete(killNow);
    throw error;
  }
}

/** Resolves once `select 1` works on `url`; fails early with the server's output if it died. */
async function waitForPostgres(url: string, alive: () => boolean, output: string[]): Promise<void> {
  const deadline = Date.now() + PG_READY_TIMEOUT_MS;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (!alive()) break;
    const sql = postgres(url, { max: 1, connect_timeout: 2, onnotice: () => {} });
    try {
      await sql`select 1`;
      return;
    } catch (error) {
      lastError = error;
    } finally {
      await sql.end({ timeout: 1 });
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const reason = alive() ? `not ready within ${PG_READY_TIMEOUT_MS} ms` : 'postgres exited';
  const detail = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
  throw new Error(`test PostgreSQL did not start: ${reason}${detail}. Its last output:\n${output.join('\n')}`);
}

/** Starts nats-server with JetStream on a free port, its store in a temp dir. */
export async function startTestNats(): Promise<TestServer> {
  const dir = mkdtempSync(join(tmpdir(), 'omnibus-test-nats-'));
  // startLocalNatsServer's watchdog stops the server when this process exits; the dir is ours to remove.
  const removeStore = (): void => removeDir(dir);
  emergencyCleanups.add(removeStore);
  // Only problems are worth showing during a test run.
  const logger = pino({ level: 'warn' }, pino.destination(2));
  try {
    const server = await startLocalNatsServer({ storeDir: dir, logger, port: await freePort() });
    return {
      url: server.url,
      stop: async () => {
        await server.stop();
        removeStore();
        emergencyCleanups.delete(removeStore);
      },
    };
  } catch (error) {
    removeStore();
    emergencyCleanups.delete(removeStore);
    throw error;
  }
}

/** On SIGINT/SIGTERM: clean up, then exit like Node would if nobody else (vitest) handles the signal. */
function onSignal(signal: NodeJS.Signals): void {
  cleanUpNow();
  if (process.listenerCount(signal) === 0) process.exit(128 + (signal === 'SIGINT' ? 2 : 15));
}

/** Runs once before all test files; returns the teardown vitest calls after the last one. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  process.on('exit', cleanUpNow);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  // Parent of every tempDir() the test files make: vitest ends its workers with a signal, so their
  // own exit hooks may never run; removing this at the end catches whatever they leave.
  const runTmp = mkdtempSync(join(tmpdir(), 'omnibus-test-run-'));
  const removeRunTmp = (): void => removeDir(runTmp);
  emergencyCleanups.add(removeRunTmp);

  const given = { pg: process.env.OMNIBUS_TEST_PG_URL, nats: process.env.OMNIBUS_TEST_NATS_URL };
  const started = await Promise.allSettled([
    given.pg ? undefined : startTestPostgres(),
    given.nats ? undefined : startTestNats(),
  ]);
  const servers = started.flatMap((result) => (result.status === 'fulfilled' && result.value ? [result.value] : []));
  const failure = started.find((result) => result.status === 'rejected');
  const pgUrl = given.pg ?? servers.find((server) => server.url.startsWith('postgres'))?.url;
  const natsUrl = given.nats ?? servers.find((server) => server.url.startsWith('nats'))?.url;
  if (failure || !pgUrl || !natsUrl) {
    cleanUpNow();
    throw failure?.reason ?? new Error('a test server was neither given nor started');
  }

  // Forked test workers inherit the environment; inject() serves code that prefers vitest's API.
  process.env.OMNIBUS_TEST_PG_URL = pgUrl;
  process.env.OMNIBUS_TEST_NATS_URL = natsUrl;
  process.env.OMNIBUS_TEST_TMP = runTmp;
  project.provide('omnibusTestPgUrl', pgUrl);
  project.provide('omnibusTestNatsUrl', natsUrl);

  return async () => {
    await Promise.all(servers.map((server) => server.stop()));
    removeRunTmp();
    emergencyCleanups.delete(removeRunTmp);
    process.off('exit', cleanUpNow);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    // Restore, so a second setup in the same process (watch mode) starts fresh servers again.
    delete process.env.OMNIBUS_TEST_TMP;
    for (const [name, value] of [['OMNIBUS_TEST_PG_URL', given.pg], ['OMNIBUS_TEST_NATS_URL', given.nats]] as const) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  };
}
