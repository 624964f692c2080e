/**
 * Fault tests of the inbound path against real PostgreSQL and NATS: NATS coming back without
 * its data, the database refusing connections, PostgreSQL terminating a running daemon
 * process's connections. (NATS down and `kill -9` mid-burst run for every channel in
 * every-channel.test.ts.) The promise under test is the contract's: a webhook is
 * answered 2xx only after it is durably recorded, and every recorded event reaches JetStream
 * exactly once, whatever fails in between.
 */
import { rm } from 'node:fs/promises';
import postgres from 'postgres';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalNatsServer, type LocalNatsServer } from '../../src/core/nats/local-server.ts';
import { startTestDaemon, type TestDaemon } from '../support/daemon.ts';
import { adminDatabaseUrl, createTestDatabase, freePort, natsUrl, tempDir, uniquePrefix, waitFor, type TestDatabase } from '../support/services.ts';
import { spawnDaemon, writeChildConfig, type ChildDaemon } from '../support/child-daemon.ts';
import { countBy, duplicates, readStream, waitForOutboxDrained } from '../support/stream.ts';
import { Ledger, deliver, deliverUntilAcked, runPool, testWamid, textWebhookBody, type TextMessage } from '../support/traffic.ts';

/** GET /readyz as `{ status, body }`; `null` when nothing answered. */
async function readyz(url: string): Promise<{ status: number; body: { ready: boolean; checks: Record<string, boolean> } } | null> {
  try {
    const response = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(5_000) });
    return { status: response.status, body: (await response.json()) as never };
  } catch {
    return null;
  }
}

/** Rows per wamid among `wamids` (absent wamids have no entry). */
async function rowsPerWamid(sql: postgres.Sql, wamids: readonly string[]): Promise<Map<string, number>> {
  const rows = await sql<{ external_id: string; n: number }[]>`
    select external_id, count(*)::int as n from messages where external_id = any(${wamids as string[]}) group by external_id`;
  return new Map(rows.map((row) => [row.external_id, row.n]));
}

describe('NATS outage', () => {
  const silent = pino({ level: 'silent' });
  let nats: LocalNatsServer | null = null;
  let t: TestDaemon | null = null;
  let storeDir: string;
  let port: number;

  beforeAll(async () => {
    // A server of our own: stopping the shared one would break every other test file.
    storeDir = await tempDir();
    port = await freePort();
    nats = await startLocalNatsServer({ storeDir, port, logger: silent });
    t = await startTestDaemon({ natsUrl: nats.url });
  });
  afterAll(async () => {
    await t?.stop();
    await nats?.stop();
  });

  it('recreates the streams when NATS comes back without its data, and publishes the backlog', { timeout: 90_000 }, async () => {
    const daemon = t!;
    await nats!.stop();
    // An ephemeral NATS (no volume) or a wiped store: the streams the daemon made at start are gone.
    await rm(storeDir, { recursive: true, force: true });
    await waitFor(async () => (await readyz(daemon.daemon.url))?.body.checks.nats === false, { timeoutMs: 20_000, intervalMs: 100, description: 'nats seen down' });
    const messages: TextMessage[] = Array.from({ length: 10 }, (_, i) => ({ wamid: testWamid('W'), from: `4915100000${i % 5}`, text: `before the wipe ${i}` }));
    for (const message of messages) expect((await deliver(daemon.daemon.url, textWebhookBody(message))).status).toBe(200);

    nats = await startLocalNatsServer({ storeDir, port, logger: silent });
    await waitForOutboxDrained(daemon.sql!, 30_000);
    const events = await readStream(nats.url, daemon.prefix, `${daemon.prefix}.v1.evt.message.in.>`, { atLeast: 10, timeoutMs: 10_000 });
    expect(events.map((e) => e.data.externalId).sort()).toEqual(messages.map((m) => m.wamid).sort());
    expect(duplicates(countBy(events, (e) => e.msgId))).toEqual([]);
  });
});

describe('database unavailable', () => {
  let database: TestDatabase;
  let name: string;
  let admin: postgres.Sql;
  let t: TestDaemon | null = null;

  beforeAll(async () => {
    database = await createTestDatabase();
    name = new URL(database.url).pathname.slice(1);
    admin = postgres(adminDatabaseUrl(), { max: 1, onnotice: () => {} });
    t = await startTestDaemon({ databaseUrl: database.url });
  });
  afterAll(async () => {
    // Restored first, so a failure halfway through still lets everything close and drop cleanly.
    await admin?.unsafe(`alter database ${name} with allow_connections true`).catch(() => {});
    await t?.stop();
    await database?.drop();
    await admin?.end({ timeout: 5 });
  });

  it('answers 503 (never 2xx) while it refuses connections mid-burst, and records every redelivery once after', { timeout: 90_000 }, async () => {
    const daemon = t!;
    // A burst in flight when the database goes away, plus one webhook sent surely after.
    const burst: TextMessage[] = Array.from({ length: 40 }, (_, i) => ({ wamid: testWamid('D'), from: `44770090${String(i % 4).padStart(4, '0')}`, text: `burst ${i}` }));
    const late: TextMessage = { wamid: testWamid('D'), from: '447700900123', text: 'while the database is away' };
    const bodies = new Map([...burst, late].map((m) => [m.wamid, textWebhookBody(m)]));
    const ledger = new Ledger();
    const sending = runPool(burst, 4, async ({ wamid }) => {
      ledger.record(wamid, (await deliver(daemon.daemon.url, bodies.get(wamid)!)).outcome);
    });
    await waitFor(() => ledger.acked().size >= 10, { timeoutMs: 20_000, description: '10 acked before the outage' });

    await admin.unsafe(`alter database ${name} with allow_connections false`);
    await admin`select pg_terminate_backend(pid) from pg_stat_activity where datname = ${name} and pid <> pg_backend_pid()`;

    const refused = await deliver(daemon.daemon.url, bodies.get(late.wamid)!);
    ledger.record(late.wamid, refused.outcome);
    expect(refused.status).toBe(503);
    const notReady = await readyz(daemon.daemon.url);
    expect(notReady).toMatchObject({ status: 503, body: { ready: false, checks: { database: false } } });
    // A second delivery while it is still down is refused the same way.
    expect((await deliver(daemon.daemon.url, bodies.get(late.wamid)!)).status).toBe(503);
    await sending;
    expect((await fetch(`${daemon.daemon.url}/healthz`)).status).toBe(200);
    // Every request got an answer: a database that refuses connections is a prompt 503, not a
    // request left hanging until the platform gives up (postgres.js 3.4.9 hung them: see
    // src/core/storage/postgres-driver.ts).
    expect(ledger.tally().unknown, JSON.stringify(ledger.tally())).toBe(0);

    await admin.unsafe(`alter database ${name} with allow_connections true`);
    // Every 2xx given before or during the outage was a commit.
    const rowsBefore = await rowsPerWamid(daemon.sql!, [...bodies.keys()]);
    for (const wamid of ledger.acked()) expect(rowsBefore.get(wamid), `acked ${wamid} has one row`).toBe(1);

    // Meta retries whatever was not acked; the pool reconnects on its own, without a restart.
    await deliverUntilAcked(daemon.daemon.url, ledger.notAcked().map((wamid) => ({ wamid, body: bodies.get(wamid)! })), ledger);
    expect((await deliver(daemon.daemon.url, bodies.get(late.wamid)!)).status).toBe(200);

    const rows = await rowsPerWamid(daemon.sql!, [...bodies.keys()]);
    expect([...rows.values()]).toEqual(new Array(bodies.size).fill(1));
    await waitForOutboxDrained(daemon.sql!, 30_000);
    const events = await readStream(natsUrl(), daemon.prefix, `${daemon.prefix}.v1.evt.message.in.>`, { atLeast: bodies.size, timeoutMs: 10_000 });
    expect(duplicates(countBy(events, (e) => e.msgId))).toEqual([]);
    expect(events.map((e) => e.data.externalId).sort()).toEqual([...bodies.keys()].sort());
    expect((await readyz(daemon.daemon.url))?.status).toBe(200);
  });
});

describe('PostgreSQL drops the connections of a running daemon process', () => {
  let database: TestDatabase;
  let admin: postgres.Sql;
  let sql: postgres.Sql;
  let child: ChildDaemon | null = null;

  beforeAll(async () => {
    database = await createTestDatabase();
    admin = postgres(adminDatabaseUrl(), { max: 1, onnotice: () => {} });
    sql = postgres(database.url, { max: 2, onnotice: () => {} });
  });
  afterAll(async () => {
    await child?.kill();
    await sql?.end({ timeout: 5 });
    await admin?.end({ timeout: 5 });
    await database?.drop();
  });

  it('survives its backends being terminated mid-transaction, as in a PostgreSQL restart or failover', { timeout: 120_000 }, async () => {
    const name = new URL(database.url).pathname.slice(1);
    const port = await freePort();
    const prefix = uniquePrefix();
    const configDir = await writeChildConfig({ databaseUrl: database.url, natsUrl: natsUrl(), prefix, port });
    child = spawnDaemon(configDir, port);
    await child.waitReady();
    const daemon = child;

    // The connections die under the daemon five times during a burst, each time with
    // transactions in flight (the case that crashed the process through postgres.js).
    const messages: TextMessage[] = Array.from({ length: 200 }, (_, i) => ({ wamid: testWamid('B'), from: `3519120000${i % 8}`, text: `terminated ${i}` }));
    const bodies = new Map(messages.map((m) => [m.wamid, textWebhookBody(m)]));
    const ledger = new Ledger();
    let terminations = 0;
    await runPool(messages, 8, async ({ wamid }, i) => {
      ledger.record(wamid, (await deliver(daemon.url, bodies.get(wamid)!, { timeoutMs: 15_000 })).outcome);
      if (i % 40 === 20) {
        const killed = await admin`select pg_terminate_backend(pid) from pg_stat_activity where datname = ${name} and pid <> pg_backend_pid()`;
        terminations += killed.length;
      }
    });
    expect(daemon.running(), daemon.output()).toBe(true);
    expect(terminations).toBeGreaterThan(0);

    const acked = ledger.acked();
    const rows = await rowsPerWamid(sql, [...bodies.keys()]);
    for (const wamid of acked) expect(rows.get(wamid), `acked ${wamid} has one row`).toBe(1);
    // The platform retries the rest; the same process answers, with a healthy pool.
    await deliverUntilAcked(daemon.url, ledger.notAcked().map((wamid) => ({ wamid, body: bodies.get(wamid)! })), ledger);
    await waitForOutboxDrained(sql, 30_000);
    const events = await readStream(natsUrl(), prefix, `${prefix}.v1.evt.message.in.>`, { atLeast: 200, timeoutMs: 10_000 });
    expect(duplicates(countBy(events, (e) => e.msgId))).toEqual([]);
    expect(events.map((e) => e.data.externalId).sort()).toEqual([...bodies.keys()].sort());
    expect(daemon.running()).toBe(true);
    expect((await readyz(daemon.url))?.status).toBe(200);
    expect(daemon.output()).not.toMatch(/TypeError|uncaught/i);
  });
});
