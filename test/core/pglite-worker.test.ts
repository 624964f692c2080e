/**
 * The embedded database in its worker thread, behind postgres.js: pipelined prepared statements,
 * an error in the middle of a pipeline, a rolled-back transaction, data across close and
 * reopen, messages split at any byte, a connection's session reset when it ends, and a worker
 * that dies: queries fail and the ping says not ready, this process carries on, and a new
 * worker is started on the same data afterwards.
 */
import { cp } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { sql } from 'drizzle-orm';
import { pino } from 'pino';
import { beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, pgliteThreadOf, type Database } from '../../src/core/storage/db.ts';
import { rowsOf } from '../../src/core/storage/lease.ts';
import { ensurePgliteDataDir } from '../../src/core/storage/pglite-initdb.ts';
import { PgliteThread, type ThreadSocket } from '../../src/core/storage/pglite-thread.ts';
import { tempDir, waitFor } from '../support/services.ts';

const silent = pino({ level: 'silent' });

/** One new data directory made by initdb (seconds of work), copied for each test. */
let template = '';
beforeAll(async () => {
  template = path.join(await tempDir(), 'pglite');
  await ensurePgliteDataDir(template);
});

/** A daemon data directory holding a new, empty embedded database. */
async function freshDataDir(): Promise<string> {
  const dataDir = await tempDir();
  await cp(template, path.join(dataDir, 'pglite'), { recursive: true });
  return dataDir;
}

/** A logger whose lines are kept. */
function recordingLogger(): { logger: pino.Logger; lines: string[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  return { logger: pino({ level: 'info' }, sink), lines };
}

async function opened(options: { dataDir?: string; restartDelayMs?: number; logger?: pino.Logger } = {}): Promise<{ database: Database; dataDir: string }> {
  const dataDir = options.dataDir ?? (await freshDataDir());
  const database = await openDatabase({ url: null, dataDir, logger: options.logger ?? silent, ...(options.restartDelayMs === undefined ? {} : { pgliteRestartDelayMs: options.restartDelayMs }) });
  await database.migrate();
  return { database, dataDir };
}

const count = async (database: Database, holder: string) =>
  rowsOf<{ n: number }>(await database.db.execute(sql`select count(*)::int as n from leases where holder = ${holder}`))[0]!.n;

describe('PGlite in a worker thread', () => {
  it('answers pipelined prepared statements, each with its own parameters', async () => {
    const { database } = await opened();
    try {
      // Prepared by the first use; the next ones go out together, several per write.
      expect(rowsOf(await database.db.execute(sql`select ${1}::int * 2 as n, ${'a'}::text as s`))).toEqual([{ n: 2, s: 'a' }]);
      const results = await Promise.all(Array.from({ length: 60 }, (_, i) => database.db.execute(sql`select ${i}::int * 2 as n, ${`v${i}`}::text as s`)));
      expect(results.map((r) => rowsOf(r)[0])).toEqual(Array.from({ length: 60 }, (_, i) => ({ n: i * 2, s: `v${i}` })));
    } finally {
      await database.close();
    }
  });

  it('fails only the statement that errs in a pipeline; the next one on the connection succeeds', async () => {
    const { database } = await opened();
    try {
      await database.db.execute(sql`select ${1}::int / ${1}::int as q`);
      const [before, bad, after] = await Promise.allSettled([
        database.db.execute(sql`select ${6}::int / ${3}::int as q`),
        database.db.execute(sql`select ${1}::int / ${0}::int as q`),
        database.db.execute(sql`select ${9}::int / ${3}::int as q`),
      ]);
      expect(before.status === 'fulfilled' && rowsOf(before.value)).toEqual([{ q: 2 }]);
      expect(bad.status).toBe('rejected');
      // drizzle wraps the driver's error.
      expect((bad as PromiseRejectedResult).reason).toMatchObject({ cause: { code: '22012' } });
      expect(after.status === 'fulfilled' && rowsOf(after.value)).toEqual([{ q: 3 }]);
      expect(await database.ping()).toBe(true);
    } finally {
      await database.close();
    }
  });

  it('rolls a failed transaction back and keeps the connection usable', async () => {
    const { database } = await opened();
    try {
      await expect(
        database.db.transaction(async (tx) => {
          await tx.execute(sql`insert into leases (name, holder, expires_at) values ('rolled', 'tx', now())`);
          throw new Error('undo');
        }),
      ).rejects.toThrow('undo');
      expect(await count(database, 'tx')).toBe(0);
      await database.db.transaction(async (tx) => {
        await tx.execute(sql`insert into leases (name, holder, expires_at) values ('kept', 'tx', now())`);
      });
      expect(await count(database, 'tx')).toBe(1);
    } finally {
      await database.close();
    }
  });

  it('keeps committed data across a close and a reopen', async () => {
    const first = await opened();
    await first.database.db.execute(sql`insert into leases (name, holder, expires_at) values ('durable', 'reopen', now())`);
    await first.database.close();
    const again = await opened({ dataDir: first.dataDir });
    try {
      expect(await count(again.database, 'reopen')).toBe(1);
    } finally {
      await again.database.close();
    }
  });

  it('frames messages split at any byte, and resets the session when a connection ends', async () => {
    const dir = path.join(await freshDataDir(), 'pglite');
    const thread = await PgliteThread.start(dir, silent);
    try {
      const first = await connect(thread);
      // One byte per write: the worker must hand PGlite whole messages only.
      const answer = first.next();
      for (const byte of query('select 40 + 2 as n')) first.socket.write(Uint8Array.of(byte));
      expect(dataRows(await answer)).toEqual(['42']);
      // A transaction left open, then Terminate: the database stays, the session is reset.
      expect(readyState(await first.send(query('begin; create table left_open (x int)')))).toBe('T');
      first.socket.end(Buffer.from([0x58, 0, 0, 0, 4]));
      const second = await connect(thread);
      const reply = await second.send(query("select count(*) from pg_tables where tablename = 'left_open'"));
      expect(dataRows(reply)).toEqual(['0']);
      expect(readyState(reply)).toBe('I');
      second.socket.end();
    } finally {
      await thread.close();
    }
  });

  it('survives its worker dying: queries fail, ping is false, a new worker starts later on the same data', async () => {
    const { logger, lines } = recordingLogger();
    const { database, dataDir } = await opened({ restartDelayMs: 60_000, logger });
    await database.db.execute(sql`insert into leases (name, holder, expires_at) values ('secret-payload', 'crash', now())`);
    const inFlight = database.db.execute(sql`select count(*) from generate_series(1, ${50_000_000}::int)`);
    await new Promise((resolve) => setTimeout(resolve, 50));
    await pgliteThreadOf(database)!.current!.terminate();
    await expect(inFlight).rejects.toThrow();
    expect(await database.ping()).toBe(false);
    await expect(database.db.execute(sql`select 1`)).rejects.toMatchObject({ cause: { message: expect.stringMatching(/embedded database stopped/) } });
    const logged = lines.filter((line) => line.includes('thread stopped'));
    expect(logged).toHaveLength(1);
    expect(logged[0]).not.toContain('secret-payload');
    await database.close();

    // Restarted on the next use once the delay is over (0 here), with its data.
    const { database: again } = await opened({ dataDir, restartDelayMs: 0 });
    try {
      await pgliteThreadOf(again)!.current!.terminate();
      await waitFor(() => again.ping(), { timeoutMs: 60_000, description: 'the embedded database back' });
      expect(await count(again, 'crash')).toBe(1);
    } finally {
      await again.close();
    }
  });
});

/** A raw wire-protocol connection to the thread: `send` writes and resolves with the answer up to ReadyForQuery. */
async function connect(thread: PgliteThread): Promise<{ socket: ThreadSocket; send(bytes: Buffer): Promise<Buffer>; next(): Promise<Buffer> }> {
  const socket = await thread.socket();
  let buffered = Buffer.alloc(0);
  let waiting: ((bytes: Buffer) => void) | null = null;
  socket.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    const end = readyEnd(buffered);
    if (end > 0 && waiting) {
      const answer = buffered.subarray(0, end);
      buffered = buffered.subarray(end);
      waiting(answer);
      waiting = null;
    }
  });
  const next = () => new Promise<Buffer>((resolve) => (waiting = resolve));
  const send = (bytes: Buffer) => {
    const answer = next();
    socket.write(bytes);
    return answer;
  };
  const body = Buffer.from('user\0postgres\0database\0postgres\0\0');
  const startup = Buffer.alloc(8 + body.length);
  startup.writeInt32BE(startup.length, 0);
  startup.writeInt32BE(196608, 4);
  body.copy(startup, 8);
  // Split inside the length word, then the rest.
  const started = next();
  socket.write(startup.subarray(0, 3));
  socket.write(startup.subarray(3));
  expect(readyState(await started)).toBe('I');
  return { socket, send, next };
}

function query(text: string): Buffer {
  const body = Buffer.from(`${text}\0`);
  const out = Buffer.alloc(5 + body.length);
  out[0] = 0x51; // 'Q'
  out.writeInt32BE(4 + body.length, 1);
  body.copy(out, 5);
  return out;
}

/** The messages of an answer: [type, body]. */
function messages(bytes: Buffer): Array<[string, Buffer]> {
  const out: Array<[string, Buffer]> = [];
  for (let at = 0; at + 5 <= bytes.length; ) {
    const size = 1 + bytes.readInt32BE(at + 1);
    out.push([String.fromCharCode(bytes[at]!), bytes.subarray(at + 5, at + size)]);
    at += size;
  }
  return out;
}

/** Where the first complete ReadyForQuery ends, or 0. */
function readyEnd(bytes: Buffer): number {
  for (let at = 0; at + 5 <= bytes.length; ) {
    const size = 1 + bytes.readInt32BE(at + 1);
    if (at + size > bytes.length) return 0;
    if (bytes[at] === 0x5a) return at + size;
    at += size;
  }
  return 0;
}

/** The first column of each DataRow, as text. */
function dataRows(bytes: Buffer): string[] {
  return messages(bytes)
    .filter(([type]) => type === 'D')
    .map(([, body]) => body.subarray(6, 6 + body.readInt32BE(2)).toString('utf8'));
}

/** The transaction status of the last ReadyForQuery: I idle, T in a transaction, E failed. */
function readyState(bytes: Buffer): string {
  const ready = messages(bytes).filter(([type]) => type === 'Z').at(-1);
  return ready ? String.fromCharCode(ready[1][0]!) : '';
}
