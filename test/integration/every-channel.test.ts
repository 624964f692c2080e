/**
 * The inbound promises, held for every registered channel (WhatsApp, Telegram in webhook mode,
 * LINE, WeChat, and any channel added later), with webhooks built by each channel's own
 * simulator against real PostgreSQL and NATS: a duplicate delivery yields one row and one
 * event; a conversation's messages reach the stream in order; two replicas hit by the same
 * webhook at once record and publish it once, with one contact per sender; while NATS is down webhooks are still recorded
 * and answered, and published exactly once when it returns; `kill -9` mid-burst loses no acked
 * message and duplicates none.
 */
import postgres from 'postgres';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AccountConfig } from '../../src/core/config/types.ts';
import { startLocalNatsServer, type LocalNatsServer } from '../../src/core/nats/local-server.ts';
import { startTestDaemon, type TestDaemon } from '../support/daemon.ts';
import { TEST_CHANNELS, channelText, everyChannelAccounts, loadedAccounts, type ChannelText, type TestChannel } from '../support/channels.ts';
import { spawnDaemon, writeChildConfig, type ChildDaemon } from '../support/child-daemon.ts';
import { createTestDatabase, freePort, natsUrl, tempDir, uniquePrefix, waitFor, type TestDatabase } from '../support/services.ts';
import { countBy, duplicates, readStream, waitForOutboxDrained } from '../support/stream.ts';
import { Ledger, deliverSpec, deliverSpecsUntilAcked, runPool } from '../support/traffic.ts';

let runs = 0;
/** `count` texts from `senders` customers of `channel`, each with a text unique to this run. */
function texts(channel: TestChannel, account: AccountConfig, count: number, senders: number, tag: string): ChannelText[] {
  const run = `${tag}${++runs}`;
  return Array.from({ length: count }, (_, i) => channelText(channel, account, channel.customer(i % senders), `${run} message ${i}`));
}

/** Rows per external id of `channel` among `ids`. */
async function rowsPer(sql: postgres.Sql, channel: string, ids: readonly string[]): Promise<Map<string, number>> {
  const rows = await sql<{ external_id: string; n: number }[]>`
    select external_id, count(*)::int as n from messages where channel = ${channel} and external_id = any(${ids as string[]}) group by external_id`;
  return new Map(rows.map((row) => [row.external_id, row.n]));
}

/** Each id's events on `channel`'s message.in subject, waiting for at least one per id. */
async function eventsPer(url: string, prefix: string, channel: TestChannel, ids: readonly string[]): Promise<Map<string | null, number>> {
  const subject = `${prefix}.v1.evt.message.in.${channel.id}.${channel.accountId}`;
  const events = await readStream(url, prefix, subject, { atLeast: ids.length, timeoutMs: 15_000 });
  expect(duplicates(countBy(events, (e) => e.msgId))).toEqual([]);
  return countBy(events.filter((e) => ids.includes(e.data.externalId)), (e) => e.data.externalId);
}

function accountOf(accounts: ReadonlyMap<string, AccountConfig>, channel: TestChannel): AccountConfig {
  const account = accounts.get(channel.accountId);
  if (account === undefined) throw new Error(`the test daemon has no account ${channel.accountId}`);
  return account;
}

it('covers every registered channel with a simulator', () => {
  expect(TEST_CHANNELS.map((channel) => channel.id).sort()).toEqual(expect.arrayContaining(['line', 'telegram', 'wechat', 'whatsapp']));
});

describe('every channel, one daemon', () => {
  let t: TestDaemon;
  let accounts: ReadonlyMap<string, AccountConfig>;
  beforeAll(async () => {
    t = await startTestDaemon({ accounts: everyChannelAccounts() });
    accounts = await loadedAccounts(t.dir);
  });
  afterAll(async () => {
    await t?.stop();
  });

  describe.each(TEST_CHANNELS)('$id', (channel) => {
    it('a webhook delivered 20 times at once gives one row and one event', async () => {
      const [message] = texts(channel, accountOf(accounts, channel), 1, 1, 'dup');
      const answers = await Promise.all(Array.from({ length: 20 }, () => deliverSpec(t.daemon.url, message!.spec)));
      expect(answers.filter((answer) => answer.outcome !== 'acked')).toEqual([]);
      expect(await rowsPer(t.sql!, channel.id, [message!.externalId])).toEqual(new Map([[message!.externalId, 1]]));
      await waitForOutboxDrained(t.sql!, 15_000);
      expect(await eventsPer(natsUrl(), t.prefix, channel, [message!.externalId])).toEqual(new Map([[message!.externalId, 1]]));
    });

    it("keeps a conversation's order on the stream", async () => {
      const messages = texts(channel, accountOf(accounts, channel), 30, 1, 'order');
      for (const message of messages) expect((await deliverSpec(t.daemon.url, message.spec)).status).toBe(200);
      const ids = messages.map((message) => message.externalId);
      const subject = `${t.prefix}.v1.evt.message.in.${channel.id}.${channel.accountId}`;
      let order: string[] = [];
      await waitFor(
        async () => {
          order = (await t.events(subject, { timeoutMs: 500 })).map((e) => e.data.externalId).filter((id: string) => ids.includes(id));
          return order.length >= ids.length;
        },
        { timeoutMs: 20_000, intervalMs: 200, description: `${channel.id}: 30 events on the stream` },
      ).catch(() => {});
      expect(order).toEqual(ids);
    });
  });
});

describe('every channel, two replicas', () => {
  let database: TestDatabase;
  const prefix = uniquePrefix();
  const replicas: TestDaemon[] = [];
  let accounts: ReadonlyMap<string, AccountConfig>;

  beforeAll(async () => {
    database = await createTestDatabase();
    const a = await startTestDaemon({ databaseUrl: database.url, prefix, accounts: everyChannelAccounts() });
    replicas.push(a);
    // Same config directory: same database, NATS server and prefix, as two pods of one deployment.
    replicas.push(await startTestDaemon({ databaseUrl: database.url, prefix, dir: a.dir }));
    accounts = await loadedAccounts(a.dir);
  });
  afterAll(async () => {
    for (const replica of replicas.splice(0)) await replica.stop().catch(() => {});
    await database?.drop();
  });

  describe.each(TEST_CHANNELS)('$id', (channel) => {
    it('records and publishes every message once when each webhook hits both replicas at once', { timeout: 120_000 }, async () => {
      const [a, b] = replicas as [TestDaemon, TestDaemon];
      const messages = texts(channel, accountOf(accounts, channel), 40, 5, 'replica');
      const outcomes: string[] = [];
      await runPool(messages, 4, async (message, i) => {
        const [first, second] = i % 2 === 0 ? [a, b] : [b, a];
        // The platform retrying on a timeout while its first delivery still runs, via the load balancer.
        const answers = await Promise.all([deliverSpec(first.daemon.url, message.spec), deliverSpec(second.daemon.url, message.spec)]);
        outcomes.push(...answers.map((answer) => answer.outcome));
      });
      expect(outcomes.filter((outcome) => outcome !== 'acked')).toEqual([]);
      const ids = messages.map((message) => message.externalId);
      expect([...(await rowsPer(a.sql!, channel.id, ids)).entries()].filter(([, n]) => n !== 1)).toEqual([]);
      expect((await rowsPer(a.sql!, channel.id, ids)).size).toBe(40);
      await waitForOutboxDrained(a.sql!, 30_000);
      const perId = await eventsPer(natsUrl(), prefix, channel, ids);
      expect(duplicates(perId)).toEqual([]);
      expect([...perId.keys()].sort()).toEqual([...ids].sort());
      // One contact per sender, however many replicas raced on its first message.
      const created = await readStream(natsUrl(), prefix, `${prefix}.v1.evt.contact.created`, { atLeast: 1, timeoutMs: 5_000 });
      const mine = created.filter((e) => e.data.contact.identities.some((identity: { channel: string }) => identity.channel === channel.id));
      expect(mine).toHaveLength(5);
    });
  });
});

/** GET /readyz's status, or null when nothing answered. */
async function readyStatus(url: string): Promise<{ status: number; nats: boolean } | null> {
  try {
    const response = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(5_000) });
    const body = (await response.json()) as { checks: { nats: boolean } };
    return { status: response.status, nats: body.checks.nats };
  } catch {
    return null;
  }
}

describe('every channel, NATS outage', () => {
  const silent = pino({ level: 'silent' });
  let nats: LocalNatsServer | null = null;
  let t: TestDaemon | null = null;
  let accounts: ReadonlyMap<string, AccountConfig>;
  let storeDir: string;
  let port: number;

  beforeAll(async () => {
    // A server of our own: stopping the shared one would break every other test file.
    storeDir = await tempDir();
    port = await freePort();
    nats = await startLocalNatsServer({ storeDir, port, logger: silent });
    t = await startTestDaemon({ natsUrl: nats.url, accounts: everyChannelAccounts() });
    accounts = await loadedAccounts(t.dir);
  });
  afterAll(async () => {
    await t?.stop();
    await nats?.stop();
  });

  describe.each(TEST_CHANNELS)('$id', (channel) => {
    it('answers from PostgreSQL while NATS is down, then publishes every event exactly once', { timeout: 90_000 }, async () => {
      const daemon = t!;
      await nats!.stop();
      await waitFor(async () => (await readyStatus(daemon.daemon.url))?.nats === false, { timeoutMs: 20_000, intervalMs: 100, description: 'nats seen down' });
      const messages = texts(channel, accountOf(accounts, channel), 10, 3, 'outage');
      const answers = await Promise.all(messages.map((message) => deliverSpec(daemon.daemon.url, message.spec)));
      expect(answers.map((answer) => answer.status)).toEqual(new Array(10).fill(200));
      const ids = messages.map((message) => message.externalId);
      expect([...(await rowsPer(daemon.sql!, channel.id, ids)).values()]).toEqual(new Array(10).fill(1));

      // Same port and store directory: the stream and its duplicate window survive, as in production.
      nats = await startLocalNatsServer({ storeDir, port, logger: silent });
      await waitFor(async () => (await readyStatus(daemon.daemon.url))?.status === 200, { timeoutMs: 30_000, intervalMs: 200, description: 'ready after NATS returned' });
      await waitForOutboxDrained(daemon.sql!, 30_000);
      const perId = await eventsPer(nats.url, daemon.prefix, channel, ids);
      expect(duplicates(perId)).toEqual([]);
      expect([...perId.keys()].sort()).toEqual([...ids].sort());
    });
  });
});

describe('every channel, kill -9 in the middle of a burst', () => {
  let database: TestDatabase;
  let sql: postgres.Sql;
  let child: ChildDaemon | null = null;
  let configDir: string;
  let port: number;
  const prefix = uniquePrefix();

  beforeAll(async () => {
    database = await createTestDatabase();
    sql = postgres(database.url, { max: 2, onnotice: () => {} });
    port = await freePort();
    configDir = await writeChildConfig({ databaseUrl: database.url, natsUrl: natsUrl(), prefix, port, accounts: everyChannelAccounts() });
  });
  afterAll(async () => {
    await child?.kill();
    await sql?.end({ timeout: 5 });
    await database?.drop();
  });

  it('loses no acked message and duplicates no event of any channel across SIGKILL and restart', { timeout: 180_000 }, async () => {
    const accounts = await loadedAccounts(configDir);
    // 40 distinct messages per channel from 6 senders, interleaved across channels, plus one
    // exact redelivery of every fourth a few places after its original.
    const perChannel = new Map(TEST_CHANNELS.map((channel) => [channel, texts(channel, accountOf(accounts, channel), 40, 6, 'kill')]));
    const distinct = Array.from({ length: 40 }, (_, i) => TEST_CHANNELS.map((channel) => perChannel.get(channel)![i]!)).flat();
    const sends = distinct.map((message) => ({ id: message.externalId, spec: message.spec }));
    for (let i = 0; i < distinct.length / 4; i++) sends.splice(i * 5 + 7, 0, sends[i * 5]!);

    child = spawnDaemon(configDir, port);
    await child.waitReady();
    const ledger = new Ledger();
    const first = child;
    let settled = 0;
    await runPool(sends, 16, async ({ id, spec }) => {
      ledger.record(id, (await deliverSpec(first.url, spec, { timeoutMs: 15_000 })).outcome);
      // In the middle of the burst, with requests in flight: no warning, no drain.
      if (++settled === Math.floor(sends.length * 0.4)) first.signal('SIGKILL');
    });
    expect(await first.exited).toMatchObject({ signal: 'SIGKILL' });
    expect(ledger.tally().acked).toBeGreaterThan(0);

    // A 2xx means committed: every message acked before the crash has its row already.
    for (const [channel, messages] of perChannel) {
      const rows = await rowsPer(sql, channel.id, messages.map((message) => message.externalId));
      for (const message of messages) if (ledger.acked().has(message.externalId)) expect(rows.get(message.externalId), `${channel.id} ${message.externalId}`).toBe(1);
    }

    child = spawnDaemon(configDir, port);
    await child.waitReady();
    // What a platform does: deliver again whatever got no 2xx, and whatever ended without an answer.
    const unknown = [...ledger.attempts].filter(([, outcomes]) => outcomes.includes('unknown')).map(([id]) => id);
    const again = new Set([...ledger.notAcked(), ...unknown]);
    const specs = new Map(distinct.map((message) => [message.externalId, message.spec]));
    await deliverSpecsUntilAcked(child.url, [...again].map((id) => ({ id, spec: specs.get(id)! })), ledger);
    expect(ledger.notAcked()).toEqual([]);
    await waitForOutboxDrained(sql, 60_000);

    for (const [channel, messages] of perChannel) {
      const ids = messages.map((message) => message.externalId);
      const rows = await rowsPer(sql, channel.id, ids);
      expect([...rows.entries()].filter(([, n]) => n !== 1), channel.id).toEqual([]);
      expect(rows.size, channel.id).toBe(40);
      const perId = await eventsPer(natsUrl(), prefix, channel, ids);
      expect(duplicates(perId), channel.id).toEqual([]);
      expect([...perId.keys()].sort(), channel.id).toEqual([...ids].sort());
    }
    const [inbound] = await sql<{ n: number }[]>`select count(*)::int as n from messages where direction = 'in'`;
    expect(inbound!.n).toBe(distinct.length);
    expect(child.running()).toBe(true);
  });
});
