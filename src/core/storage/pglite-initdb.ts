/**
 * PGlite's first start runs initdb, and the memory that takes (about 450 MB of WebAssembly
 * heaps) stays with the process afterwards: the embedded daemon idled at 860 MB after its first
 * start, and at under 200 MB on every start after. So a new data directory is created in a
 * worker thread, whose heaps go when it exits, and the daemon then opens it like any other.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';

/**
 * PostgreSQL settings of the embedded database. PGlite's default shared_buffers is 160 MB,
 * sized for a browser tab holding one app's data; the daemon's working set is far smaller, and
 * the operating system caches the data files below it anyway.
 */
export const PGLITE_SETTINGS = ['shared_buffers=32MB'];

/** Creates the PGlite data directory `dir` if it holds none yet. */
export async function ensurePgliteDataDir(dir: string): Promise<void> {
  if (existsSync(path.join(dir, 'PG_VERSION'))) return;
  const worker = new Worker(new URL('./pglite-initdb-worker.mjs', import.meta.url), { workerData: { dir, settings: PGLITE_SETTINGS } });
  await new Promise<void>((resolve, reject) => {
    worker.once('error', reject);
    worker.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`creating the embedded database failed (worker exit ${code})`))));
  });
}
