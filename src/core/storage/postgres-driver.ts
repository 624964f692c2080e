/**
 * Loads postgres.js with fixes for defects of 3.4.9 (the latest release) that the fault tests
 * hit whenever PostgreSQL drops connections under load (restart, failover,
 * `pg_terminate_backend`, a proxy timing out):
 * - the automatic ROLLBACK of `begin` on a connection whose socket is gone schedules a write
 *   that throws from a `setImmediate`, where nothing can catch it: the daemon process dies;
 * - a write armed when the socket dies leaves that connection unable to ever send again: each
 *   later use stalls until `connect_timeout` and fails, for the life of the process;
 * - the query in flight at the close stays "current", so while the database refuses new
 *   connections, queries hang until it is back instead of failing (webhooks got no answer,
 *   where the contract wants a prompt 503).
 * Upstream: porsager/postgres#1066, #1154, #1208 (fix PRs #1168, #1176, #1209, unreleased).
 * One more change is for speed, not a defect: statements written in one turn leave in one write.
 *
 * The fixes are applied to the CommonJS build in memory, through `require.cache` (a documented
 * way to supply a module); node_modules stays untouched. When the source no longer matches (a
 * release with its own fix), the stock driver is loaded as it is and `fixed` is false. */
import { readFileSync } from 'node:fs';
import Module, { createRequire } from 'node:module';
import path from 'node:path';
import vm from 'node:vm';
import type postgresType from 'postgres';

/** [stock text, fixed text]; every stock text must occur for the fix to be applied. */
const FIXES: ReadonlyArray<readonly [string, string]> = [
  // A query on a connection whose socket is gone fails at once, and the connection stays where
  // the pool put it (returning true keeps `begin` from parking it in the "full" queue forever).
  [
    `    if (terminated)
      return queryError(q, Errors.connection('CONNECTION_DESTROYED', options))
`,
    `    if (terminated)
      return queryError(q, Errors.connection('CONNECTION_DESTROYED', options))

    if (!socket)
      return queryError(q, Errors.connection('CONNECTION_CLOSED', options)), true
`,
  ],
  // Defence in depth for any other late write: fail what waits on this connection rather than
  // throw where nobody catches (dropping the bytes alone would leave their query hanging).
  [
    `  function nextWrite(fn) {
    const x = socket.write(chunk, fn)`,
    `  function nextWrite(fn) {
    if (!socket)
      return chunk = nextWriteTimer = null, error(Errors.connection('CONNECTION_CLOSED', options)), false
    const x = socket.write(chunk, fn)`,
  ],
  // A cancelled write must also be forgotten, or the next socket of this connection never
  // flushes (the timer looks armed) and would first send stale bytes of the dead one.
  [
    `    clearImmediate(nextWriteTimer)
`,
    `    clearImmediate(nextWriteTimer)
    chunk = nextWriteTimer = null
`,
  ],
  // The query that was in flight when the socket closed has been rejected just above, but it
  // stays "current": the next socket of this connection then takes a FATAL startup error (the
  // database refusing connections) for that query's error and retries forever, so new queries
  // hang until PostgreSQL is back instead of failing and being answered 503.
  [
    `    !hadError && (query || sent.length) && error(Errors.connection('CONNECTION_CLOSED', options, socket))
`,
    `    !hadError && (query || sent.length) && error(Errors.connection('CONNECTION_CLOSED', options, socket))
    query = errorResponse = null
`,
  ],
  // Not a defect but a cost: a message of 1 KiB or more was written at once, so a transaction's
  // pipelined statements with large parameters (a batch's rows as one jsonb) took a `write`
  // syscall each instead of one for the turn. On a sandboxed box a syscall costs ~0.1 ms, and
  // socket writes were the largest single item of the daemon's CPU profile. Everything written
  // in one turn now goes out together at the end of the turn, up to 256 KiB at a time.
  [
    `    if (fn || chunk.length >= 1024)
      return nextWrite(fn)`,
    `    if (fn || chunk.length >= 262144)
      return nextWrite(fn)`,
  ],
];

/** The postgres.js factory, and whether the fixes above are in it. */
export interface LoadedDriver {
  postgres: typeof postgresType;
  fixed: boolean;
}

let loaded: LoadedDriver | null = null;

/** Returns postgres.js with the connection-loss fixes applied (loaded once per process). */
export function loadPostgresDriver(): LoadedDriver {
  loaded ??= load();
  return loaded;
}

function load(): LoadedDriver {
  const require = createRequire(import.meta.url);
  // The package's "default" export condition is its CommonJS build.
  const entry = require.resolve('postgres');
  const file = path.join(path.dirname(entry), 'connection.js');
  let fixed = false;
  if (!require.cache[entry] && !require.cache[file]) {
    const stock = readFileSync(file, 'utf8');
    if (FIXES.every(([from]) => stock.includes(from))) {
      const source = FIXES.reduce((text, [from, to]) => text.replaceAll(from, to), stock);
      const module = new Module(file);
      module.filename = file;
      const body = vm.compileFunction(source, ['exports', 'require', 'module', '__filename', '__dirname'], { filename: file });
      body.call(module.exports, module.exports, createRequire(file), module, file, path.dirname(file));
      module.loaded = true;
      require.cache[file] = module;
      fixed = true;
    }
  }
  return { postgres: require('postgres') as typeof postgresType, fixed };
}
