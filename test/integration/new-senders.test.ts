/**
 * First sightings on the set-based path: a batch of new LINE users is recorded with a fixed
 * number of INSERTs into `messages` (a statement-level trigger counts them) and leaves exactly
 * the rows and the outbox events the per-event path leaves (the daemon option `ingestPerEventOnly`),
 * ids aside; a new WhatsApp sender whose verified phone another contact has still merges; two
 * replicas racing on the same new user end with one identity, one conversation and each
 * message once; and PGlite takes the same SQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import postgres from 'postgres';
import { sql as dsql } from 'drizzle-orm';
import { rowsOf as rowsOfResult } from '../../src/core/storage/lease.ts';
import { lineSignature } from '../../src/channels/line/verify.ts';
import { ManualClock } from '../../src/core/clock.ts';
import { WA, startTestDaemon, whatsappAccountYaml, type TestDaemon } from '../support/daemon.ts';
import { metricValue, until, untilHeldOnLock, whatsappTexts as waWebhook } from '../support/held-batch.ts';

const SECRET = '8c570fa6dd201bb328f1c1eac23a96d8';
const LINE_YAML = ['id: acme-line', 'channel: line', `channelSecret: ${SECRET}`, 'channelAccessToken: test-long-lived-channel-access-token-0123456789'].join('\n') + '\n';
const RACE_LOCK = 917_442;

let serial = 0;
function textEvent(userId: string, text: string, at: number): Record<string, unknown> {
  serial++;
  return {
    type: 'message',
    mode: 'active',
    timestamp: at,
    source: { type: 'user', userId },
    webhookEventId: `01JNEWSENDER${String(serial).padStart(14, '0')}`,
    deliveryContext: { isRedelivery: false },
    replyToken: `reply${String(serial).padStart(27, '0')}`,
    message: { id: String(700000000000000 + serial), type: 'text', quoteToken: `q${serial}`, text },
  };
}
const user = (n: number) => `U${n.toString(16).padStart(32, '0')}`;
const lineBatch = (events: unknown[]) => JSON.stringify({ destination: 'U0123456789abcdef0123456789abcdef', events });
const postLine = (t: TestDaemon, body: string) =>
  fetch(`${t.daemon.url}/webhooks/line/acme-line`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-line-signature': lineSignature(SECRET, body) }, body });


const COUNT_INSERTS = [
  'create table ns_insert_sizes (n int not null)',
  `create function ns_count() returns trigger language plpgsql as $$
  begin
    insert into ns_insert_sizes select count(*) from new_rows;
    return null;
  end $$`,
  'create trigger ns_count after insert on messages referencing new table as new_rows for each statement execute function ns_count()',
];

/** Everything a batch leaves, with the daemon's ids replaced by what they name. */
async function snapshot(sql: postgres.Sql, prefix: string): Promise<unknown> {
  const names = new Map<string, string>();
  const identities = await sql<any[]>`select * from identities order by external_id`;
  for (const row of identities) {
    names.set(row.id, `identity:${row.external_id}`);
    names.set(row.contact_id, `contact:${row.external_id}`);
  }
  const conversations = await sql<any[]>`select * from conversations order by external_id`;
  for (const row of conversations) names.set(row.id, `conversation:${row.external_id}`);
  const windows = await sql<any[]>`select w.*, c.external_id as cv from session_windows w join conversations c on c.id = w.conversation_id order by c.external_id, w.opened_at`;
  for (const row of windows) names.set(row.id, `window:${row.cv}`);
  const messages = await sql<any[]>`select * from messages order by external_id`;
  for (const row of messages) names.set(row.id, `message:${row.external_id}`);
  const contacts = await sql<any[]>`select * from contacts`;
  const outbox = await sql<any[]>`select subject, msg_id, payload, ordering_key, held, created_at from outbox order by id`;
  const rename = (value: unknown): unknown => {
    if (typeof value === 'string') return value.replace(/\b(idn|ct|cv|sw|msg)_[0-9A-Za-z]+/g, (id) => names.get(id) ?? `unnamed:${id}`).replace(`${prefix}.`, 'PREFIX.');
    if (Array.isArray(value)) return value.map(rename);
    if (value instanceof Date) return value.toISOString();
    if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).filter(([key]) => key !== 'seq').map(([k, v]) => [k, rename(v)]));
    return value;
  };
  const byKey = (rows: any[], key: (row: any) => string) => [...rows].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  return rename({
    identities,
    contacts: byKey(contacts, (row) => names.get(row.id)!),
    conversations,
    windows,
    messages,
    // Per ordering key (what consumers see in order), and across keys as a set.
    outbox: byKey(outbox, (row) => `${rename(row.ordering_key)}\u0000${rename(row.msg_id)}`),
    orderPerKey: Object.fromEntries(
      [...new Set(outbox.map((row) => String(rename(row.ordering_key))))].sort().map((key) => [key, outbox.filter((row) => rename(row.ordering_key) === key).map((row) => rename(row.msg_id))]),
    ),
  });
}

describe('first sightings recorded set-based', () => {
  const clockAt = Date.now();
  let fast: TestDaemon;
  let slow: TestDaemon;

  beforeAll(async () => {
    const accounts = { 'acme-line.yaml': LINE_YAML, 'acme-wa.yaml': whatsappAccountYaml() };
    fast = await startTestDaemon({ accounts, clock: new ManualClock(clockAt) });
    slow = await startTestDaemon({ accounts, clock: new ManualClock(clockAt), extra: { ingestPerEventOnly: true } });
    for (const statement of COUNT_INSERTS) await fast.sql!.unsafe(statement);
  }, 120_000);
  afterAll(async () => {
    await fast?.stop();
    await slow?.stop();
  });

  it('records a batch of new users with one INSERT of messages and leaves what the per-event path leaves', { timeout: 60_000 }, async () => {
    const at = clockAt - 60_000;
    // 30 new users, three of them twice, one known user writing again, and one event twice.
    const first = lineBatch([textEvent(user(900), 'known already', at)]);
    const events = [
      ...Array.from({ length: 30 }, (_, i) => textEvent(user(i + 1), `hello ${i}`, at + 1_000 + i)),
      textEvent(user(2), 'again', at + 2_000),
      textEvent(user(900), 'me again', at + 2_001),
      textEvent(user(5), 'again', at + 2_002),
      textEvent(user(30), 'again', at + 2_003),
    ];
    // The platform repeating an event inside one batch: still one message.
    events.push({ ...events[3]! });
    const body = lineBatch(events);
    // WhatsApp: windows and verified phones (evidence, looked for on other contacts first).
    const wa = waWebhook(WA.phoneNumberId, [
      { id: 'wamid.NSEQ1', from: '16315550201', name: 'Ada' },
      { id: 'wamid.NSEQ2', from: '16315550202', name: 'Bo' },
      { id: 'wamid.NSEQ3', from: '16315550201', name: 'Ada L' },
      { id: 'wamid.NSEQ4', from: '16315550203', name: 'Cy' },
    ], Math.floor(at / 1000));
    for (const t of [fast, slow]) {
      expect((await postLine(t, first)).status).toBe(200);
      expect((await postLine(t, body)).status).toBe(200);
      // A redelivery of the whole batch: every message a duplicate, nothing new.
      expect((await postLine(t, body)).status).toBe(200);
      expect((await t.postWhatsApp(wa)).status).toBe(200);
    }
    const sizes = (await fast.sql!<{ n: number }[]>`select n from ns_insert_sizes`).map((r) => r.n);
    expect(sizes.filter((n) => n > 0)).toEqual([1, 34, 4]);

    const [a, b] = [await snapshot(fast.sql!, fast.prefix), await snapshot(slow.sql!, slow.prefix)];
    expect(a).toEqual(b);
    const mine = a as any;
    expect(mine.identities).toHaveLength(34);
    expect(mine.contacts).toHaveLength(34);
    // LINE has no service window by default; each WhatsApp conversation opened one.
    expect(mine.windows).toHaveLength(3);
    expect(mine.messages).toHaveLength(39);
    const subjects = mine.outbox.map((row: any) => row.subject.split('.v1.evt.')[1]);
    expect(subjects.filter((s: string) => s === 'contact.created')).toHaveLength(34);
    expect(subjects.filter((s: string) => s.startsWith('session.opened'))).toHaveLength(3);
    expect(subjects.filter((s: string) => s.startsWith('message.in'))).toHaveLength(39);
    const ada = mine.identities.find((i: any) => i.external_id === '16315550201');
    expect([ada.display_name, ada.phone, ada.phone_verified]).toEqual(['Ada', '+16315550201', true]);
    // The newest reply token of a user's conversation is the one kept.
    const two = mine.conversations.find((c: any) => c.external_id === user(2));
    expect(two.reply_token_message_id).toBe(events[30]!.message && (events[30] as any).message.id);

    // The published events say the same (subject and payload per ordering key, ids aside).
    const published = async (t: TestDaemon) => {
      const all = await t.events(`${t.prefix}.v1.evt.>`, { atLeast: 34 + 3 + 39 });
      return all.map((e) => ({ subject: e.subject.slice(t.prefix.length), type: e.data.schema, external: e.data.externalId ?? e.data.contact?.identities?.[0]?.externalId ?? null }));
    };
    const [pa, pb] = [await published(fast), await published(slow)];
    expect(pa).toHaveLength(pb.length);
    expect([...pa].map((e) => JSON.stringify(e)).sort()).toEqual([...pb].map((e) => JSON.stringify(e)).sort());
  });
});

describe('a first sighting that meets another contact', () => {
  let t: TestDaemon;
  const SECOND = { account: 'acme-wa2', phoneNumberId: '106540352242923' };
  const one = (phoneNumberId: string, id: string, from: string, name: string) => waWebhook(phoneNumberId, [{ id, from, name }]);

  beforeAll(async () => {
    t = await startTestDaemon({
      accounts: {
        'acme-wa.yaml': whatsappAccountYaml(),
        'acme-wa2.yaml': whatsappAccountYaml({ id: SECOND.account, phoneNumberId: `"${SECOND.phoneNumberId}"` }),
      },
      // One lane: the test holds one transaction and queues both sightings into the next one.
      extra: { ingestLanes: 1 },
    });
  }, 120_000);
  afterAll(async () => {
    await t?.stop();
  });

  it('merges a new sender whose verified phone another live contact has', async () => {
    expect((await t.postWhatsApp(one(WA.phoneNumberId, 'wamid.NSM1', '16315550101', 'Kerry'))).status).toBe(200);
    expect((await t.postWhatsApp(one(SECOND.phoneNumberId, 'wamid.NSM2', '16315550101', 'Kerry F'), { account: SECOND.account })).status).toBe(200);
    // A new sender with a phone nobody has stays a contact of its own.
    expect((await t.postWhatsApp(one(SECOND.phoneNumberId, 'wamid.NSM3', '16315550102', 'Robin'), { account: SECOND.account })).status).toBe(200);
    const rows = await t.sql!<{ account: string; external_id: string; contact_id: string }[]>`select account, external_id, contact_id from identities order by account, external_id`;
    expect(rows.map((r) => [r.account, r.external_id])).toEqual([[WA.account, '16315550101'], [SECOND.account, '16315550101'], [SECOND.account, '16315550102']]);
    expect(rows[1]!.contact_id).toBe(rows[0]!.contact_id);
    expect(rows[2]!.contact_id).not.toBe(rows[0]!.contact_id);
    const live = await t.sql!`select id from contacts where merged_into is null order by id`;
    expect(live).toHaveLength(2);
    const merged = await t.events(`${t.prefix}.v1.evt.contact.merged`, { atLeast: 1 });
    expect(merged).toHaveLength(1);
  });

  it('merges two first sightings of one phone on two accounts that share a batch', { timeout: 60_000 }, async () => {
    const admin = postgres(t.databaseUrl!, { max: 2, onnotice: () => {} });
    const lock = await admin.reserve();
    try {
      // A webhook held at its message insert makes the next ones queue into one group commit.
      await admin.unsafe(`
        create function ns_block() returns trigger language plpgsql as $$
        begin
          if new.external_id like '%BLOCK%' then perform pg_advisory_xact_lock(${RACE_LOCK + 1}); end if;
          return new;
        end $$;
        create trigger ns_block before insert on messages for each row execute function ns_block();`);
      await lock`select pg_advisory_lock(${RACE_LOCK + 1})`;
      const blocker = t.postWhatsApp(one(WA.phoneNumberId, 'wamid.NSBLOCK', '16315550301', 'Blocker'));
      await untilHeldOnLock(admin);
      const queued = [
        t.postWhatsApp(one(WA.phoneNumberId, 'wamid.NSPAIR1', '16315550401', 'Sam')),
        t.postWhatsApp(one(SECOND.phoneNumberId, 'wamid.NSPAIR2', '16315550401', 'Sam B'), { account: SECOND.account }),
      ];
      await until(async () => (await metricValue(t, 'omnibus_ingest_queued')) === 2, 'both sightings queued');
      await lock`select pg_advisory_unlock(${RACE_LOCK + 1})`;
      expect([(await blocker).status, ...(await Promise.all(queued)).map((r) => r.status)]).toEqual([200, 200, 200]);
      const sam = await admin<{ account: string; contact_id: string }[]>`select account, contact_id from identities where external_id = '16315550401' order by account`;
      expect(sam.map((r) => r.account)).toEqual([WA.account, SECOND.account]);
      expect(sam[0]!.contact_id).toBe(sam[1]!.contact_id);
      expect(await admin`select 1 from contacts where merged_into is null and id = ${sam[0]!.contact_id}`).toHaveLength(1);
    } finally {
      lock.release();
      await admin.end({ timeout: 2 });
    }
  });
});


describe('two replicas racing on the same new user', () => {
  let a: TestDaemon;
  let b: TestDaemon;
  let admin: postgres.Sql;

  beforeAll(async () => {
    a = await startTestDaemon({ accounts: { 'acme-line.yaml': LINE_YAML } });
    b = await startTestDaemon({ databaseUrl: a.databaseUrl!, prefix: a.prefix, dir: a.dir });
    admin = postgres(a.databaseUrl!, { max: 3, onnotice: () => {} });
    // Both transactions pass their look-ups, then wait here before inserting the identity.
    await admin.unsafe(`
      create function ns_hold() returns trigger language plpgsql as $$
      begin
        perform pg_advisory_xact_lock_shared(${RACE_LOCK});
        return new;
      end $$;
      create trigger ns_hold before insert on identities for each row execute function ns_hold();`);
  }, 120_000);
  afterAll(async () => {
    await admin?.end({ timeout: 2 });
    await b?.stop();
    await a?.stop();
  });

  it('ends with one identity, one conversation and every message once', { timeout: 60_000 }, async () => {
    const at = Date.now() - 10_000;
    const shared = textEvent(user(77), 'to both', at);
    const toA = lineBatch([textEvent(user(77), 'only a', at + 1), shared, textEvent(user(78), 'a new one', at + 2)]);
    const toB = lineBatch([textEvent(user(77), 'only b', at + 3), shared]);
    const lock = await admin.reserve();
    let answers: number[];
    try {
      await lock`select pg_advisory_lock(${RACE_LOCK})`;
      const posts = [postLine(a, toA), postLine(b, toB)];
      for (let i = 0; ; i++) {
        const waiting = await admin`select 1 from pg_stat_activity where wait_event_type = 'Lock' and wait_event = 'advisory'`;
        if (waiting.length >= 2) break;
        if (i > 2_000) throw new Error('the two transactions never reached the identity insert');
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      await lock`select pg_advisory_unlock(${RACE_LOCK})`;
      answers = (await Promise.all(posts)).map((r) => r.status);
    } finally {
      lock.release();
    }
    expect(answers).toEqual([200, 200]);
    const identities = await admin<{ external_id: string; contact_id: string }[]>`select external_id, contact_id from identities order by external_id`;
    expect(identities.map((r) => r.external_id)).toEqual([user(77), user(78)]);
    expect(await admin`select id from contacts`).toHaveLength(2);
    const conversations = await admin<{ external_id: string; id: string }[]>`select external_id, id from conversations order by external_id`;
    expect(conversations.map((r) => r.external_id)).toEqual([user(77), user(78)]);
    const messages = await admin<{ text: string; conversation_id: string; identity_id: string }[]>`
      select parts->0->>'text' as text, conversation_id, identity_id from messages order by 1`;
    expect(messages.map((m) => m.text)).toEqual(['a new one', 'only a', 'only b', 'to both']);
    const u77 = messages.filter((m) => m.text !== 'a new one');
    expect(new Set(u77.map((m) => m.conversation_id)).size).toBe(1);
    const created = await a.events(`${a.prefix}.v1.evt.contact.created`, { atLeast: 2 });
    expect(created.map((e) => e.data.contact.identities[0].externalId).sort()).toEqual([user(77), user(78)]);
    const inbound = await a.events(`${a.prefix}.v1.evt.message.in.>`, { atLeast: 4 });
    expect(inbound).toHaveLength(4);
    const [own] = await admin<{ contact_id: string }[]>`select contact_id from identities where external_id = ${user(77)}`;
    for (const event of inbound.filter((e) => e.data.contact.identity.externalId === user(77))) expect(event.data.contact.id).toBe(own!.contact_id);
  });
});

describe('first sightings on PGlite', () => {
  let t: TestDaemon;
  // Either driver's result shape (an array from postgres.js, `{ rows }` otherwise).
  const rowsOf = (result: unknown) => rowsOfResult<Record<string, unknown>>(result);

  beforeAll(async () => {
    t = await startTestDaemon({ pglite: true, accounts: { 'acme-line.yaml': LINE_YAML } });
    for (const statement of COUNT_INSERTS) await t.daemon.database.db.execute(dsql.raw(statement));
  }, 120_000);
  afterAll(async () => {
    await t?.stop();
  });

  it('records a batch of new users with one INSERT of messages, the same SQL as on PostgreSQL', async () => {
    const db = t.daemon.database.db;
    const at = Date.now() - 60_000;
    const body = lineBatch(Array.from({ length: 10 }, (_, i) => textEvent(user(500 + i), `hi ${i}`, at + i)));
    expect((await postLine(t, body)).status).toBe(200);
    expect(rowsOf(await db.execute(dsql`select max(n)::int as n from ns_insert_sizes`))[0]!.n).toBe(10);
    const count = async (table: string) => rowsOf(await db.execute(dsql.raw(`select count(*)::int as n from ${table}`)))[0]!.n;
    expect([await count('identities'), await count('contacts'), await count('conversations'), await count('messages')]).toEqual([10, 10, 10, 10]);
    const created = await t.events(`${t.prefix}.v1.evt.contact.created`, { atLeast: 10 });
    expect(created).toHaveLength(10);
    expect((await postLine(t, body)).status).toBe(200);
    expect(await count('messages')).toBe(10);
  });
});
