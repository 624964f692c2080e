/**
 * Group commit: webhooks that arrive while a transaction commits are recorded together in the
 * next one, and each is answered only after that commit. A webhook that makes the shared
 * transaction fail for a reason that is not its data (so it cannot be dead-lettered) gets its
 * 503 alone; the others of its batch are recorded and answered 200.
 *
 * To hold webhooks in the queue without timing anything, a trigger makes the first webhook's
 * transaction wait on an advisory lock the test holds; the queue depth is read from /metrics.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import postgres from 'postgres';
import { WA, startTestDaemon, type TestDaemon } from '../support/daemon.ts';
import { metricValue as metric, until, untilHeldOnLock, whatsappTexts } from '../support/held-batch.ts';

const webhook = (id: string, sender: string) => whatsappTexts(WA.phoneNumberId, [{ id, from: sender, name: 'Kerry Fisher' }]);
import { laneOf } from '../../src/core/inbound/group-commit.ts';
import type { InboundEvent } from '../../src/core/adapter.ts';

const LOCK = 917_331;
const tag = `GC${Date.now()}`;
const wamid = (name: string) => `wamid.${tag}${name}`;


/** The daemon's group-commit lanes on PostgreSQL. */
const LANES = 2;
const BLOCKER = '16315550001';
const lane = (sender: string) => laneOf({ channel: 'whatsapp', account: WA.account }, [{ kind: 'message', conversation: { externalId: sender } } as InboundEvent], LANES);

/** `count` senders from `base` on whose lane is (or is not) the blocker's. */
function senders(base: number, count: number, sameLane: boolean): string[] {
  const found: string[] = [];
  for (let n = base; found.length < count; n++) if ((lane(String(n)) === lane(BLOCKER)) === sameLane) found.push(String(n));
  return found;
}



describe('group commit', () => {
  let t: TestDaemon;
  let admin: postgres.Sql;

  beforeAll(async () => {
    // Two lanes whatever the machine (`auto` picks one on a 2-core box).
    t = await startTestDaemon({ extra: { ingestLanes: LANES } });
    admin = postgres(t.databaseUrl!, { max: 3, onnotice: () => {} });
    // The blocker waits for the test's lock; the poison fails with a non-data SQLSTATE (P0001),
    // which the ingest must not dead-letter: only a 503 makes the platform retry it.
    await admin.unsafe(`
      create sequence gc_deadlock_attempts;
      create function gc_test_trigger() returns trigger language plpgsql as $$
      begin
        if new.external_id like '%BLOCK%' then perform pg_advisory_xact_lock(${LOCK}); end if;
        if new.external_id like '%POISON%' then raise exception 'test poison'; end if;
        -- Sequences are not rolled back: the first two attempts fail as a deadlock victim would.
        if new.external_id like '%DEADLOCK%' and nextval('gc_deadlock_attempts') <= 2 then
          raise exception 'deadlock detected (test)' using errcode = '40P01';
        end if;
        return new;
      end $$;
      create trigger gc_test before insert on messages for each row execute function gc_test_trigger();`);
  });
  afterAll(async () => {
    await admin?.end({ timeout: 2 });
    await t?.stop();
  });

  /** Posts `blocker` and, while its transaction waits on the lock, `queued`; then lets go. */
  async function heldBatch(blocker: string, queued: Array<{ id: string; sender: string }>): Promise<{ blocker: number; queued: number[] }> {
    const lock = await admin.reserve();
    try {
      await lock`select pg_advisory_lock(${LOCK})`;
      const first = t.postWhatsApp(webhook(blocker, BLOCKER));
      await untilHeldOnLock(admin, 'the first webhook waits on the lock');
      const rest = queued.map((item) => t.postWhatsApp(webhook(item.id, item.sender)));
      await until(async () => (await metric(t, 'omnibus_ingest_queued')) === queued.length, 'every other webhook queued');
      await lock`select pg_advisory_unlock(${LOCK})`;
      return { blocker: (await first).status, queued: (await Promise.all(rest)).map((r) => r.status) };
    } finally {
      lock.release();
    }
  }

  it('records the webhooks that queued during a commit in one transaction, answering each after it', async () => {
    const count0 = await metric(t, 'omnibus_ingest_batch_size_count');
    const sum0 = await metric(t, 'omnibus_ingest_batch_size_sum');
    // Senders on the blocker's lane: the other lane would record them at once.
    const queued = senders(16_315_550_100, 5, true).map((sender, i) => ({ id: wamid(`OK${i}`), sender }));
    const answers = await heldBatch(wamid('BLOCK1'), queued);
    expect(answers).toEqual({ blocker: 200, queued: [200, 200, 200, 200, 200] });
    // Two transactions: the blocker alone, then the five that queued behind it.
    expect((await metric(t, 'omnibus_ingest_batch_size_count')) - count0).toBe(2);
    expect((await metric(t, 'omnibus_ingest_batch_size_sum')) - sum0).toBe(6);
    const rows = await t.sql!`select external_id from messages where external_id like ${`wamid.${tag}OK%`}`;
    expect(rows).toHaveLength(5);
  });

  it('answers 503 only to the webhook that fails its batch; the others are recorded and get 200', async () => {
    const [a, b, poison, c] = senders(16_315_550_200, 4, true);
    const queued = [
      { id: wamid('A'), sender: a! },
      { id: wamid('B'), sender: b! },
      { id: wamid('POISON'), sender: poison! },
      { id: wamid('C'), sender: c! },
    ];
    const answers = await heldBatch(wamid('BLOCK2'), queued);
    expect(answers).toEqual({ blocker: 200, queued: [200, 200, 503, 200] });
    const rows = await t.sql!`select external_id from messages where external_id = any(${[wamid('A'), wamid('B'), wamid('C'), wamid('POISON')]}) order by external_id`;
    expect(rows.map((r) => r.external_id)).toEqual([wamid('A'), wamid('B'), wamid('C')]);
    // Not dead-lettered: the platform's retry is its way back in.
    expect(await t.sql!`select 1 from inbound_dead_letters where dedupe_key = ${wamid('POISON')}`).toHaveLength(0);
    // Each recorded message is announced once.
    const events = await t.events(`${t.prefix}.v1.evt.message.in.whatsapp.${WA.account}`, { atLeast: 3, where: (e) => [wamid('A'), wamid('B'), wamid('C')].includes(e.data.externalId) });
    expect(events).toHaveLength(3);
  });

  it('runs a transaction PostgreSQL aborted as a deadlock victim again, and answers 200', async () => {
    const answer = await t.postWhatsApp(webhook(wamid('DEADLOCK1'), '16315550601'));
    expect(answer.status).toBe(200);
    expect(await admin`select 1 from messages where external_id = ${wamid('DEADLOCK1')}`).toHaveLength(1);
    // Two aborted attempts, then the one that committed.
    const [attempts] = await admin<{ n: number }[]>`select last_value::int as n from gc_deadlock_attempts`;
    expect(attempts!.n).toBe(3);
  });

  it('records the other lane while one waits, and a webhook for the waiting conversation after it', async () => {
    const [other] = senders(16_315_550_300, 1, false);
    const lock = await admin.reserve();
    try {
      await lock`select pg_advisory_lock(${LOCK})`;
      const first = t.postWhatsApp(webhook(wamid('BLOCK3'), BLOCKER));
      await untilHeldOnLock(admin, 'the first webhook waits on the lock');
      // Another conversation, on the other lane: recorded and answered while the first waits.
      expect((await t.postWhatsApp(webhook(wamid('OTHERLANE'), other!))).status).toBe(200);
      expect(await t.sql!`select 1 from messages where external_id = ${wamid('OTHERLANE')}`).toHaveLength(1);
      // The blocker's own conversation waits behind it: order within a conversation holds.
      const after = t.postWhatsApp(webhook(wamid('AFTER'), BLOCKER));
      await until(async () => (await metric(t, 'omnibus_ingest_queued')) === 1, 'the follow-up queued behind the blocker');
      expect(await t.sql!`select 1 from messages where external_id in (${wamid('BLOCK3')}, ${wamid('AFTER')})`).toHaveLength(0);
      await lock`select pg_advisory_unlock(${LOCK})`;
      expect([(await first).status, (await after).status]).toEqual([200, 200]);
      // Outbox ids are handed out at insert: the order they were recorded in, and published in.
      const rows = await t.sql!`select payload->>'externalId' as external_id from outbox where payload->>'externalId' in (${wamid('BLOCK3')}, ${wamid('AFTER')}) order by id`;
      expect(rows.map((r) => r.external_id)).toEqual([wamid('BLOCK3'), wamid('AFTER')]);
    } finally {
      lock.release();
    }
  });
});

describe('group-commit lanes', () => {
  it('keeps a conversation on one lane, and makes a webhook spanning lanes (or about a person) a barrier', () => {
    const scope = { channel: 'whatsapp', account: 'acc' };
    const message = (conversation: string) => ({ kind: 'message', conversation: { externalId: conversation } }) as InboundEvent;
    const picks = Array.from({ length: 50 }, (_, i) => laneOf(scope, [message(`c${i}`)], 4));
    // Stable, spread, and never a barrier for one conversation.
    expect(picks).toEqual(Array.from({ length: 50 }, (_, i) => laneOf(scope, [message(`c${i}`)], 4)));
    expect(new Set(picks).size).toBe(4);
    const [x, y] = ['c0', 'c1'].map((c) => laneOf(scope, [message(c)], 4));
    const other = Array.from({ length: 50 }, (_, i) => `c${i}`).find((c) => laneOf(scope, [message(c)], 4) !== x)!;
    expect(laneOf(scope, [message('c0'), message('c0')], 4)).toBe(x);
    expect(laneOf(scope, [message('c0'), message(other)], 4)).toBe('all');
    expect(laneOf(scope, [message('c1'), { kind: 'ignored', reason: 'x' } as InboundEvent], 4)).toBe(y);
    expect(laneOf(scope, [{ kind: 'identity' } as InboundEvent], 4)).toBe('all');
    expect(laneOf(scope, [message('c0'), message(other)], 1)).toBe(0);
  });
});
