// Proves the test infrastructure itself: the shared PostgreSQL and nats-server are real and usable,
// per-file isolation helpers work, and the daemon's local nats-server launcher starts and stops cleanly.
import { chmod, writeFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { pino } from 'pino';
import postgres from 'postgres';
import { describe, expect, inject, it } from 'vitest';
import { startLocalNatsServer } from '../../src/core/nats/local-server.ts';
import { canConnect } from '../../src/core/nats/ports.ts';
import {
  adminDatabaseUrl,
  createTestDatabase,
  freePort,
  natsUrl,
  tempDir,
  uniquePrefix,
  waitFor,
} from './services.ts';

const silent = pino({ level: 'silent' });

describe('shared PostgreSQL', () => {
  it('is reachable through both the environment and inject()', () => {
    expect(adminDatabaseUrl()).toBe(inject('omnibusTestPgUrl'));
    expect(natsUrl()).toBe(inject('omnibusTestNatsUrl'));
  });

  it('gives each caller a fresh database that can be written, read and dropped', async () => {
    const database = await createTestDatabase();
    expect(new URL(database.url).pathname).toMatch(/^\/omnibus_t_[a-z0-9]+$/);
    const sql = postgres(database.url, { max: 2, onnotice: () => {} });
    try {
      await sql`create table notes (id serial primary key, body text not null)`;
      await sql`insert into notes ${sql([{ body: 'hello' }, { body: 'wörld' }])}`;
      const rows = await sql<{ body: string }[]>`select body from notes order by id`;
      expect(rows.map((row) => row.body)).toEqual(['hello', 'wörld']);
    } finally {
      // Left open on purpose until after drop() would be a bug in the test, but drop() must cope anyway.
      await sql.end();
    }
    await database.drop();
    await database.drop();

    const admin = postgres(adminDatabaseUrl(), { max: 1, onnotice: () => {} });
    try {
      const name = new URL(database.url).pathname.slice(1);
      const left = await admin`select 1 from pg_database where datname = ${name}`;
      expect(left).toHaveLength(0);
    } finally {
      await admin.end();
    }
  });

  it('drops a database even while a connection to it is still open', async () => {
    const database = await createTestDatabase();
    const sql = postgres(database.url, { max: 1, onnotice: () => {} });
    await sql`select 1`;
    await database.drop();
    await sql.end({ timeout: 1 }).catch(() => undefined);
  });
});

describe('shared nats-server', () => {
  it('runs JetStream with duplicate detection on Nats-Msg-Id', async () => {
    const nc = await connect({ servers: natsUrl() });
    try {
      const jsm = await jetstreamManager(nc);
      const prefix = uniquePrefix();
      expect(prefix).toMatch(/^t[a-z0-9]+$/);
      const stream = `${prefix.toUpperCase()}_EVENTS`;
      await jsm.streams.add({ name: stream, subjects: [`${prefix}.>`] });
      try {
        const js = jsm.jetstream();
        const subject = `${prefix}.v1.evt.test`;
        const first = await js.publish(subject, 'one', { msgID: 'same-id' });
        const second = await js.publish(subject, 'one again', { msgID: 'same-id' });
        expect(first.duplicate).toBe(false);
        expect(second.duplicate).toBe(true);
        expect(second.seq).toBe(first.seq);
        const info = await jsm.streams.info(stream);
        expect(info.state.messages).toBe(1);
      } finally {
        await jsm.streams.delete(stream);
      }
    } finally {
      await nc.drain();
    }
  });
});

describe('startLocalNatsServer', () => {
  it('starts a JetStream server, serves clients, and frees its port on stop', async () => {
    const port = await freePort();
    const server = await startLocalNatsServer({ storeDir: await tempDir(), logger: silent, port });
    expect(server.url).toBe(`nats://127.0.0.1:${port}`);
    try {
      const nc = await connect({ servers: server.url });
      const jsm = await jetstreamManager(nc);
      const account = await jsm.getAccountInfo();
      expect(account.limits).toBeDefined();
      await nc.drain();
    } finally {
      await server.stop();
    }
    await server.stop();
    expect(await canConnect(port)).toBe(false);
  });

  it('refuses a port that is already taken instead of talking to the wrong server', async () => {
    const port = await freePort();
    const first = await startLocalNatsServer({ storeDir: await tempDir(), logger: silent, port });
    try {
      const attempt = startLocalNatsServer({ storeDir: await tempDir(), logger: silent, port });
      await expect(attempt).rejects.toThrow(`port ${port} on 127.0.0.1 is already in use`);
    } finally {
      await first.stop();
    }
  });

  it('reports the server output when nats-server exits during startup', async () => {
    // A stand-in nats-server that fails the way a real one does on a bad flag or store dir.
    const bin = await tempDir();
    const fake = join(bin, 'nats-server');
    await writeFile(fake, '#!/bin/sh\necho "[FTL] cannot open store: permission denied" >&2\nexit 1\n');
    await chmod(fake, 0o755);
    const originalPath = process.env.PATH;
    process.env.PATH = `${bin}${delimiter}${originalPath ?? ''}`;
    try {
      const attempt = startLocalNatsServer({ storeDir: await tempDir(), logger: silent, port: await freePort() });
      await expect(attempt).rejects.toThrow(/did not start: nats-server exited \(code 1[\s\S]*cannot open store: permission denied/);
    } finally {
      process.env.PATH = originalPath;
    }
  });
});

describe('waitFor', () => {
  it('returns the first truthy value', async () => {
    let calls = 0;
    const value = await waitFor(() => (++calls >= 3 ? 'ready' : null), { intervalMs: 1 });
    expect(value).toBe('ready');
    expect(calls).toBe(3);
  });

  it('names what it waited for and the last error on timeout', async () => {
    const attempt = waitFor(
      () => {
        throw new Error('still booting');
      },
      { timeoutMs: 50, intervalMs: 5, description: 'the widget' },
    );
    await expect(attempt).rejects.toThrow(/the widget not met within 50 ms; last error: still booting/);
  });
});
