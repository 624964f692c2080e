/**
 * The one database schema, shared by PostgreSQL (postgres.js) and the embedded PGlite.
 * Migrations in `drizzle/` are generated from this file (`npm run db:generate`).
 *
 * Conversations and messages hang off identities, and identities point at contacts, so a
 * contact merge moves pointers, never message rows.
 */
import { sql } from 'drizzle-orm';
import {
  bigint,
  bigserial,
  boolean,
  customType,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
} from 'drizzle-orm/pg-core';

const ts = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

/** A 64-bit transaction id (`pg_current_xact_id()`), read as text. */
const xid8 = customType<{ data: string }>({ dataType: () => 'xid8' });

/** A `pg_current_snapshot()`: `xmin:xmax:xip,…`, read as text. */
const pgSnapshot = customType<{ data: string }>({ dataType: () => 'pg_snapshot' });

/** A person. A merged-away contact stays as an alias row whose `mergedInto` names the survivor. */
export const contacts = pgTable(
  'contacts',
  {
    id: text('id').primaryKey(),
    displayName: text('display_name'),
    phones: jsonb('phones').$type<string[]>().notNull().default(sql`'[]'::jsonb`),
    emails: jsonb('emails').$type<string[]>().notNull().default(sql`'[]'::jsonb`),
    attributes: jsonb('attributes').$type<Record<string, unknown>>().notNull().default(sql`'{}'::jsonb`),
    mergedInto: text('merged_into'),
    createdAt: ts('created_at').notNull(),
    updatedAt: ts('updated_at').notNull(),
    /** Bumped on every change; makes each `contact.updated` event id unique and deterministic. */
    revision: integer('revision').notNull().default(0),
    /** Values a merge could not keep side by side (`{ field, value, source, at }`), so nothing is lost. */
    conflicts: jsonb('conflicts').$type<Array<{ field: string; value: unknown; source: string; at: string }>>().notNull().default(sql`'[]'::jsonb`),
  },
  (t) => [
    index('contacts_merged_into_idx').on(t.mergedInto),
    // Evidence lookups (`phones @> '["+1..."]'`) for automatic merge, find and suggestions.
    index('contacts_phones_idx').using('gin', sql`${t.phones} jsonb_path_ops`),
    index('contacts_emails_idx').using('gin', sql`${t.emails} jsonb_path_ops`),
    index('contacts_name_idx').on(sql`lower(${t.displayName})`).where(sql`merged_into IS NULL`),
    // Search by any word's prefix of the name (`smi` finds "Kerry Smith"): built in, no extension.
    index('contacts_name_words_idx').using('gin', sql`to_tsvector('simple', coalesce(${t.displayName}, ''))`).where(sql`merged_into IS NULL`),
  ],
);

/** A customer identity on one account of one channel; belongs to exactly one contact. */
export const identities = pgTable(
  'identities',
  {
    id: text('id').primaryKey(),
    channel: text('channel').notNull(),
    account: text('account').notNull(),
    externalId: text('external_id').notNull(),
    contactId: text('contact_id').notNull(),
    displayName: text('display_name'),
    username: text('username'),
    phone: text('phone'),
    phoneVerified: boolean('phone_verified').notNull().default(false),
    evidence: jsonb('evidence').$type<Array<{ type: string; value: string }>>().notNull().default(sql`'[]'::jsonb`),
    firstSeen: ts('first_seen').notNull(),
    lastSeen: ts('last_seen').notNull(),
    unreachableAt: ts('unreachable_at'),
    /** The contact created with this identity; unmerge gives the identity back to it. */
    originContactId: text('origin_contact_id'),
  },
  (t) => [
    uniqueIndex('identities_key_idx').on(t.channel, t.account, t.externalId),
    // A contact's identities; with last_seen and id, contact lists order and page a contact's
    // identities from the index alone (no heap visit per candidate of a search).
    index('identities_contact_idx').on(t.contactId, t.lastSeen, t.id),
    index('identities_phone_idx').on(t.phone),
    // `evidence @> '[{"type":"wechat_unionid","value":"..."}]'` for automatic merge.
    index('identities_evidence_idx').using('gin', sql`${t.evidence} jsonb_path_ops`),
    // Contact lists, newest activity first (a contact's activity is its identities' latest `last_seen`).
    index('identities_seen_idx').on(t.lastSeen, t.id),
    index('identities_account_seen_idx').on(t.account, t.lastSeen, t.id),
    // Search by a platform id on any account, and by any word's prefix of the identity's name.
    index('identities_external_id_idx').on(t.externalId),
    index('identities_name_words_idx').using('gin', sql`to_tsvector('simple', coalesce(${t.displayName}, ''))`),
  ],
);

/** Other platform ids of the same identity (a wa_id beside a BSUID, a changed number). */
export const identityAliases = pgTable(
  'identity_aliases',
  {
    channel: text('channel').notNull(),
    account: text('account').notNull(),
    alias: text('alias').notNull(),
    identityId: text('identity_id').notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.channel, t.account, t.alias] }),
    index('identity_aliases_identity_idx').on(t.identityId),
    // Search by a platform id on any account.
    index('identity_aliases_alias_idx').on(t.alias),
  ],
);

/**
 * Every merge and unmerge, with who asked, on which evidence, which identities moved, and the
 * two contacts as they were before (what unmerge restores). Only an erasure (the platform asking us to forget a person) scrubs or deletes entries.
 */
export const mergeLog = pgTable(
  'merge_log',
  {
    id: text('id').primaryKey(),
    /** Commit-independent order of entries written in the same millisecond. */
    seq: bigserial('seq', { mode: 'number' }).notNull(),
    action: text('action').$type<'merge' | 'unmerge'>().notNull(),
    /** merge: the survivor; unmerge: the contact that kept the other identities. */
    contactId: text('contact_id').notNull(),
    /** merge: the contact merged away; unmerge: the contact now holding the identity. */
    otherId: text('other_id').notNull(),
    actor: text('actor').notNull(),
    /** Where the change came from: `http`, `nats`, `inbound` (automatic) or `update` (PATCH). */
    via: text('via').notNull(),
    evidence: jsonb('evidence').$type<{ type: string; value?: string }>().notNull(),
    identityIds: jsonb('identity_ids').$type<string[]>().notNull(),
    /** The contacts' own fields before the change (`{ contact, other }`). */
    before: jsonb('before').$type<Record<string, unknown>>().notNull(),
    at: ts('at').notNull(),
  },
  (t) => [index('merge_log_contact_idx').on(t.contactId, t.at), index('merge_log_other_idx').on(t.otherId, t.at)],
);

/** Pairs a human split apart: automatic merge never joins them again (a manual merge still may). */
export const mergeBlocks = pgTable(
  'merge_blocks',
  {
    contactA: text('contact_a').notNull(),
    contactB: text('contact_b').notNull(),
    /** The unmerge that created the block. */
    logId: text('log_id').notNull(),
    createdAt: ts('created_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.contactA, t.contactB] }), index('merge_blocks_b_idx').on(t.contactB)],
);

/** One conversation per (account, customer identity or group). */
export const conversations = pgTable(
  'conversations',
  {
    id: text('id').primaryKey(),
    channel: text('channel').notNull(),
    account: text('account').notNull(),
    externalId: text('external_id').notNull(),
    kind: text('kind').$type<'direct' | 'group'>().notNull(),
    title: text('title'),
    /** The customer identity of a direct conversation; null for groups. */
    identityId: text('identity_id'),
    createdAt: ts('created_at').notNull(),
    lastMessageAt: ts('last_message_at').notNull(),
    lastInboundAt: ts('last_inbound_at'),
    /**
     * The newest free reply channel the platform handed out with an inbound message (LINE's
     * reply token), for the next outbound message to claim while fresh: claiming sets `usedAt`.
     */
    replyToken: text('reply_token'),
    replyTokenExpiresAt: ts('reply_token_expires_at'),
    replyTokenMaxMessages: integer('reply_token_max_messages'),
    /** The platform id of the inbound message the token came with. */
    replyTokenMessageId: text('reply_token_message_id'),
    replyTokenUsedAt: ts('reply_token_used_at'),
    /**
     * The conversation's `InboundConversation.sessionKind` (a key of `capabilities.session.kinds`
     * whose window rule replaces the channel's default); null: the default.
     */
    sessionKind: text('session_kind'),
    /** The platform connection the conversation runs through (Telegram business_connection_id). */
    via: text('via'),
    /**
     * Set while the connection the conversation runs through is revoked: only this conversation
     * is closed to sends, not the customer's other chats (their identity stays reachable).
     */
    unreachableAt: ts('unreachable_at'),
  },
  (t) => [
    uniqueIndex('conversations_key_idx').on(t.channel, t.account, t.externalId),
    index('conversations_identity_idx').on(t.identityId),
    // Conversation lists, latest activity first, all accounts or one.
    index('conversations_recent_idx').on(t.lastMessageAt, t.id),
    index('conversations_account_recent_idx').on(t.account, t.lastMessageAt, t.id),
  ],
);

/**
 * One row per customer-service window. A customer message inside an open window extends it;
 * one after it closed opens a new row. The `*_notified_at` columns make session events
 * fire exactly once per window across replicas and restarts.
 */
export const sessionWindows = pgTable(
  'session_windows',
  {
    id: text('id').primaryKey(),
    conversationId: text('conversation_id').notNull(),
    grant: text('grant').notNull(),
    openedAt: ts('opened_at').notNull(),
    expiresAt: ts('expires_at'),
    quotaLimit: integer('quota_limit'),
    quotaUsed: integer('quota_used').notNull().default(0),
    pricingKind: text('pricing_kind'),
    pricingExpiresAt: ts('pricing_expires_at'),
    referral: jsonb('referral').$type<Record<string, unknown>>(),
    openedNotifiedAt: ts('opened_notified_at'),
    expiringNotifiedAt: ts('expiring_notified_at'),
    expiredNotifiedAt: ts('expired_notified_at'),
  },
  (t) => [
    index('session_windows_conversation_idx').on(t.conversationId, t.openedAt),
    index('session_windows_expiry_idx').on(t.expiresAt).where(sql`expired_notified_at IS NULL`),
    // Conversation lists put open windows first: the windows open at a moment.
    index('session_windows_expires_idx').on(t.expiresAt),
  ],
);

/** Every message in and out. `dedupeKey` makes a redelivered webhook or a retried send a no-op. */
export const messages = pgTable(
  'messages',
  {
    id: text('id').primaryKey(),
    direction: text('direction').$type<'in' | 'out'>().notNull(),
    channel: text('channel').notNull(),
    account: text('account').notNull(),
    conversationId: text('conversation_id').notNull(),
    /** Sender (in) or recipient (out) identity. */
    identityId: text('identity_id').notNull(),
    externalId: text('external_id'),
    dedupeKey: text('dedupe_key').notNull(),
    timestamp: ts('timestamp').notNull(),
    receivedAt: ts('received_at').notNull(),
    parts: jsonb('parts').$type<unknown[]>().notNull(),
    replyTo: text('reply_to'),
    referral: jsonb('referral').$type<Record<string, unknown>>(),
    raw: jsonb('raw'),
    status: text('status'),
    statusAt: ts('status_at'),
    error: jsonb('error').$type<Record<string, unknown>>(),
    idempotencyKey: text('idempotency_key'),
    /** Outbound: which way the platform took it where a channel has more than one (LINE `reply`/`push`). */
    route: text('route'),
    /** When the customer last edited it; `edits` keeps each edit (its key, time and the parts it replaced). */
    editedAt: ts('edited_at'),
    edits: jsonb('edits').$type<Array<{ dedupeKey: string; at: string; previousParts: unknown[] }>>(),
    /** When the customer unsent it: its parts, raw and edits are emptied, its media deleted. */
    deletedAt: ts('deleted_at'),
    /** Outbound: the send's `metadata` (agent id, ticket id, free keys), as given; null when none. */
    metadata: jsonb('metadata').$type<Record<string, unknown>>(),
  },
  (t) => [
    uniqueIndex('messages_dedupe_idx').on(t.channel, t.account, t.dedupeKey),
    index('messages_external_idx').on(t.channel, t.account, t.externalId),
    index('messages_identity_time_idx').on(t.identityId, t.receivedAt, t.id),
    index('messages_conversation_time_idx').on(t.conversationId, t.receivedAt),
  ],
);

/** Delivery receipts as received; deduplicated per (wamid, status[, error]). */
export const statusReceipts = pgTable(
  'status_receipts',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    channel: text('channel').notNull(),
    account: text('account').notNull(),
    dedupeKey: text('dedupe_key').notNull(),
    externalId: text('external_id').notNull(),
    status: text('status').notNull(),
    at: ts('at').notNull(),
    error: jsonb('error').$type<Record<string, unknown>>(),
    /** Set once the receipt was matched to an outbound message. */
    messageId: text('message_id'),
    raw: jsonb('raw'),
  },
  (t) => [
    uniqueIndex('status_receipts_dedupe_idx').on(t.channel, t.account, t.dedupeKey),
    index('status_receipts_external_idx').on(t.channel, t.account, t.externalId),
    // Receipts that arrived before their send was recorded: the outbound sweep looks for these.
    index('status_receipts_unmatched_idx').on(t.at).where(sql`message_id IS NULL`),
  ],
);

/** Media of a message part: fetched after the webhook is answered, stored by content hash. */
export const media = pgTable(
  'media',
  {
    id: text('id').primaryKey(),
    messageId: text('message_id').notNull(),
    partIndex: integer('part_index').notNull(),
    channel: text('channel').notNull(),
    account: text('account').notNull(),
    sourceRef: jsonb('source_ref').$type<Record<string, unknown>>(),
    status: text('status').$type<'pending' | 'ready' | 'rejected' | 'failed'>().notNull(),
    reason: text('reason'),
    sha256: text('sha256'),
    size: integer('size'),
    mime: text('mime'),
    ext: text('ext'),
    filename: text('filename'),
    storageKey: text('storage_key'),
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: ts('next_attempt_at').notNull(),
    claimedUntil: ts('claimed_until'),
    createdAt: ts('created_at').notNull(),
    updatedAt: ts('updated_at').notNull(),
  },
  (t) => [
    index('media_pending_idx').on(t.nextAttemptAt).where(sql`status = 'pending'`),
    index('media_message_idx').on(t.messageId),
  ],
);

/**
 * The transactional outbox: written in the same transaction as what it announces, published
 * to JetStream by the relay with `msgId` as `Nats-Msg-Id`, and kept `retention` for replays.
 *
 * What is published is not marked row by row: `txid` is the transaction that wrote the row, and
 * the relay publishes, in id order, the rows of the transactions that committed between two
 * snapshots it took (`outbox_progress`). A row is published once its transaction is visible in
 * the progress row's `done` snapshot, unless it is `deferred`: held for media (`held`), behind a
 * held row of its conversation, or handed back by an operator. Deferred rows are published one
 * by one and get `publishedAt`; so do dead-lettered rows (a publish that can never succeed,
 * `deadLetteredAt` and `deadLetterReason` then say so), so that they never block the rows
 * behind them. The payload is kept whole either way.
 */
export const outbox = pgTable(
  'outbox',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    subject: text('subject').notNull(),
    msgId: text('msg_id').notNull(),
    payload: jsonb('payload').notNull(),
    orderingKey: text('ordering_key').notNull(),
    held: boolean('held').notNull().default(false),
    createdAt: ts('created_at').notNull(),
    publishedAt: ts('published_at'),
    attempts: integer('attempts').notNull().default(0),
    deadLetteredAt: ts('dead_lettered_at'),
    deadLetterReason: text('dead_letter_reason'),
    txid: xid8('txid').notNull().default(sql`pg_current_xact_id()`),
    deferred: boolean('deferred').notNull().default(false),
  },
  (t) => [
    uniqueIndex('outbox_msg_id_idx').on(t.msgId),
    index('outbox_txid_idx').on(t.txid),
    index('outbox_deferred_idx').on(t.orderingKey, t.id).where(sql`deferred AND published_at IS NULL`),
    // Only rows ready to go: the per-row "anything deferred ahead in this conversation?" probes
    // can then only use outbox_deferred_idx (with both, a generic plan made on an empty outbox
    // scanned every deferred row per probe).
    index('outbox_deferred_order_idx').on(t.id).where(sql`deferred AND published_at IS NULL AND NOT held`),
  ],
);

/**
 * The relay's progress through the outbox, one row: every row of a transaction visible in
 * `done` is published (or deferred); the rows of the transactions visible in `target` and not
 * in `done` are being published in id order, those up to `cursor` already.
 */
export const outboxProgress = pgTable('outbox_progress', {
  id: integer('id').primaryKey(),
  done: pgSnapshot('done').notNull(),
  target: pgSnapshot('target'),
  cursor: bigint('cursor', { mode: 'number' }).notNull().default(0),
  updatedAt: ts('updated_at').notNull().defaultNow(),
});

/** Replay guards (e.g. WeChat timestamp+nonce), recorded in the same transaction as the events. */
export const webhookNonces = pgTable(
  'webhook_nonces',
  {
    channel: text('channel').notNull(),
    account: text('account').notNull(),
    key: text('key').notNull(),
    fingerprint: text('fingerprint').notNull(),
    expiresAt: ts('expires_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.channel, t.account, t.key] }), index('webhook_nonces_expiry_idx').on(t.expiresAt)],
);

/**
 * Cross-replica key/value state for adapters (access tokens, poll offsets), compare-and-set.
 * Transient keys (a send's progress) carry `expiresAt`: they read as absent after it and the
 * housekeeping sweep deletes them.
 */
export const sharedState = pgTable(
  'shared_state',
  {
    key: text('key').primaryKey(),
    value: text('value').notNull(),
    revision: integer('revision').notNull(),
    updatedAt: ts('updated_at').notNull(),
    expiresAt: ts('expires_at'),
  },
  (t) => [index('shared_state_expiry_idx').on(t.expiresAt).where(sql`expires_at IS NOT NULL`)],
);

/**
 * What is left of an erased identity: a keyed hash (HMAC-SHA256 with a per-installation key
 * kept in `shared_state`) of its platform id on the account, and when the platform asked for
 * the erasure. No personal data: it answers only "was this id erased, and when".
 */
export const erasureTombstones = pgTable(
  'erasure_tombstones',
  {
    channel: text('channel').notNull(),
    account: text('account').notNull(),
    key: text('key').notNull(),
    erasedAt: ts('erased_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.channel, t.account, t.key] })],
);

/** Leases: one holder at a time for singleton work (the outbox relay, a poller per bot). */
export const leases = pgTable('leases', {
  name: text('name').primaryKey(),
  holder: text('holder').notNull(),
  expiresAt: ts('expires_at').notNull(),
});

/**
 * The first answer to each send idempotency key (an accepted message or a refusal), so the
 * same key gets the same answer across retries, restarts, replicas and entry points.
 */
export const sendRequests = pgTable('send_requests', {
  idempotencyKey: text('idempotency_key').primaryKey(),
  /** The accepted message; null when the first answer was a refusal. */
  messageId: text('message_id'),
  /** The refusal (`{ code, message, details }`) when the first answer was one. */
  error: jsonb('error').$type<{ code: string; message: string; details?: Record<string, unknown> }>(),
  /** Where the first request came from: `api`, `http` or `command`. */
  source: text('source').notNull(),
  createdAt: ts('created_at').notNull(),
});

/**
 * Accepted outbound messages not sent yet, in acceptance order (`seq`). A row is `queued`
 * until the sending replica marks it `sending` right before the platform call; it is deleted
 * once the message is `sent` or `failed`. A row found `sending` after its holder died is the
 * only ambiguous case (see docs/outbound.md).
 */
export const sendJobs = pgTable(
  'send_jobs',
  {
    seq: bigserial('seq', { mode: 'number' }).primaryKey(),
    messageId: text('message_id').notNull(),
    channel: text('channel').notNull(),
    account: text('account').notNull(),
    conversationId: text('conversation_id').notNull(),
    state: text('state').$type<'queued' | 'sending'>().notNull(),
    /** Platform calls made (rate-limit answers are counted in `throttles` instead). */
    attempts: integer('attempts').notNull().default(0),
    throttles: integer('throttles').notNull().default(0),
    nextAttemptAt: ts('next_attempt_at').notNull(),
    /** While `sending`: after this the holder is presumed dead and the row ambiguous. */
    sendingUntil: ts('sending_until'),
    holder: text('holder'),
    lastError: jsonb('last_error').$type<Record<string, unknown>>(),
    createdAt: ts('created_at').notNull(),
  },
  (t) => [
    uniqueIndex('send_jobs_message_idx').on(t.messageId),
    index('send_jobs_account_idx').on(t.account, t.seq),
    index('send_jobs_conversation_idx').on(t.conversationId, t.seq),
  ],
);

/**
 * Inbound items that could not be recorded (a value no sane platform sends, a row the database
 * refused): kept with their own raw bytes so nothing is lost, once per item (`dedupeKey`), and
 * announced on `evt.deadletter.in.<channel>.<account>` while the rest of their batch is recorded.
 */
export const inboundDeadLetters = pgTable(
  'inbound_dead_letters',
  {
    id: text('id').primaryKey(),
    channel: text('channel').notNull(),
    account: text('account').notNull(),
    dedupeKey: text('dedupe_key').notNull(),
    /** A short constant (`bad_timestamp`, `store_failed`); never personal data. */
    reason: text('reason').notNull(),
    /** The item's own bytes, base64 (they may not be valid text). */
    raw: text('raw').notNull(),
    createdAt: ts('created_at').notNull(),
  },
  (t) => [uniqueIndex('inbound_dead_letters_key_idx').on(t.channel, t.account, t.dedupeKey), index('inbound_dead_letters_time_idx').on(t.createdAt)],
);

/**
 * Where each polling account's next long poll starts. Written in the transaction that records
 * the events the previous poll returned, so a crash never loses or repeats an update.
 */
export const pollCursors = pgTable(
  'poll_cursors',
  {
    channel: text('channel').notNull(),
    account: text('account').notNull(),
    cursor: text('cursor'),
    updatedAt: ts('updated_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.channel, t.account] })],
);

/**
 * The message templates of each account that has a platform catalog (WhatsApp: the WABA's
 * templates), one row per (account, name, language), synced from the platform. `version` grows
 * on every status or category change and names the `template.updated` event of that change.
 */
export const messageTemplates = pgTable(
  'message_templates',
  {
    account: text('account').notNull(),
    name: text('name').notNull(),
    language: text('language').notNull(),
    channel: text('channel').notNull(),
    /** The platform's id of the template. */
    externalId: text('external_id'),
    /** APPROVED, PAUSED, DISABLED, REJECTED, PENDING, ... as the platform spells it. */
    status: text('status').notNull(),
    category: text('category'),
    quality: text('quality'),
    /** The template's parameters as the adapter reads them (header kind, body count, buttons). */
    parameters: jsonb('parameters').$type<Record<string, unknown>>().notNull(),
    /** The platform's components, untouched. */
    components: jsonb('components').$type<unknown[]>().notNull(),
    version: integer('version').notNull().default(1),
    /** When the last sync (or webhook) saw it; a row a full sync no longer lists is `DELETED`. */
    seenAt: ts('seen_at').notNull(),
    updatedAt: ts('updated_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.account, t.name, t.language] })],
);

/** Per account: when its template catalog was last synced, and whether a sync is wanted now. */
export const templateSyncs = pgTable('template_syncs', {
  account: text('account').primaryKey(),
  syncedAt: ts('synced_at'),
  /** Set by a template webhook on any replica; the syncing replica clears it when it syncs. */
  requestedAt: ts('requested_at'),
  lastError: text('last_error'),
  templates: integer('templates').notNull().default(0),
});

/**
 * The cost ledger: one row per billable outbound message, with what the platform says about
 * its price (category, billable, pricing model and type) and the units it counts (a LINE push
 * to a group counts each member). Amounts are estimated at query time from the account's
 * configured prices.
 */
export const costEntries = pgTable(
  'cost_entries',
  {
    messageId: text('message_id').primaryKey(),
    channel: text('channel').notNull(),
    account: text('account').notNull(),
    conversationId: text('conversation_id').notNull(),
    identityId: text('identity_id').notNull(),
    category: text('category').notNull(),
    billable: boolean('billable').notNull(),
    pricingModel: text('pricing_model'),
    pricingType: text('pricing_type'),
    units: integer('units').notNull(),
    /** Where the figures came from: `send` (known when sent) or `receipt` (the platform's status webhook). */
    source: text('source').notNull(),
    /** Facts behind an estimate, e.g. `{ membersUnknown: true }` for a group push counted as 1. */
    note: jsonb('note').$type<Record<string, unknown>>(),
    at: ts('at').notNull(),
  },
  (t) => [index('cost_entries_account_time_idx').on(t.account, t.at), index('cost_entries_time_idx').on(t.at)],
);
