/**
 * A large contact store seeded in a few set-based statements, for the list/search EXPLAIN test
 * and the search bench: `contacts` people with names drawn from 50 first and 50 last names
 * (each full name about contacts / 2,500 times), a WhatsApp or Telegram identity each (every
 * tenth also has one on the other account: a merged person), a conversation per identity,
 * windows (5 % open, half closed), `messagesPerIdentity` messages per conversation, and
 * activity times in an order unrelated to ids. Then VACUUM ANALYZE.
 */
import { sql } from 'drizzle-orm';
import type { Db } from '../../src/core/storage/db.ts';

export const FIRST_NAMES = [
  'Kerry', 'Ana', 'Bob', 'Chen', 'Dara', 'Eli', 'Fatima', 'Gus', 'Hana', 'Ivan', 'Jun', 'Kofi', 'Lena', 'Mia', 'Noor', 'Omar', 'Pia',
  'Quinn', 'Rosa', 'Sam', 'Tariq', 'Uma', 'Vik', 'Wen', 'Xavi', 'Yara', 'Zane', 'Aiko', 'Bea', 'Cai', 'Dev', 'Emre', 'Finn', 'Gia',
  'Hugo', 'Iris', 'Jade', 'Kai', 'Luca', 'Mara', 'Nico', 'Oona', 'Paz', 'Rui', 'Sia', 'Teo', 'Ugo', 'Vera', 'Will', 'Yuki',
];
export const LAST_NAMES = [
  'Fisher', 'Lopez', 'Stone', 'Wang', 'Okafor', 'Smith', 'Khan', 'Rossi', 'Tanaka', 'Novak', 'Silva', 'Müller', 'Haddad', 'Kim', 'Berg',
  'Costa', 'Diaz', 'Evans', 'Garcia', 'Hill', 'Ito', 'Jones', 'Kowal', 'Lee', 'Moreau', 'Nagy', 'Olsen', 'Park', 'Quist', 'Reyes',
  'Sato', 'Torres', 'Ueda', 'Varga', 'Weber', 'Young', 'Zhou', 'Adams', 'Brown', 'Clark', 'Dubois', 'Ek', 'Fox', 'Gray', 'Holm',
  'Ibsen', 'Jensen', 'Klein', 'Lund', 'Moss',
];

/** Where the seeded data sits in time: activity is spread over the `contacts` seconds before this. */
export const SEED_NOW = new Date(Date.UTC(2026, 5, 1, 12, 0, 0));

/** The seeded ids and values of contact `n` (1-based), for picking search terms. */
export function seeded(n: number) {
  const whatsapp = n % 2 === 0;
  return {
    contactId: `ct_seed${n}`,
    name: `${FIRST_NAMES[n % 50]} ${LAST_NAMES[Math.floor(n / 50) % 50]}`,
    phone: `+1631${String(n).padStart(7, '0')}`,
    email: `person${n}@example.com`,
    externalId: whatsapp ? `1631${String(n).padStart(7, '0')}` : String(500_000_000 + n),
    account: whatsapp ? 'seed-wa' : 'seed-tg',
  };
}

/** Seeds the store (into an empty, migrated database). */
export async function seedContactStore(db: Db, options: { contacts: number; messagesPerIdentity: number }): Promise<void> {
  const count = options.contacts;
  const now = SEED_NOW.toISOString();
  const first = JSON.stringify(FIRST_NAMES);
  const last = JSON.stringify(LAST_NAMES);
  // Activity: a permutation of the contacts over `count` seconds (7919 is prime, coprime to sane counts).
  const seen = (n: string) => `(timestamptz '${now}' - ((${n} * 7919) % ${count} + 1) * interval '1 second')`;
  await db.execute(sql.raw(`
    insert into contacts (id, display_name, phones, emails, created_at, updated_at)
    select 'ct_seed' || n, (${sqlText(first)}::jsonb ->> (n % 50)) || ' ' || (${sqlText(last)}::jsonb ->> ((n / 50) % 50)),
           jsonb_build_array('+1631' || lpad(n::text, 7, '0')),
           case when n % 3 = 0 then jsonb_build_array('person' || n || '@example.com') else '[]'::jsonb end,
           timestamptz '${now}' - interval '400 days', timestamptz '${now}' - interval '400 days'
    from generate_series(1, ${count}) as n`));
  await db.execute(sql.raw(`
    insert into identities (id, channel, account, external_id, contact_id, display_name, phone, phone_verified, first_seen, last_seen, origin_contact_id)
    select 'idn_seed' || n,
           case when n % 2 = 0 then 'whatsapp' else 'telegram' end,
           case when n % 2 = 0 then 'seed-wa' else 'seed-tg' end,
           case when n % 2 = 0 then '1631' || lpad(n::text, 7, '0') else (500000000 + n)::text end,
           'ct_seed' || n, (${sqlText(first)}::jsonb ->> (n % 50)) || ' ' || (${sqlText(last)}::jsonb ->> ((n / 50) % 50)),
           case when n % 2 = 0 then '+1631' || lpad(n::text, 7, '0') end, n % 2 = 0,
           timestamptz '${now}' - interval '400 days', ${seen('n')}, 'ct_seed' || n
    from generate_series(1, ${count}) as n
    union all
    select 'idn_seedb' || n,
           case when n % 2 = 0 then 'telegram' else 'whatsapp' end,
           case when n % 2 = 0 then 'seed-tg' else 'seed-wa' end,
           case when n % 2 = 0 then (700000000 + n)::text else '1632' || lpad(n::text, 7, '0') end,
           'ct_seed' || n, 'Alt ' || n, null, false,
           timestamptz '${now}' - interval '400 days', ${seen('n')} - interval '1 hour', 'ct_seedb' || n
    from generate_series(10, ${count}, 10) as n`));
  await db.execute(sql.raw(`
    insert into identity_aliases (channel, account, alias, identity_id)
    select 'whatsapp', 'seed-wa', 'bsuid.' || n, 'idn_seed' || n from generate_series(2, ${count}, 2) as n`));
  await db.execute(sql.raw(`
    insert into conversations (id, channel, account, external_id, kind, identity_id, created_at, last_message_at, last_inbound_at)
    select 'cv_' || substr(i.id, 5), i.channel, i.account, i.external_id, 'direct', i.id, i.first_seen, i.last_seen, i.last_seen
    from identities i where i.id like 'idn_seed%'`));
  // 5 % open now, half closed, the rest never had a window.
  await db.execute(sql.raw(`
    insert into session_windows (id, conversation_id, "grant", opened_at, expires_at)
    select 'sw_' || substr(c.id, 4), c.id, 'message', c.last_message_at,
           case when abs(hashtext(c.id)) % 20 = 0 then timestamptz '${now}' + interval '12 hours' else c.last_message_at + interval '24 hours' end
    from conversations c
    where c.id like 'cv_seed%' and (abs(hashtext(c.id)) % 20 = 0 or abs(hashtext(c.id)) % 2 = 1)`));
  await db.execute(sql.raw(`
    insert into messages (id, direction, channel, account, conversation_id, identity_id, external_id, dedupe_key, timestamp, received_at, parts, raw)
    select 'msg_' || substr(c.id, 4) || '_' || k, case when k % 3 = 0 then 'out' else 'in' end, c.channel, c.account, c.id, c.identity_id,
           'ext.' || c.id || '.' || k, 'seed.' || c.id || '.' || k,
           c.last_message_at - (k - 1) * interval '1 minute', c.last_message_at - (k - 1) * interval '1 minute',
           jsonb_build_array(jsonb_build_object('type', 'text', 'text', 'message ' || k)), '{}'::jsonb
    from conversations c cross join generate_series(1, ${options.messagesPerIdentity}) as k
    where c.id like 'cv_seed%'`));
  // As autovacuum would leave it: statistics, and the visibility map index-only scans rely on.
  await db.execute(sql`vacuum analyze`);
}

/** A JSON text as an SQL string literal. */
function sqlText(json: string): string {
  return `'${json.replace(/'/g, "''")}'`;
}
