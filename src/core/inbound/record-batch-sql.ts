/**
 * The statements of set-based recording (record-batch.ts). Each takes its rows as ONE jsonb
 * parameter read with `jsonb_to_recordset`, so the statement text never changes with the batch
 * (on PostgreSQL it is prepared once per connection) and PGlite and postgres.js run the same
 * SQL. The write is one statement: data-modifying CTEs for messages, identities, conversations,
 * session windows and outbox rows; an outbox row of a message that lost a race to an equal
 * dedupe key (`on conflict do nothing`) is not written.
 */
import type { Tx } from '../storage/db.ts';
import { runStatement } from '../storage/statement.ts';

const PROBE = `select dedupe_key, false as tombstone from messages where channel = $1 and account = $2
    and dedupe_key = any(array(select jsonb_array_elements_text($3::jsonb)))
  union all
  (select null, true from erasure_tombstones where channel = $1 and account = $2 limit 1)`;

/**
 * Dedupe keys of `keys` already stored on the account (redeliveries: one index probe each), and
 * whether the account has any erasure tombstone (then messages take the per-event path), in one
 * statement.
 */
export async function probeStored(tx: Tx, channel: string, account: string, keys: ReadonlyArray<string>): Promise<{ stored: Set<string>; tombstones: boolean }> {
  const rows = await runStatement<{ dedupe_key: string | null; tombstone: boolean }>(tx, PROBE, [channel, account, JSON.stringify(keys)]);
  const stored = new Set<string>();
  let tombstones = false;
  for (const row of rows) {
    if (row.tombstone) tombstones = true;
    else stored.add(row.dedupe_key!);
  }
  return { stored, tombstones };
}

/** A stored conversation with its newest session window (both locked), times in epoch ms. */
export interface StoredConversation {
  id: string;
  external_id: string;
  w_id: string | null;
  w_grant: string | null;
  w_opened: number | null;
  w_expires: number | null;
  w_quota_limit: number | null;
  w_quota_used: number | null;
  w_pricing_kind: string | null;
  w_pricing_expires: number | null;
  w_referral: unknown;
  w_expiring_notified: number | null;
  /** When the conversation's stored reply context expires (a fresher one replaces it). */
  reply_expires: number | null;
}

const ms = (column: string) => `(extract(epoch from ${column}) * 1000)::float8`;

const LOCK_CONVERSATIONS = `select c.id, c.external_id, w.id as w_id, w."grant" as w_grant, ${ms('w.opened_at')} as w_opened,
    ${ms('w.expires_at')} as w_expires, w.quota_limit as w_quota_limit, w.quota_used as w_quota_used,
    w.pricing_kind as w_pricing_kind, ${ms('w.pricing_expires_at')} as w_pricing_expires, w.referral as w_referral,
    ${ms('w.expiring_notified_at')} as w_expiring_notified, ${ms('c.reply_token_expires_at')} as reply_expires
  from conversations c
  left join lateral (select * from session_windows s where s.conversation_id = c.id order by s.opened_at desc limit 1 for update) w on true
  where c.channel = $1 and c.account = $2 and c.external_id = any(array(select jsonb_array_elements_text($3::jsonb)))
  order by c.id for update of c`;

/** Locks and reads the conversations of `externalIds` and their newest windows. */
export async function lockConversations(tx: Tx, channel: string, account: string, externalIds: ReadonlyArray<string>): Promise<StoredConversation[]> {
  if (externalIds.length === 0) return [];
  return runStatement<StoredConversation>(tx, LOCK_CONVERSATIONS, [channel, account, JSON.stringify(externalIds)]);
}

/** A conversation the batch opens, as its first message would create it. */
export interface NewConversationRow {
  id: string;
  external_id: string;
  kind: string;
  title: string | null;
  /** A direct conversation's identity; the row is skipped while no identity has this id. */
  identity_id: string | null;
  at: string;
  session_kind: string | null;
  via: string | null;
}

/**
 * Inserts the conversations; returns the external ids actually inserted. One a concurrent
 * transaction created meanwhile loses on the unique key, and so does one whose identity lost
 * its own insert (no conversation may name an identity that does not exist).
 */
export async function insertConversations(tx: Tx, channel: string, account: string, rows: ReadonlyArray<NewConversationRow>): Promise<Set<string>> {
  if (rows.length === 0) return new Set();
  const inserted = await runStatement<{ external_id: string }>(tx, INSERT_CONVERSATIONS, [channel, account, JSON.stringify(inLockOrder(rows, (row) => row.external_id))]);
  return new Set(inserted.map((row) => row.external_id));
}

const INSERT_CONVERSATIONS = `insert into conversations (id, channel, account, external_id, kind, title, identity_id, created_at, last_message_at, last_inbound_at, session_kind, via)
  select x.id, $1, $2, x.external_id, x.kind, x.title, x.identity_id, x.at, x.at, x.at, x.session_kind, x.via
  from jsonb_to_recordset($3::jsonb) as x(id text, external_id text, kind text, title text, identity_id text, at timestamptz, session_kind text, via text)
  where x.identity_id is null or exists (select 1 from identities i where i.id = x.identity_id)
  on conflict do nothing
  returning external_id`;

/** The rows one set-based write takes (JSON-ready: dates as ISO strings). */
export interface BatchWrite {
  messages: Array<Record<string, unknown>>;
  identities: Array<{ id: string; last_seen: string; display_name: string | null; username: string | null }>;
  /** `reply_token` set: the batch's freshest reply context replaces the stored one. */
  conversations: Array<{
    id: string; at: string; session_kind: string | null; via: string | null;
    reply_token: string | null; reply_expires_at: string | null; reply_max: number | null; reply_message_id: string | null;
  }>;
  windowUpdates: Array<Record<string, unknown>>;
  windowInserts: Array<Record<string, unknown>>;
  /** In publishing order (`ord`); `message_id` ties a row to its message's insert. */
  outbox: Array<{ ord: number; subject: string; msg_id: string; payload: unknown; ordering_key: string; created_at: string; message_id: string }>;
}

const WINDOW_COLUMNS = `id text, conversation_id text, "grant" text, opened_at timestamptz, expires_at timestamptz, quota_limit int, quota_used int,
  pricing_kind text, pricing_expires_at timestamptz, referral jsonb, opened_notified_at timestamptz, expiring_notified_at timestamptz`;

/**
 * Rows in one order by a key every replica computes alike. Inserts into a unique index and
 * updates lock rows one by one in the order given: two transactions writing the same rows
 * (two replicas recording one redelivered batch) then queue behind each other instead of each
 * holding what the other waits for.
 */
export function inLockOrder<T>(rows: ReadonlyArray<T>, key: (row: T) => string): T[] {
  return [...rows].sort((a, b) => {
    const x = key(a);
    const y = key(b);
    return x < y ? -1 : x > y ? 1 : 0;
  });
}

/** Writes the batch in one statement; returns the ids of the messages actually inserted. */
export async function writeBatch(tx: Tx, write: BatchWrite): Promise<Set<string>> {
  const byId = <T extends { id?: unknown }>(rows: ReadonlyArray<T>) => inLockOrder(rows, (row) => String(row.id));
  write = {
    ...write,
    messages: inLockOrder(write.messages, (row) => `${String(row.channel)}\u0000${String(row.account)}\u0000${String(row.dedupe_key)}`),
    identities: byId(write.identities),
    conversations: byId(write.conversations),
    windowUpdates: byId(write.windowUpdates),
  };
  const params = [write.messages, write.identities, write.conversations, write.windowUpdates, write.windowInserts, write.outbox].map((rows) => JSON.stringify(rows));
  const rows = await runStatement<{ id: string }>(tx, WRITE_BATCH, params);
  return new Set(rows.map((row) => row.id));
}

const WRITE_BATCH = `with
  m as (
    insert into messages (id, direction, channel, account, conversation_id, identity_id, external_id, dedupe_key, "timestamp", received_at, parts, reply_to, referral, raw)
    select x.id, 'in', x.channel, x.account, x.conversation_id, x.identity_id, x.external_id, x.dedupe_key, x.ts, x.received_at, x.parts, x.reply_to, x.referral, x.raw
    from jsonb_to_recordset($1::jsonb) as x(id text, channel text, account text, conversation_id text, identity_id text, external_id text,
      dedupe_key text, ts timestamptz, received_at timestamptz, parts jsonb, reply_to text, referral jsonb, raw jsonb)
    on conflict do nothing
    returning id
  ),
  i as (
    update identities t set last_seen = greatest(t.last_seen, x.last_seen), display_name = coalesce(x.display_name, t.display_name),
      username = coalesce(x.username, t.username)
    from jsonb_to_recordset($2::jsonb) as x(id text, last_seen timestamptz, display_name text, username text)
    where t.id = x.id
    returning 1
  ),
  c as (
    update conversations t set last_message_at = greatest(t.last_message_at, x.at), last_inbound_at = greatest(t.last_inbound_at, x.at),
      session_kind = coalesce(x.session_kind, t.session_kind), via = coalesce(x.via, t.via),
      reply_token = coalesce(x.reply_token, t.reply_token),
      reply_token_expires_at = case when x.reply_token is null then t.reply_token_expires_at else x.reply_expires_at end,
      reply_token_max_messages = case when x.reply_token is null then t.reply_token_max_messages else x.reply_max end,
      reply_token_message_id = case when x.reply_token is null then t.reply_token_message_id else x.reply_message_id end,
      reply_token_used_at = case when x.reply_token is null then t.reply_token_used_at end
    from jsonb_to_recordset($3::jsonb) as x(id text, at timestamptz, session_kind text, via text,
      reply_token text, reply_expires_at timestamptz, reply_max int, reply_message_id text)
    where t.id = x.id
    returning 1
  ),
  wu as (
    update session_windows t set expires_at = x.expires_at, "grant" = x."grant", quota_limit = x.quota_limit, quota_used = x.quota_used,
      expiring_notified_at = x.expiring_notified_at, pricing_kind = x.pricing_kind, pricing_expires_at = x.pricing_expires_at, referral = x.referral
    from jsonb_to_recordset($4::jsonb) as x(${WINDOW_COLUMNS})
    where t.id = x.id
    returning 1
  ),
  wi as (
    insert into session_windows (id, conversation_id, "grant", opened_at, expires_at, quota_limit, quota_used, pricing_kind, pricing_expires_at, referral, opened_notified_at, expiring_notified_at)
    select x.id, x.conversation_id, x."grant", x.opened_at, x.expires_at, x.quota_limit, x.quota_used, x.pricing_kind, x.pricing_expires_at, x.referral, x.opened_notified_at, x.expiring_notified_at
    from jsonb_to_recordset($5::jsonb) as x(${WINDOW_COLUMNS})
    returning 1
  ),
  o as (
    insert into outbox (subject, msg_id, payload, ordering_key, held, created_at)
    select x.subject, x.msg_id, x.payload, x.ordering_key, false, x.created_at
    from jsonb_to_recordset($6::jsonb) as x(ord int, subject text, msg_id text, payload jsonb, ordering_key text, created_at timestamptz, message_id text)
    where x.message_id in (select id from m)
    order by x.ord
    returning 1
  )
  select id from m`;
