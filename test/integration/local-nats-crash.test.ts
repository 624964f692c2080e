/**
 * The daemon's own nats-server (`nats.url: null`) across `kill -9` of the daemon: the server
 * never outlives it by more than a moment (its watchdog stops it when the daemon's pipe
 * closes), a restart that finds a server orphaned on the store stops it before starting its
 * own, so the store never has two servers, and every event recorded before a crash is on the
 * stream once after it.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { natsServersOn } from '../../src/core/nats/store-owner.ts';
import { spawnDaemon, writeChildConfig, type ChildDaemon } from '../support/child-daemon.ts';
import { createTestDatabase, freePort, uniquePrefix, waitFor, type TestDatabase } from '../support/services.ts';
import { countBy, duplicates, readStream, waitForOutboxDrained } from '../support/stream.ts';
import { deliver, testWamid, textWebhookBody, type TextMessage } from '../support/traffic.ts';

/** The pid of `pid`'s parent, from /proc. */
async function parentOf(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

describe('local nats-server and kill -9 of the daemon', () => {
  let database: TestDatabase;
  let sql: postgres.Sql;
  let child: ChildDaemon | null = null;
  let configDir: string;
  let storeDir: string;
  let port: number;
  const prefix = uniquePrefix();

  beforeAll(async () => {
    database = await createTestDatabase();
    sql = postgres(database.url, { max: 2, onnotice: () => {} });
    port = await freePort();
    configDir = await writeChildConfig({ databaseUrl: database.url, natsUrl: null, prefix, port });
    storeDir = path.join(configDir, 'data', 'nats');
  });
  afterAll(async () => {
    await child?.kill();
    // Whatever a failed assertion left behind: no server may outlive the test.
    for (const pid of await natsServersOn(storeDir ?? '/nonexistent')) process.kill(pid, 'SIGKILL');
    await sql?.end({ timeout: 5 });
    await database?.drop();
  });

  const sent: string[] = [];
  /** Starts the daemon and checks it runs exactly one server on its store. */
  async function start(): Promise<number> {
    child = spawnDaemon(configDir, port);
    await child.waitReady();
    const servers = await natsServersOn(storeDir);
    expect(servers, child.output()).toHaveLength(1);
    return servers[0]!;
  }
  /** Delivers `n` webhooks and waits until every one is on the stream. */
  async function burst(tag: string, n: number): Promise<void> {
    const messages: TextMessage[] = Array.from({ length: n }, (_, i) => ({ wamid: testWamid(tag), from: `4930100000${i % 3}`, text: `${tag} ${i}` }));
    for (const message of messages) expect((await deliver(child!.url, textWebhookBody(message))).status).toBe(200);
    sent.push(...messages.map((m) => m.wamid));
    await waitForOutboxDrained(sql, 30_000);
  }
  async function crash(): Promise<void> {
    child!.signal('SIGKILL');
    expect(await child!.exited).toMatchObject({ signal: 'SIGKILL' });
  }
  const serversGone = () =>
    waitFor(async () => (await natsServersOn(storeDir)).length === 0, { timeoutMs: 15_000, intervalMs: 100, description: 'no nats-server left on the store' });

  it('stops the server with the daemon, replaces an orphaned one, and keeps every event', { timeout: 180_000 }, async () => {
    await start();
    await burst('LA', 10);
    await crash();
    await serversGone();

    // Second crash, harder: the watchdog dies first, so nothing stops the server this time.
    const server = await start();
    await burst('LB', 10);
    const watchdog = await parentOf(server);
    process.kill(watchdog, 'SIGKILL');
    await crash();
    expect(await natsServersOn(storeDir)).toEqual([server]);

    // The restart finds the orphan through the pid file and /proc, stops it, and starts its own.
    const replacement = await start();
    expect(replacement).not.toBe(server);
    await burst('LC', 10);

    // Nothing recorded before either crash is lost or doubled on the local stream.
    const url = (await readFile(path.join(storeDir, 'url'), 'utf8')).trim();
    const events = await readStream(url, prefix, `${prefix}.v1.evt.message.in.>`, { atLeast: sent.length, timeoutMs: 15_000 });
    expect(duplicates(countBy(events, (e) => e.msgId))).toEqual([]);
    expect(events.map((e) => e.data.externalId).sort()).toEqual([...sent].sort());

    await crash();
    await serversGone();
  });
});
