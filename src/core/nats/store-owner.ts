/**
 * One nats-server per JetStream store directory, whatever happened to the daemon before.
 *
 * Two servers on one store corrupt it, and a daemon killed with SIGKILL (or a watchdog killed
 * with it) can leave its server running. So a daemon that starts a local server first takes the
 * store's lock file (`omnibus-nats.lock`: the owner's pid and process start time, so a reused
 * pid is not mistaken for a live owner), refusing when a live process holds it, and then stops
 * every nats-server still running on that store: the one in the pid file nats-server writes
 * (`nats-server.pid`) and any other found in /proc. A process counts as such a server only when
 * its /proc/<pid>/cmdline is nats-server with `-sd` naming this directory, so an unrelated
 * process that inherited an old pid is never signalled. Linux only; elsewhere the check is a
 * no-op and the lock alone keeps two daemons apart.
 */
import { open, readFile, readdir, unlink } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import type { Logger } from 'pino';

export const LOCK_FILE = 'omnibus-nats.lock';
export const PID_FILE = 'nats-server.pid';

const TERM_GRACE_MS = 5_000;
const KILL_WAIT_MS = 5_000;

/** The store, held by this process until {@link StoreClaim.release}. */
export interface StoreClaim {
  /** Removes the lock file if it is still ours. Idempotent. */
  release(): Promise<void>;
}

interface LockContent {
  pid: number;
  /** Field 22 of /proc/<pid>/stat (clock ticks since boot), or null without /proc. */
  startTime: string | null;
}

/**
 * Takes the store's lock and stops any leftover nats-server on it; throws when another live
 * omnibus process holds the lock.
 */
export async function claimStore(storeDir: string, log: Logger): Promise<StoreClaim> {
  const dir = resolve(storeDir);
  const lockPath = join(dir, LOCK_FILE);
  const mine: LockContent = { pid: process.pid, startTime: await startTimeOf(process.pid) };
  for (let attempt = 0; ; attempt++) {
    try {
      const handle = await open(lockPath, 'wx');
      await handle.writeFile(`${JSON.stringify(mine)}\n`);
      await handle.close();
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 3) throw error;
    }
    const holder = await readLock(lockPath);
    if (holder && holder.pid !== process.pid && (await isAlive(holder))) {
      throw new Error(
        `the local NATS store ${dir} is in use by another omnibus process (pid ${holder.pid}); ` +
          'stop it first, or give this daemon its own dataDir',
      );
    }
    // Left by a daemon that died (or by this process): ours to take.
    await unlink(lockPath).catch(() => {});
  }

  await stopLeftoverServers(dir, log);
  await unlink(join(dir, PID_FILE)).catch(() => {});

  let released: Promise<void> | undefined;
  return {
    release() {
      released ??= (async () => {
        const holder = await readLock(lockPath);
        if (holder?.pid === process.pid) await unlink(lockPath).catch(() => {});
      })();
      return released;
    },
  };
}

/** Pids of the nats-server processes whose store directory is `storeDir` (Linux; empty elsewhere). */
export async function natsServersOn(storeDir: string): Promise<number[]> {
  const dir = resolve(storeDir);
  const entries = await readdir('/proc').catch(() => [] as string[]);
  const found: number[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (await isNatsServerOn(pid, dir)) found.push(pid);
  }
  return found;
}

/** True when `pid` is a running (not zombie) nats-server with `-sd storeDir`. */
export async function isNatsServerOn(pid: number, storeDir: string): Promise<boolean> {
  const raw = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => null);
  if (!raw) return false;
  const argv = raw.split('\0');
  if (basename(argv[0] ?? '') !== 'nats-server') return false;
  const flag = argv.findIndex((arg) => arg === '-sd' || arg === '--store_dir' || arg === '-store_dir');
  if (flag < 0 || argv[flag + 1] === undefined || resolve(argv[flag + 1]!) !== resolve(storeDir)) return false;
  return !(await isZombie(pid));
}

/** SIGTERM, then SIGKILL, to every nats-server still running on the store. */
async function stopLeftoverServers(dir: string, log: Logger): Promise<void> {
  const fromPidFile = Number((await readFile(join(dir, PID_FILE), 'utf8').catch(() => '')).trim());
  const candidates = new Set(await natsServersOn(dir));
  if (Number.isInteger(fromPidFile) && fromPidFile > 0 && (await isNatsServerOn(fromPidFile, dir))) candidates.add(fromPidFile);
  for (const pid of candidates) {
    log.warn({ serverPid: pid, storeDir: dir }, 'a nats-server from an earlier run still runs on the store; stopping it');
    signal(pid, 'SIGTERM');
    if (await gone(pid, dir, TERM_GRACE_MS)) continue;
    log.warn({ serverPid: pid }, 'the earlier nats-server ignored SIGTERM; killing it');
    signal(pid, 'SIGKILL');
    if (!(await gone(pid, dir, KILL_WAIT_MS))) throw new Error(`could not stop the earlier nats-server (pid ${pid}) on ${dir}`);
  }
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // Already gone.
  }
}

async function gone(pid: number, dir: string, withinMs: number): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  while (Date.now() < deadline) {
    if (!(await isNatsServerOn(pid, dir))) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return !(await isNatsServerOn(pid, dir));
}

async function readLock(path: string): Promise<LockContent | null> {
  try {
    const parsed = JSON.parse(await readFile(path, 'utf8')) as Partial<LockContent>;
    return typeof parsed.pid === 'number' ? { pid: parsed.pid, startTime: parsed.startTime ?? null } : null;
  } catch {
    return null;
  }
}

/** The lock holder still runs: same pid and, where /proc tells, the same process start time. */
async function isAlive(holder: LockContent): Promise<boolean> {
  try {
    process.kill(holder.pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  if (await isZombie(holder.pid)) return false;
  const now = await startTimeOf(holder.pid);
  return holder.startTime === null || now === null || now === holder.startTime;
}

async function statFields(pid: number): Promise<string[] | null> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
  if (!stat) return null;
  // The command name (field 2) is in parentheses and may itself contain spaces or parentheses.
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

async function startTimeOf(pid: number): Promise<string | null> {
  // After the name: field 3 (state) is index 0, so field 22 (starttime) is index 19.
  return (await statFields(pid))?.[19] ?? null;
}

async function isZombie(pid: number): Promise<boolean> {
  const state = (await statFields(pid))?.[0];
  return state === 'Z' || state === 'X';
}
