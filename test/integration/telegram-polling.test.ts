/**
 * Telegram in polling mode through real daemons (PostgreSQL, NATS) and the Bot API fake of the
 * first daemon's sandbox: queued updates recorded and published once each, two replicas on one
 * bot with exactly one of them calling getUpdates, take-over when the poller stops, and a 409
 * (a webhook set at Telegram) logged at error and backed off rather than retried in a loop.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TelegramFake } from '../../src/channels/telegram/sandbox.ts';
import { startTestDaemon, type TestDaemon } from '../support/daemon.ts';
import { createTestDatabase, uniquePrefix, waitFor, type TestDatabase } from '../support/services.ts';
import { countBy, duplicates } from '../support/stream.ts';

const TOKEN = '7000000042:AAH-polling-test-token-0123456789abcdef';
const polling = { leaseTtlMs: 1_500, standbyMs: 100, backoffMs: 100, maxBackoffMs: 400, conflictBackoffMs: 120_000 };

function pollingYaml(apiBase: string | null = null, extra: string[] = []): string {
  return ['id: acme-telegram', 'channel: telegram', `botToken: "${TOKEN}"`, 'mode: polling', 'pollTimeoutSeconds: 2', `apiBase: ${apiBase === null ? 'null' : `"${apiBase}"`}`, ...extra].join('\n') + '\n';
}

describe('telegram polling across two replicas', () => {
  let database: TestDatabase;
  const prefix = uniquePrefix();
  const replicas: TestDaemon[] = [];
  let fake: TelegramFake;
  const subject = `${prefix}.v1.evt.message.in.telegram.acme-telegram`;

  beforeAll(async () => {
    database = await createTestDatabase();
    const options = { databaseUrl: database.url, prefix, extra: { polling, watch: false } };
    const a = await startTestDaemon({ ...options, accounts: { 'acme-telegram.yaml': pollingYaml() } });
    replicas.push(a);
    fake = a.daemon.fakes.get('telegram') as TelegramFake;
    // The second replica polls the same bot at the first one's fake (one Telegram for both).
    const b = await startTestDaemon({ ...options, accounts: { 'acme-telegram.yaml': pollingYaml(`${a.daemon.url}/sandbox/telegram`) } });
    replicas.push(b);
  }, 120_000);
  afterAll(async () => {
    for (const replica of replicas.splice(0)) await replica.stop().catch(() => {});
    await database?.drop();
  });

  const leaders = () => replicas.filter((r) => r.daemon.pollers?.get('acme-telegram')?.isLeader);
  const rows = async (t: TestDaemon) => (await t.sql!`select external_id from messages where account = 'acme-telegram' and direction = 'in'`).map((r) => r.external_id as string);

  it('records and publishes every queued update once, with exactly one replica polling', { timeout: 90_000 }, async () => {
    const [a] = replicas as [TestDaemon];
    const sent: string[] = [];
    for (let i = 0; i < 12; i++) {
      const update = (await fake.deliver('acme-telegram', { from: String(7100000100 + (i % 3)), text: `hello ${i}` })) as any;
      sent.push(`${update.message.chat.id}:${update.message.message_id}`);
    }
    await waitFor(async () => (await rows(a)).length >= sent.length, { timeoutMs: 30_000, intervalMs: 200, description: 'twelve updates recorded' });
    expect((await rows(a)).sort()).toEqual([...sent].sort());
    const events = await a.events(subject, { atLeast: sent.length, timeoutMs: 20_000 });
    expect(duplicates(countBy(events, (e) => e.msgId))).toEqual([]);
    expect(events.map((e) => e.data.externalId).sort()).toEqual([...sent].sort());
    expect(leaders()).toHaveLength(1);
    // The fake confirmed everything: the committed cursor was offered on the next poll.
    await waitFor(() => fake.bot('acme-telegram').updates.length === 0, { timeoutMs: 20_000, description: 'updates confirmed at the fake' });
  });

  it('the stand-by takes over when the poller stops, from the committed cursor, losing and repeating nothing', { timeout: 90_000 }, async () => {
    const leader = leaders()[0]!;
    const other = replicas.find((r) => r !== leader)!;
    if (leader === replicas[0]) {
      // The first replica hosts the fake: stopping it would take Telegram down too. Make the
      // second one the leader instead by stopping the first replica's poller only.
      await leader.daemon.pollers!.stop();
    } else {
      await leader.stop();
      replicas.splice(replicas.indexOf(leader), 1);
    }
    const next = (await fake.deliver('acme-telegram', { from: '7100000199', text: 'after the switch' })) as any;
    const key = `${next.message.chat.id}:${next.message.message_id}`;
    await waitFor(async () => (await rows(other)).includes(key), { timeoutMs: 30_000, intervalMs: 200, description: 'recorded by the survivor' });
    expect(other.daemon.pollers!.get('acme-telegram')!.isLeader).toBe(true);
    const dupes = await other.sql!`select external_id, count(*)::int as n from messages where account = 'acme-telegram' group by external_id having count(*) > 1`;
    expect(dupes).toEqual([]);
    const events = await other.events(subject, { atLeast: 13, timeoutMs: 20_000 });
    expect(duplicates(countBy(events, (e) => e.msgId))).toEqual([]);
    expect(events.map((e) => e.data.externalId)).toContain(key);
  });
});

describe('telegram polling conflicts and shutdown', () => {
  let t: TestDaemon;
  const logs: string[] = [];

  beforeAll(async () => {
    const destination = new Writable({
      write(chunk, _encoding, callback) {
        logs.push(String(chunk));
        callback();
      },
    });
    t = await startTestDaemon({ logLevel: 'info', accounts: { 'acme-telegram.yaml': pollingYaml() }, extra: { polling: { ...polling, conflictBackoffMs: 60_000 }, logDestination: destination as never } });
  }, 120_000);
  afterAll(async () => {
    await t?.stop();
  });

  const fake = () => t.daemon.fakes.get('telegram') as TelegramFake;
  const pollResults = async (result: string) => {
    const metrics = await (await fetch(`${t.daemon.url}/metrics`)).text();
    const line = metrics.split('\n').find((l) => l.startsWith('omnibus_polls_total{') && l.includes('account="acme-telegram"') && l.includes(`result="${result}"`));
    return line ? Number(line.split(' ').at(-1)) : 0;
  };

  it('a webhook set at Telegram (409) is logged at error level and not retried in a tight loop', { timeout: 60_000 }, async () => {
    const first = (await fake().deliver('acme-telegram', { from: '7100000300', text: 'before the webhook' })) as any;
    await waitFor(async () => (await t.sql!`select 1 from messages where external_id = ${`${first.message.chat.id}:${first.message.message_id}`}`).length === 1, {
      timeoutMs: 30_000,
      description: 'first update recorded',
    });
    // Someone (another deployment) registers a webhook for the same bot: the poll in flight ends in 409.
    const setWebhook = await fetch(`${t.daemon.url}/sandbox/telegram/bot${TOKEN}/setWebhook`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ url: 'https://elsewhere.example/hook' }) });
    expect(setWebhook.status).toBe(200);
    await waitFor(() => logs.some((line) => line.includes('"level":50') && line.includes('another client polling') && line.includes('acme-telegram')), { timeoutMs: 20_000, description: 'conflict logged at error' });
    const conflicts = await pollResults('conflict');
    expect(conflicts).toBeGreaterThanOrEqual(1);
    // While backing off, the poller asks nothing more: wait for two more lease renew periods and recount.
    const waited = Date.now();
    await waitFor(() => Date.now() - waited > 3_000, { timeoutMs: 10_000, intervalMs: 200 });
    expect(await pollResults('conflict')).toBe(conflicts);
    expect(fake().bot('acme-telegram').polling).toBe(false);
    expect(logs.join('\n')).not.toContain(TOKEN.split(':')[1]!);
  });

  it('a hot reload to webhook mode stops the old loop; and no poll is left waiting at Telegram', { timeout: 60_000 }, async () => {
    await fetch(`${t.daemon.url}/sandbox/telegram/bot${TOKEN}/deleteWebhook`, { method: 'POST' });
    const old = t.daemon.pollers!.get('acme-telegram')!;
    await writeFile(path.join(t.dir, 'channels', 'acme-telegram.yaml'), ['id: acme-telegram', 'channel: telegram', `botToken: "${TOKEN}"`, 'mode: webhook', 'secretToken: reload-secret-token-0123456789'].join('\n') + '\n');
    await waitFor(() => t.daemon.pollers!.get('acme-telegram') === undefined, { timeoutMs: 20_000, description: 'poller gone after reload' });
    await waitFor(async () => (await t.sql!`select 1 from leases where name = 'poll:telegram:acme-telegram'`).length === 0, { timeoutMs: 20_000, description: 'lease released' });
    expect(old.isLeader).toBe(false);
    // An update queued now is not fetched by anyone (webhook mode posts instead). The last update
    // recorded before the 409 is still pending too: only a later poll's offset confirms it.
    const pending = fake().bot('acme-telegram').updates.length;
    fake().enqueue('acme-telegram', { message: { message_id: 1, chat: { id: 7100000301, type: 'private' }, from: { id: 7100000301, is_bot: false, first_name: 'X' }, date: 1764000000, text: 'queued' } });
    expect(fake().bot('acme-telegram').polling).toBe(false);
    expect(fake().bot('acme-telegram').updates).toHaveLength(pending + 1);
  });
});
