// The embedded database's thread: opens PGlite on workerData.dir and serves the PostgreSQL wire
// protocol to the daemon's thread (pglite-thread.ts), so no query runs on the event loop that
// answers HTTP. Plain JavaScript, so the worker needs no TypeScript loader.
//
// Messages in:  { type: 'data', id, bytes }  bytes a client wrote on connection `id`
//               { type: 'end', id }          the client closed connection `id`
//               { type: 'close' }            close the database cleanly, then exit
// Messages out: { type: 'ready' } | { type: 'failed', reason }  after opening
//               { type: 'data', id, bytes }  the database's answer, in order
//               { type: 'closed', id }       this side ended connection `id` (cancel request)
//               { type: 'fatal', reason }    the database threw; the thread exits next
//
// PGlite is one backend with one session: the client must use one connection at a time. Work
// is done strictly in arrival order, one execProtocolRaw at a time. PGlite is given complete
// messages only (a partial one brings the whole process down), framed here.
import { parentPort, workerData } from 'node:worker_threads';
import { PGlite } from '@electric-sql/pglite';

const PROTOCOL_3 = 196608;
const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;
const TERMINATE = 0x58; // 'X'

let db;
try {
  db = await PGlite.create(workerData.dir, { postgresqlconf: workerData.settings });
} catch (error) {
  parentPort.postMessage({ type: 'failed', reason: reasonOf(error) });
  process.exit(1);
}

/** Connection id → { pending: unread bytes, started: startup done, used: the session is touched }. */
const connections = new Map();
let work = Promise.resolve();

parentPort.on('message', (message) => {
  work = work.then(() => handle(message)).catch((error) => {
    // The database's state after a throw is unknown: end the thread, the daemon restarts it.
    parentPort.postMessage({ type: 'fatal', reason: reasonOf(error) });
    process.exit(1);
  });
});
parentPort.postMessage({ type: 'ready' });

async function handle(message) {
  if (message.type === 'data') return received(message.id, Buffer.from(message.bytes));
  if (message.type === 'end') return ended(message.id);
  if (message.type === 'close') {
    for (const id of [...connections.keys()]) await ended(id);
    await db.close();
    process.exit(0);
  }
}

async function received(id, bytes) {
  let connection = connections.get(id);
  if (!connection) connections.set(id, (connection = { pending: Buffer.alloc(0), started: false, used: false }));
  connection.pending = connection.pending.length > 0 ? Buffer.concat([connection.pending, bytes]) : bytes;
  while (!connection.started) {
    // Before the startup: int32 length, int32 code (no type byte).
    if (connection.pending.length < 8) return;
    const length = connection.pending.readInt32BE(0);
    if (connection.pending.length < length) return;
    const packet = connection.pending.subarray(0, length);
    connection.pending = connection.pending.subarray(length);
    const code = packet.readInt32BE(4);
    if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
      reply(id, Buffer.from('N'));
    } else if (code === CANCEL_REQUEST || code !== PROTOCOL_3) {
      // PGlite runs one statement at a time to its end: there is nothing to cancel.
      connections.delete(id);
      parentPort.postMessage({ type: 'closed', id });
      return;
    } else {
      // A new client of the one session: what an earlier one left open must not leak into it.
      for (const other of [...connections.keys()]) if (other !== id) await ended(other);
      connection.started = true;
      reply(id, await db.execProtocolRaw(packet));
    }
  }
  // Regular messages: type byte, int32 length (counting itself). Everything complete at once.
  let end = 0;
  let terminate = false;
  const pending = connection.pending;
  while (pending.length - end >= 5) {
    const size = 1 + pending.readInt32BE(end + 1);
    if (pending.length - end < size) break;
    if (pending[end] === TERMINATE) {
      terminate = true;
      break;
    }
    end += size;
  }
  if (end > 0) {
    connection.used = true;
    reply(id, await db.execProtocolRaw(pending.subarray(0, end)));
  }
  connection.pending = pending.subarray(end);
  // Terminate ends the connection, never the database.
  if (terminate) await ended(id);
}

/** Forgets connection `id`, and resets the session it used, as closing a PostgreSQL connection would. */
async function ended(id) {
  const connection = connections.get(id);
  connections.delete(id);
  if (!connection?.used) return;
  // Sync ends an extended-query sequence (and error recovery); then no transaction, no
  // prepared statements, no session locks or settings carry over to the next client.
  await db.execProtocolRaw(Buffer.concat([message('S', ''), message('Q', 'ROLLBACK'), message('Q', 'DISCARD ALL')]));
}

function message(type, text) {
  const body = text ? Buffer.from(`${text}\0`) : Buffer.alloc(0);
  const out = Buffer.alloc(5 + body.length);
  out[0] = type.charCodeAt(0);
  out.writeInt32BE(4 + body.length, 1);
  body.copy(out, 5);
  return out;
}

/** Posts an answer; its bytes are copied into a buffer of their own, which is transferred. */
function reply(id, bytes) {
  if (bytes.length === 0) return;
  const own = new Uint8Array(bytes);
  parentPort.postMessage({ type: 'data', id, bytes: own.buffer }, [own.buffer]);
}

/** What went wrong, without any query text or data (an error's name and first line). */
function reasonOf(error) {
  if (!(error instanceof Error)) return typeof error;
  return `${error.name}: ${String(error.message).split('\n', 1)[0].slice(0, 200)}`;
}
