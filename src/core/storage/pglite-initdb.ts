/**
 * PGlite's first start runs initdb, and the memory that takes (about 450 MB of WebAssembly
 * heaps) stays with the process afterwards: the embedded daemon idled at 860 MB after its first
 * start. In a worker thread the WebAssembly heaps go when it exits, but the allocator keeps the
 * thread's arenas (about 100 MB more than on every later start). So a new data directory is
 * created in a short-lived child process, and the daemon then opens it like any other.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const INITDB = fileURLToPath(new URL('./pglite-initdb-child.mjs', import.meta.url));

/**
 * PostgreSQL settings of the embedded database. PGlite's default shared_buffers is 160 MB,
 * sized for a browser tab holding one app's data; the daemon's working set is far smaller, and
 * the operating system caches the data files below it anyway.
 */
export const PGLITE_SETTINGS = ['shared_buffers=8MB'];

/** Creates the PGlite data directory `dir` if it holds none yet. */
export async function ensurePgliteDataDir(dir: string): Promise<void> {
  if (existsSync(path.join(dir, 'PG_VERSION'))) return;
  // Plain node on a plain module: none of the daemon's loaders or flags.
  await new Promise<void>((resolve, reject) => {
    execFile(process.execPath, [INITDB, dir, ...PGLITE_SETTINGS], { env: process.env, maxBuffer: 1 << 20 }, (error, _stdout, stderr) => {
      if (!error) return resolve();
      const reason = String(stderr).trim().split('\n').at(-1)?.slice(0, 200) || `exit ${error.code ?? error.signal}`;
      reject(new Error(`creating the embedded database failed: ${reason}`));
    });
  });
}
