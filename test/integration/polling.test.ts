/**
 * The core-owned poll loop against real PostgreSQL: one poller per account across replicas
 * (a lease), taken over when its holder stops or dies, the cursor committed in the transaction
 * of the events it delivered, a conflict backed off loudly, and a reload or removal that stops
 * the old loop. The platform is the test channel's fake (`test/inbound/poll-channel.ts`).
 */
import { writeFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { channels } from '../../src/channels/index.ts';
import { OmniError } from '../../src/core/errors.ts';
import { startTestDaemon, whatsappAccountYaml, type TestDaemon } from '../support/daemon.ts';
import { createTestDatabase, uniquePrefix, waitFor, type TestDatabase } from '../support/services.ts';
import { pollChannelDefinition, pollChannelYaml, pollPlatform } from '../inbound/poll-channel.ts';

const withPolling = new Map([...channels, ['pollchan', pollChannelDefinition()], ['deafpoll', pollChannelDefinition('deafpoll', { capable: false })]]);
const polling = { leaseTtlMs: 1_500, standbyMs: 100, backoffMs: 100, maxBackoffMs: 400, conflictBackoffMs: 120_000 };

/** Stored messages with this dedupe key (update ids are unique across the test run). */
async function rowsOf(t: TestDaemon, dedupeKey: string): Promise<number> {
  return (await t.sql!`select 1 from messages where channel = 'pollchan' and dedupe_key = ${dedupeKey}`).length;
}

async function cursorOf(t: TestDaemon, account: string): Promise<string | null | undefined> {
  const [row] = await t.sql!`select cursor from poll_cursors where channel = 'pollchan' and account = ${account}`;
  return row ? (row.cursor as string | null) : undefined;
}

describe('one poller per account across replicas', () => {
  let database: TestDatabase;
  const prefix = uniquePrefix();
  const replicas: TestDaemon[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    const options = { databaseUrl: database.url, prefix, extra: { channels: withPolling, polling, watch: false } };
    const a = await startTestDaemon({ ...options, accounts: { 'acme-wa.yaml': whatsappAccountYaml(), 'bot-a.yaml': pollChannelYaml('bot-a') } });
    replicas.push(a);
    replicas.push(await startTestDaemon({ ...options, dir: a.dir }));
  });
  afterAll(async () => {
    for (const replica of replicas.splice(0)) await replica.stop().catch(() => {});
    await database?.drop();
  });

  const leaderOf = () => replicas.find((r) => r.daemon.pollers?.get('bot-a')?.isLeader);

  it('two daemons on one database: one of them polls, and every update is recorded once', { timeout: 60_000 }, async () => {
    const sent = [pollPlatform.push('bot-a', 'alice', 'one'), pollPlatform.push('bot-a', 'bob', 'two'), pollPlatform.push('bot-a', 'alice', 'three')];
    const [a] = replicas as [TestDaemon];
    await waitFor(async () => (await Promise.all(sent.map((u) => rowsOf(a, u.dedupeKey)))).every((n) => n === 1), { timeoutMs: 20_000, description: 'three updates recorded' });
    expect(await cursorOf(a, 'bot-a')).toBe(String(sent[2]!.id));
    const pollers = new Set(pollPlatform.calls('bot-a').map((c) => c.adapter));
    expect(pollers.size).toBe(1);
    const leader = leaderOf()!;
    expect(leader).toBeDefined();
    expect([...pollers][0]).toBe(leader.daemon.registry.get('bot-a')!.adapter);
    expect(pollPlatform.prepared().filter((p) => p.account === 'bot-a')).toEqual([leader.daemon.registry.get('bot-a')!.adapter]);
    // The stand-by never polled, so nothing was fetched twice.
    const other = replicas.find((r) => r !== leader)!;
    expect(pollPlatform.calls('bot-a').filter((c) => c.adapter === other.daemon.registry.get('bot-a')!.adapter)).toEqual([]);
  });

  it('when the polling daemon stops, its poll is aborted and the other daemon takes over from the cursor', { timeout: 60_000 }, async () => {
    const leader = leaderOf()!;
    const other = replicas.find((r) => r !== leader)!;
    const oldAdapter = leader.daemon.registry.get('bot-a')!.adapter;
    const committed = await cursorOf(leader, 'bot-a');
    await leader.stop();
    replicas.splice(replicas.indexOf(leader), 1);
    expect(pollPlatform.calls('bot-a').filter((c) => c.adapter === oldAdapter).at(-1)!.aborted).toBe(true);

    const next = pollPlatform.push('bot-a', 'carol', 'after the switch');
    await waitFor(async () => (await rowsOf(other, next.dedupeKey)) === 1, { timeoutMs: 20_000, description: 'update recorded by the survivor' });
    const newAdapter = other.daemon.registry.get('bot-a')!.adapter;
    const survivorCalls = pollPlatform.calls('bot-a').filter((c) => c.adapter === newAdapter);
    expect(survivorCalls.some((c) => (c.returned ?? 0) > 0)).toBe(true);
    // It started from the committed cursor: nothing before the switch was fetched again.
    expect(survivorCalls[0]!.cursor).toBe(committed);
    expect(other.daemon.pollers!.get('bot-a')!.isLeader).toBe(true);
    const total = await other.sql!`select dedupe_key, count(*)::int as n from messages where account = 'bot-a' group by dedupe_key having count(*) > 1`;
    expect(total).toEqual([]);
  });
});

describe('one polling daemon', () => {
  let t: TestDaemon;
  const logs: string[] = [];

  beforeAll(async () => {
    const destination = new Writable({
      write(chunk, _encoding, callback) {
        logs.push(String(chunk));
        callback();
      },
    });
    t = await startTestDaemon({
      logLevel: 'info',
      accounts: { 'acme-wa.yaml': whatsappAccountYaml(), 'bot-c.yaml': pollChannelYaml('bot-c') },
      extra: { channels: withPolling, polling, logDestination: destination as never },
    });
  });
  afterAll(async () => {
    await t?.stop();
  });

  async function reloaded(write: () => Promise<void>, done: () => boolean): Promise<void> {
    await write();
    await waitFor(done, { timeoutMs: 20_000, intervalMs: 50, description: 'config reload applied' });
  }

  it('commits the cursor with the events: a commit that fails records neither, and the retry records once', { timeout: 60_000 }, async () => {
    const sql = t.sql!;
    // The database fails the commit after the poll returned (as a crash would cut it).
    await sql.unsafe(`
      create function fail_cursor() returns trigger language plpgsql as $$
      begin raise exception 'simulated crash' using errcode = '08006'; end $$;
      create trigger fail_cursor before insert or update on poll_cursors for each row when (new.account = 'bot-c') execute function fail_cursor();`);
    const before = await cursorOf(t, 'bot-c');
    const update = pollPlatform.push('bot-c', 'dave', 'lost in a crash?');
    await waitFor(() => pollPlatform.calls('bot-c').some((c) => c.returned === 1 && c.cursor === (before ?? null)), { timeoutMs: 20_000, description: 'update fetched' });
    await waitFor(async () => /omnibus_polls_total\{[^}]*account="bot-c"[^}]*result="error"[^}]*\} [1-9]/.test(await (await fetch(`${t.daemon.url}/metrics`)).text()), {
      timeoutMs: 20_000,
      description: 'failed commit counted',
    });
    expect(await rowsOf(t, update.dedupeKey)).toBe(0);
    expect(await cursorOf(t, 'bot-c')).toBe(before);

    await sql.unsafe(`drop trigger fail_cursor on poll_cursors; drop function fail_cursor();`);
    await waitFor(async () => (await rowsOf(t, update.dedupeKey)) === 1, { timeoutMs: 20_000, description: 'update recorded after the failure' });
    expect(await cursorOf(t, 'bot-c')).toBe(String(update.id));
    // It was fetched again from the old cursor, and stored once.
    expect(pollPlatform.calls('bot-c').filter((c) => c.returned === 1 && c.cursor === (before ?? null)).length).toBeGreaterThanOrEqual(2);
    expect(await rowsOf(t, update.dedupeKey)).toBe(1);
  });

  it('takes over the lease of a dead holder once it lapses, and only then polls', { timeout: 60_000 }, async () => {
    await t.sql!`insert into leases (name, holder, expires_at) values ('poll:pollchan:bot-g', 'dead-replica', now() + interval '1 hour')`;
    await reloaded(
      () => writeFile(path.join(t.dir, 'channels', 'bot-g.yaml'), pollChannelYaml('bot-g')),
      () => t.daemon.pollers?.get('bot-g') !== undefined,
    );
    const update = pollPlatform.push('bot-g', 'erin', 'waiting for the lease');
    // The dead holder's lease is still valid: the new poller stands by.
    expect(t.daemon.pollers!.get('bot-g')!.isLeader).toBe(false);
    expect(pollPlatform.calls('bot-g')).toEqual([]);
    await t.sql!`update leases set expires_at = now() - interval '1 second' where name = 'poll:pollchan:bot-g'`;
    await waitFor(async () => (await rowsOf(t, update.dedupeKey)) === 1, { timeoutMs: 20_000, description: 'recorded after takeover' });
    const [lease] = await t.sql!`select holder from leases where name = 'poll:pollchan:bot-g'`;
    expect(lease!.holder).toMatch(new RegExp(`^${t.daemon.instanceId}:poll-`));
  });

  it('a reload stops the old loop before the new adapter polls; removing the account stops it and frees the lease', { timeout: 60_000 }, async () => {
    const file = path.join(t.dir, 'channels', 'bot-c.yaml');
    const oldAdapter = t.daemon.registry.get('bot-c')!.adapter;
    await waitFor(() => pollPlatform.calls('bot-c').some((c) => c.adapter === oldAdapter && c.returned === undefined && !c.failed && !c.aborted), { timeoutMs: 20_000, description: 'a poll in flight' });
    await reloaded(
      () => writeFile(file, pollChannelYaml('bot-c', { tag: 'second' })),
      () => t.daemon.registry.get('bot-c')?.adapter !== oldAdapter,
    );
    const newAdapter = t.daemon.registry.get('bot-c')!.adapter;
    const update = pollPlatform.push('bot-c', 'frank', 'after the reload');
    await waitFor(async () => (await rowsOf(t, update.dedupeKey)) === 1, { timeoutMs: 20_000, description: 'recorded by the new loop' });
    const calls = pollPlatform.calls('bot-c');
    const lastOld = calls.map((c) => c.adapter).lastIndexOf(oldAdapter);
    expect(calls[lastOld]!.aborted).toBe(true);
    expect(calls.findIndex((c) => c.adapter === newAdapter)).toBeGreaterThan(lastOld);

    await reloaded(
      () => rm(file),
      () => t.daemon.registry.get('bot-c') === undefined,
    );
    await waitFor(async () => (await t.sql!`select 1 from leases where name = 'poll:pollchan:bot-c'`).length === 0, { timeoutMs: 20_000, description: 'lease released' });
    expect(t.daemon.pollers!.get('bot-c')).toBeUndefined();
    expect(pollPlatform.calls('bot-c').at(-1)!.aborted).toBe(true);
  });

  it('a conflict (another client polling the bot) is logged at error level and backed off, not retried in a loop', { timeout: 60_000 }, async () => {
    pollPlatform.failNext('bot-x', new OmniError('conflict', 'terminated by other getUpdates request'));
    await reloaded(
      () => writeFile(path.join(t.dir, 'channels', 'bot-x.yaml'), pollChannelYaml('bot-x')),
      () => t.daemon.pollers?.get('bot-x') !== undefined,
    );
    await waitFor(() => logs.some((line) => line.includes('"level":50') && line.includes('another client polling') && line.includes('bot-x')), { timeoutMs: 20_000, description: 'conflict logged' });
    const metrics = await (await fetch(`${t.daemon.url}/metrics`)).text();
    expect(metrics).toMatch(/omnibus_polls_total\{[^}]*account="bot-x"[^}]*result="conflict"[^}]*\} 1/);
    // Backing off: the one failed call, no tight loop of retries.
    expect(pollPlatform.calls('bot-x')).toHaveLength(1);
  });
});

describe('polling configuration', () => {
  it('refuses an account that polls on a channel whose capabilities do not list polling', { timeout: 60_000 }, async () => {
    await expect(
      startTestDaemon({ accounts: { 'acme-wa.yaml': whatsappAccountYaml(), 'deaf.yaml': pollChannelYaml('deaf', {}, 'deafpoll') }, extra: { channels: withPolling, polling, watch: false } }),
    ).rejects.toThrow(/inbound mode 'polling' needs a channel whose capabilities list 'polling'/);
  });
});
