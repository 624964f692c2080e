/**
 * Telegram long polling across `kill -9` and two replicas, with the daemons as operators run
 * them (child processes) and the Bot API fake served from the test process, so Telegram
 * survives every crash. Each replica reaches the fake under its own path prefix, which tells
 * the test who called getUpdates: at no moment do two live replicas hold a poll, and when the
 * poller is SIGKILLed mid-stream the stand-by takes over from the committed cursor. Every
 * update becomes exactly one row and one event on the stream: nothing lost, nothing twice.
 */
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFake, type TelegramFake } from '../../src/channels/telegram/sandbox.ts';
import type { TelegramSettings } from '../../src/channels/telegram/config.ts';
import { DEFAULT_ALLOWED_UPDATES } from '../../src/channels/telegram/config.ts';
import { systemClock } from '../../src/core/clock.ts';
import type { AccountConfig } from '../../src/core/config/types.ts';
import { spawnDaemon, writeChildConfig, type ChildDaemon } from '../support/child-daemon.ts';
import { createTestDatabase, freePort, natsUrl, uniquePrefix, waitFor, type TestDatabase } from '../support/services.ts';
import { countBy, duplicates, readStream, waitForOutboxDrained } from '../support/stream.ts';

const TOKEN = '7000000077:AAH-kill-nine-polling-token-0123456789ab';
const ACCOUNT = 'acme-telegram';
const REPLICAS = ['a', 'b'] as const;
type Replica = (typeof REPLICAS)[number];

const settings: TelegramSettings = { botToken: TOKEN, mode: 'polling', registerWebhook: false, allowedUpdates: [...DEFAULT_ALLOWED_UPDATES], pollTimeoutSeconds: 2 };
const fakeAccount: AccountConfig<TelegramSettings> = {
  id: ACCOUNT,
  channel: 'telegram',
  enabled: true,
  apiBase: null,
  session: { windowMs: null, window: 'none', expiringNoticeMs: 3_600_000 },
  attachments: { allow: ['jpg', 'png', 'pdf'], maxBytes: null },
  rateLimit: { perSecond: 30, perRecipientPerSecond: 1 },
  settings,
};

function accountYaml(apiBase: string): string {
  return ['id: acme-telegram', 'channel: telegram', `botToken: "${TOKEN}"`, 'mode: polling', 'pollTimeoutSeconds: 2', `apiBase: "${apiBase}"`].join('\n') + '\n';
}

/** One getUpdates call as the fake saw it: who made it and when it was answered (or cut off). */
interface PollCall {
  replica: Replica;
  startedAt: number;
  endedAt: number | null;
}

describe('telegram polling: kill -9 of the poller mid-stream, two replicas on one bot', () => {
  let database: TestDatabase;
  let sql: postgres.Sql;
  let fake: TelegramFake;
  let server: ServerType;
  const prefix = uniquePrefix();
  const calls: PollCall[] = [];
  const children = new Map<Replica, { child: ChildDaemon; configDir: string; port: number }>();

  beforeAll(async () => {
    database = await createTestDatabase();
    sql = postgres(database.url, { max: 2, onnotice: () => {} });
    fake = createFake({ accounts: [fakeAccount], clock: systemClock });
    // `/a/bot<token>/getUpdates` is replica a's call: strip the prefix, note the call, serve it.
    server = await new Promise<ServerType>((resolve) => {
      const listening = serve(
        {
          fetch: async (request: Request) => {
            const url = new URL(request.url);
            const [, replica, ...rest] = url.pathname.split('/');
            if (replica !== 'a' && replica !== 'b') return new Response('no replica prefix', { status: 404 });
            url.pathname = `/${rest.join('/')}`;
            const call: PollCall | null = url.pathname.endsWith('/getUpdates') ? { replica, startedAt: Date.now(), endedAt: null } : null;
            if (call) {
              calls.push(call);
              request.signal.addEventListener('abort', () => (call.endedAt ??= Date.now()), { once: true });
            }
            try {
              return await fake.fetch(new Request(url, request));
            } finally {
              if (call) call.endedAt ??= Date.now();
            }
          },
          port: 0,
          hostname: '127.0.0.1',
        },
        () => resolve(listening),
      );
    });
    const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    for (const replica of REPLICAS) {
      const port = await freePort();
      const configDir = await writeChildConfig({ databaseUrl: database.url, natsUrl: natsUrl(), prefix, port, accounts: { 'acme-telegram.yaml': accountYaml(`${origin}/${replica}`) } });
      children.set(replica, { child: spawnDaemon(configDir, port), configDir, port });
    }
    await Promise.all([...children.values()].map(({ child }) => child.waitReady(90_000)));
  }, 180_000);

  afterAll(async () => {
    await Promise.allSettled([...children.values()].map(({ child }) => child.kill()));
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    await sql?.end({ timeout: 5 });
    await database?.drop();
  });

  const recorded = async () => (await sql<{ external_id: string }[]>`select external_id from messages where account = ${ACCOUNT} and direction = 'in'`).map((r) => r.external_id);
  /** The replica whose getUpdates call is the latest: the one holding the lease. */
  const poller = () => calls.at(-1)?.replica;

  it('hands every update to the stream exactly once, with one poller at a time and a take-over after SIGKILL', { timeout: 240_000 }, async () => {
    const sent: string[] = [];
    const deliver = async (i: number) => {
      const update = (await fake.deliver(ACCOUNT, { from: String(7200000100 + (i % 7)), text: `stream ${i}` })) as { message: { chat: { id: number }; message_id: number } };
      sent.push(`${update.message.chat.id}:${update.message.message_id}`);
    };
    // The stream: updates trickle in while the daemons poll, and keep coming through the crash.
    let next = 0;
    let streaming = true;
    const stream = (async () => {
      while (streaming && next < 400) {
        await deliver(next++);
        await new Promise((resolve) => setTimeout(resolve, 15));
      }
    })();

    await waitFor(async () => (await recorded()).length >= 40, { timeoutMs: 60_000, intervalMs: 50, description: 'first updates recorded' });
    const victim = poller()!;
    const survivor: Replica = victim === 'a' ? 'b' : 'a';
    const killedAt = Date.now();
    children.get(victim)!.child.signal('SIGKILL');
    expect(await children.get(victim)!.child.exited).toMatchObject({ signal: 'SIGKILL' });
    const before = (await recorded()).length;

    // The stand-by polls once the dead poller's lease expires (seconds), and records what followed.
    await waitFor(() => calls.some((call) => call.replica === survivor && call.startedAt > killedAt), { timeoutMs: 30_000, intervalMs: 50, description: 'stand-by polling' });
    await waitFor(async () => (await recorded()).length > before + 20, { timeoutMs: 60_000, intervalMs: 100, description: 'stand-by recording' });

    // The killed replica comes back (same config, same port) as the stand-by now.
    const { configDir, port } = children.get(victim)!;
    const restarted = spawnDaemon(configDir, port);
    children.set(victim, { child: restarted, configDir, port });
    await restarted.waitReady(90_000);
    streaming = false;
    await stream;

    await waitFor(async () => (await recorded()).length >= sent.length, { timeoutMs: 60_000, intervalMs: 200, description: `all ${sent.length} updates recorded` });
    const rows = await recorded();
    expect(new Set(rows).size).toBe(rows.length);
    expect([...rows].sort()).toEqual([...sent].sort());
    await waitForOutboxDrained(sql, 60_000);

    const events = await readStream(natsUrl(), prefix, `${prefix}.v1.evt.message.in.telegram.${ACCOUNT}`, { atLeast: sent.length, timeoutMs: 20_000 });
    expect(duplicates(countBy(events, (e) => e.msgId))).toEqual([]);
    expect(duplicates(countBy(events, (e) => e.data.externalId))).toEqual([]);
    expect(events.map((e) => e.data.externalId).sort()).toEqual([...sent].sort());

    // Telegram saw its offsets confirmed: nothing is left pending once the poller moves on.
    await waitFor(() => fake.bot(ACCOUNT).updates.length === 0, { timeoutMs: 20_000, intervalMs: 100, description: 'updates confirmed at the fake' });

    // One poller at a time: no two replicas ever had a getUpdates open together, so Telegram
    // never had to answer "terminated by other getUpdates request".
    const closed = calls.map((call) => ({ ...call, endedAt: call.endedAt ?? Date.now() }));
    const overlaps = closed.flatMap((one) => closed.filter((other) => other.replica !== one.replica && other.startedAt > one.startedAt && other.startedAt < one.endedAt));
    expect(overlaps).toEqual([]);
    expect(calls.filter((call) => call.replica === survivor && call.startedAt > killedAt).length).toBeGreaterThan(0);
    for (const { child } of children.values()) {
      expect(child.running()).toBe(true);
      const metrics = await (await fetch(`${child.url}/metrics`)).text();
      expect(metrics.split('\n').filter((line) => line.startsWith('omnibus_polls_total{') && line.includes('result="conflict"') && !line.endsWith(' 0'))).toEqual([]);
      expect(child.output()).not.toContain(TOKEN.split(':')[1]!);
    }
  });
});
