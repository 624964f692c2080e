/**
 * Set-based recording: the follow-ups of known senders that share a batch are written by one
 * statement (a statement-level trigger counts the rows each INSERT into `messages` wrote), and
 * what they leave behind is what the per-event path leaves: one row per message, the sender's
 * new name, one service window per conversation (extended, not reopened), each event once, in
 * order per conversation, naming the stored contact and conversation. In the same batch a
 * redelivery stays one message and a new sender takes the per-event path.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import postgres from 'postgres';
import { sql as dsql } from 'drizzle-orm';
import { rowsOf as rowsOfResult } from '../../src/core/storage/lease.ts';
import { WA, startTestDaemon, type TestDaemon } from '../support/daemon.ts';
import { metricValue as metric, until, untilHeldOnLock, whatsappTexts } from '../support/held-batch.ts';

const webhook = (id: string, from: string, name = 'Kerry Fisher') => whatsappTexts(WA.phoneNumberId, [{ id, from, name }]);

const LOCK = 917_441;
const tag = `SR${Date.now()}`;
const wamid = (name: string) => `wamid.${tag}${name}`;
const sender = (n: number) => `1631556${String(n).padStart(4, '0')}`;

describe('set-based recording of a batch', () => {
  let t: TestDaemon;
  let admin: postgres.Sql;

  beforeAll(async () => {
    // One lane: the test holds one transaction and counts every other webhook queued behind it.
    t = await startTestDaemon({ extra: { ingestLanes: 1 } });
    admin = postgres(t.databaseUrl!, { max: 3, onnotice: () => {} });
    await admin.unsafe(`
      create table sr_insert_sizes (n int not null);
      create function sr_block() returns trigger language plpgsql as $$
      begin
        if new.external_id like '%BLOCK%' then perform pg_advisory_xact_lock(${LOCK}); end if;
        return new;
      end $$;
      create trigger sr_block before insert on messages for each row execute function sr_block();
      create function sr_count() returns trigger language plpgsql as $$
      begin
        insert into sr_insert_sizes select count(*) from new_rows;
        return null;
      end $$;
      create trigger sr_count after insert on messages referencing new table as new_rows for each statement execute function sr_count();`);
  });
  afterAll(async () => {
    await admin?.end({ timeout: 2 });
    await t?.stop();
  });

  it('writes the follow-ups of known senders with one statement and leaves what the per-event path leaves', async () => {
    for (const n of [1, 2, 3]) expect((await t.postWhatsApp(webhook(wamid(`S${n}M1`), sender(n)))).status).toBe(200);
    await admin`delete from sr_insert_sizes`;

    const lock = await admin.reserve();
    let answers: number[];
    try {
      await lock`select pg_advisory_lock(${LOCK})`;
      const first = t.postWhatsApp(webhook(wamid('BLOCK'), sender(9)));
      await untilHeldOnLock(admin, 'the first webhook waits on the lock');
      const queued = [
        webhook(wamid('S1M2'), sender(1), 'Kerry New'),
        webhook(wamid('S2M2'), sender(2)),
        webhook(wamid('S1M3'), sender(1), 'Kerry New'),
        webhook(wamid('S3M1'), sender(3)),
        webhook(wamid('S4M1'), sender(4)),
        webhook(wamid('S3M2'), sender(3)),
      ];
      const rest = queued.map((body) => t.postWhatsApp(body));
      await until(async () => (await metric(t, 'omnibus_ingest_queued')) === queued.length, 'every other webhook queued');
      await lock`select pg_advisory_unlock(${LOCK})`;
      answers = [(await first).status, ...(await Promise.all(rest)).map((r) => r.status)];
    } finally {
      lock.release();
    }
    expect(answers).toEqual([200, 200, 200, 200, 200, 200, 200]);

    // The four follow-ups of known senders and the new sender's first message went in with one INSERT.
    const sizes = (await admin<{ n: number }[]>`select n from sr_insert_sizes`).map((r) => r.n);
    expect(Math.max(...sizes)).toBe(5);

    const rows = await admin<{ external_id: string; conversation_id: string; identity_id: string }[]>`
      select external_id, conversation_id, identity_id from messages where external_id like ${`wamid.${tag}S%`} order by external_id`;
    expect(rows.map((r) => r.external_id)).toEqual(['S1M1', 'S1M2', 'S1M3', 'S2M1', 'S2M2', 'S3M1', 'S3M2', 'S4M1'].map(wamid));

    const [kerry] = await admin<{ display_name: string; contact_id: string }[]>`
      select display_name, contact_id from identities where channel = 'whatsapp' and external_id = ${sender(1)}`;
    expect(kerry!.display_name).toBe('Kerry New');

    // One window per conversation: extended by the follow-ups, never a second one opened.
    const windows = await admin<{ external_id: string; n: number }[]>`
      select c.external_id, count(w.id)::int as n from conversations c join session_windows w on w.conversation_id = c.id
      where c.external_id = any(${[1, 2, 3, 4].map(sender)}) group by c.external_id order by c.external_id`;
    expect(windows.map((w) => w.n)).toEqual([1, 1, 1, 1]);

    const byId = new Map(rows.map((r) => [r.external_id, r]));
    const events = await t.events(`${t.prefix}.v1.evt.message.in.whatsapp.${WA.account}`, { atLeast: byId.size, where: (e) => byId.has(e.data.externalId) });
    expect(events.map((e) => e.data.externalId).sort()).toEqual([...byId.keys()].sort());
    for (const event of events) {
      const row = byId.get(event.data.externalId)!;
      expect(event.data.conversationId).toBe(row.conversation_id);
      expect(event.data.session).not.toBeNull();
    }
    const s1 = events.filter((e) => e.data.contact.identity.externalId === sender(1));
    expect(s1.map((e) => e.data.externalId)).toEqual(['S1M1', 'S1M2', 'S1M3'].map(wamid));
    expect(s1.map((e) => e.data.contact.id)).toEqual([kerry!.contact_id, kerry!.contact_id, kerry!.contact_id]);
    expect(s1[2]!.data.contact.displayName).toBe('Kerry New');

    const opened = await t.events(`${t.prefix}.v1.evt.session.opened.whatsapp.${WA.account}`, {
      atLeast: 4,
      where: (e) => windows.length > 0 && rows.some((r) => r.conversation_id === e.data.conversationId),
    });
    expect(opened).toHaveLength(4);
  });

  it('plans the per-event statements after a set-based write as usual, and after a batch of redeliveries', async () => {
    // Each row records the planning mode its statement ran under.
    await admin.unsafe(`
      create table sr_plan_modes (what text not null, mode text not null);
      create function sr_plan_mode() returns trigger language plpgsql as $$
      begin
        insert into sr_plan_modes values (tg_table_name, current_setting('plan_cache_mode'));
        return new;
      end $$;
      create trigger sr_plan_mode_messages after insert on messages for each row execute function sr_plan_mode();
      create trigger sr_plan_mode_receipts after insert on status_receipts for each row execute function sr_plan_mode();`);
    // A text, then a receipt of a message never sent from here (recorded per event, after it).
    const textAndReceipt = (receiptId: string, status: string) => {
      const body = whatsappTexts(WA.phoneNumberId, [{ id: wamid('PLAN1'), from: sender(2), name: 'Kerry Fisher' }]) as {
        entry: Array<{ changes: Array<{ field: string; value: Record<string, unknown> }> }>;
      };
      body.entry[0]!.changes.push({
        field: 'messages',
        value: {
          messaging_product: 'whatsapp',
          metadata: { display_phone_number: '15550783881', phone_number_id: WA.phoneNumberId },
          statuses: [{ id: wamid(receiptId), status, timestamp: String(Math.floor(Date.now() / 1000)), recipient_id: sender(2) }],
        },
      });
      return body;
    };
    const modes = () => admin<{ what: string; mode: string }[]>`select what, mode from sr_plan_modes order by what`;
    try {
      expect((await t.postWhatsApp(textAndReceipt('PLANOUT', 'delivered'))).status).toBe(200);
      expect(await modes()).toEqual([
        { what: 'messages', mode: 'force_generic_plan' },
        { what: 'status_receipts', mode: 'auto' },
      ]);
      // The text again (a redelivery: the batch writes nothing set-based) and a new receipt.
      await admin`truncate sr_plan_modes`;
      expect((await t.postWhatsApp(textAndReceipt('PLANOUT2', 'read'))).status).toBe(200);
      expect(await modes()).toEqual([{ what: 'status_receipts', mode: 'auto' }]);
    } finally {
      await admin.unsafe('drop table sr_plan_modes cascade; drop function sr_plan_mode() cascade');
    }
  });
});

describe('set-based recording on PGlite', () => {
  let t: TestDaemon;
  // Either driver's result shape (an array from postgres.js, `{ rows }` otherwise).
  const rowsOf = (result: unknown) => rowsOfResult<Record<string, unknown>>(result);

  beforeAll(async () => {
    t = await startTestDaemon({ pglite: true });
    const statements = [
      'create table sr_insert_sizes (n int not null)',
      `create function sr_count() returns trigger language plpgsql as $$
      begin
        insert into sr_insert_sizes select count(*) from new_rows;
        return null;
      end $$`,
      'create trigger sr_count after insert on messages referencing new table as new_rows for each statement execute function sr_count()',
    ];
    for (const statement of statements) await t.daemon.database.db.execute(dsql.raw(statement));
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('records the known senders of one webhook with one statement, the same schema and SQL as on PostgreSQL', async () => {
    const db = t.daemon.database.db;
    for (const n of [11, 12]) expect((await t.postWhatsApp(webhook(wamid(`L${n}M1`), sender(n)))).status).toBe(200);
    await db.execute(dsql`delete from sr_insert_sizes`);
    // One webhook, four messages of two known senders (Meta batches like this under load).
    const body = webhook(wamid('L11M2'), sender(11)) as any;
    const value = body.entry[0].changes[0].value;
    value.contacts.push({ profile: { name: 'Other' }, wa_id: sender(12) });
    const at = String(Math.floor(Date.now() / 1000));
    value.messages.push(
      { from: sender(12), id: wamid('L12M2'), timestamp: at, type: 'text', text: { body: 'b' } },
      { from: sender(11), id: wamid('L11M3'), timestamp: at, type: 'text', text: { body: 'c' } },
      { from: sender(12), id: wamid('L12M3'), timestamp: at, type: 'text', text: { body: 'd' } },
    );
    expect((await t.postWhatsApp(body)).status).toBe(200);
    expect(rowsOf(await db.execute(dsql`select max(n)::int as n from sr_insert_sizes`))[0]!.n).toBe(4);
    const windows = rowsOf(await db.execute(dsql`select count(*)::int as n from session_windows`));
    expect(windows[0]!.n).toBe(2);
    const events = (await t.events(`${t.prefix}.v1.evt.message.in.whatsapp.${WA.account}`, { atLeast: 6 })).map((e) => e.data.externalId);
    expect(events).toEqual(['L11M1', 'L12M1', 'L11M2', 'L12M2', 'L11M3', 'L12M3'].map(wamid));
    // A redelivery of the whole webhook records nothing and publishes nothing.
    expect((await t.postWhatsApp(body)).status).toBe(200);
    expect(rowsOf(await db.execute(dsql`select count(*)::int as n from messages`))[0]!.n).toBe(6);
  });
});
