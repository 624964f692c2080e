/**
 * PGlite's first start runs initdb, and the memory that takes (about 450 MB of WebAssembly
 * heaps) stays with the process afterwards: the embedded daemon idled at 860 MB after its first
 * start. In a worker thread the WebAssembly heaps go when it exits, but the allocator keeps the
 * thread's arenas (about 100 MB more than on every later start). So a new data directory is
 * created in a short-lived child process, and the daemon then opens it like any other.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const INITDB = fileURLToPath(new URL('./pglite-initdb-child.mjs', import.meta.url));

/**
 * PostgreSQL settings of the embedded database. PGlite's default shared_buffers is 160 MB,
 * sized for a browser tab holding one app's data; the daemon's working set is far smaller, and
 * the operating system caches the data files below it anyway.
 */
export const PGLITE_SETTINGS = ['shared_buffers=8MB'];

/** How long creating a data directory may take before it counts as failed. */
const INITDB_TIMEOUT_MS = 180_000;

/**
 * Creates the PGlite data directory `dir` (and its parents) if it holds no database yet.
 * It is built beside `dir` and renamed into place, so a start killed midway leaves no
 * half-made database for the next start to open; a `dir` that is a mount point of its own
 * cannot be renamed onto and is filled where it is.
 */
export async function ensurePgliteDataDir(dir: string): Promise<void> {
  if (existsSync(path.join(dir, 'PG_VERSION'))) return;
  await mkdir(dir, { recursive: true });
  const mounted = (await stat(dir)).dev !== (await stat(path.dirname(dir))).dev;
  if (mounted) return runInitdb(dir);
  const staging = `${dir}.creating`;
  // What a start killed during its initdb left behind.
  await rm(staging, { recursive: true, force: true });
  await runInitdb(staging);
  try {
    await rename(staging, dir);
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    const code = (error as NodeJS.ErrnoException).code;
    throw new Error(`creating the embedded database failed: ${code === 'ENOTEMPTY' || code === 'EEXIST' ? `${dir} is not empty and holds no database` : (code ?? 'rename failed')}`);
  }
}

/** Runs initdb on `dir` in a child process: plain node on a plain module, none of the daemon's loaders. */
function runInitdb(dir: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    execFile(process.execPath, [INITDB, dir, ...PGLITE_SETTINGS], { env: process.env, maxBuffer: 1 << 20, timeout: INITDB_TIMEOUT_MS }, (error, _stdout, stderr) => {
      if (!error) return resolve();
      const reason = error.killed ? `no answer within ${INITDB_TIMEOUT_MS / 1000} s` : String(stderr).trim().split('\n').at(-1)?.slice(0, 200) || `exit ${error.code ?? error.signal}`;
      reject(new Error(`creating the embedded database failed: ${reason}`));
    });
  });
}
