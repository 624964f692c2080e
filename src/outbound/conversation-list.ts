/**
 * Listing conversations (`GET /v1/conversations`, `api.conversation.list`): those whose
 * service window is open first, then the rest, each part by latest message, cursor paged.
 * "Open" is judged at the moment of the first page, which the cursor carries: a window that
 * closes while a client pages does not move its conversation across the cursor, so no
 * conversation is listed twice. New messages only move conversations up, to where the client
 * has already been.
 *
 * The open part starts from the windows open at that moment (`session_windows_expires_idx`),
 * the rest walks `conversations_recent_idx` / `conversations_account_recent_idx` backwards.
 * The window of each item is the one `session.get` reads (the latest), judged by the same
 * `windowStateAt`.
 */
import { sql, type SQL } from 'drizzle-orm';
import type { Db } from '../core/storage/db.ts';
import { OmniError } from '../core/errors.ts';
import { rowsOf } from '../core/storage/lease.ts';
import { sessionRuleOf } from '../core/session-kinds.ts';
import type { ConversationListRequest, ConversationSummary } from '../core/schemas/api.ts';
import type { OutboundDeps } from './deps.ts';
import { survivorOf } from './recipients.ts';
import { windowStateAt } from './sessions.ts';

/** A position in a conversation list. */
export interface ConversationCursor {
  /** The moment of the first page (ms since the epoch): what "open" was judged at. */
  asOf: number;
  /** 1 while in the open part, 0 in the rest. */
  open: 0 | 1;
  /** last_message_at in microseconds since the epoch. */
  micros: string;
  id: string;
}

/** What the page query filters on. */
export interface ConversationFilter {
  account?: string | undefined;
  /** Only the direct conversations of this contact's identities (a merged-away id: its survivor's). */
  contactId?: string | undefined;
}

interface ConversationRow {
  id: string;
  channel: string;
  account: string;
  kind: 'direct' | 'group';
  title: string | null;
  identity_id: string | null;
  contact_id: string | null;
  session_kind: string | null;
  last_message_at: string;
  micros: string;
  expires_at: Date | string | null;
  quota_limit: number | null;
  quota_used: number | null;
  /** False when the contact was merged away (not in practice: identities follow merges). */
  contact_live: boolean | null;
}

const ISO = sql.raw(`'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'`);

/** The most rows a part of a page reads (the API's largest limit + 1); see the comment in conversationPageQuery. */
const MAX_PAGE_ROWS = 201;

/** Merge chains are short (each merge adds one hop); this bounds a walk of a broken one. */
const MAX_SURVIVOR_HOPS = 32;

/** One page of conversations: one statement (both parts, contacts included), one round trip. */
export async function listConversations(deps: OutboundDeps, request: ConversationListRequest): Promise<{ items: ConversationSummary[]; nextCursor: string | null }> {
  const cursor = request.cursor === undefined ? null : decodeConversationCursor(request.cursor);
  const asOf = cursor ? new Date(cursor.asOf) : deps.clock.now();
  const filter: ConversationFilter = { account: request.account, contactId: request.contactId };
  const take = request.limit + 1;
  const rows = rowsOf<ConversationRow & { open: 0 | 1 }>(await deps.db.execute(conversationListStatement(filter, asOf, cursor, take)));
  // Nothing listed for a contact id: tell an unknown contact from one without conversations.
  if (rows.length === 0 && request.contactId !== undefined && (await survivorOf(deps.db, request.contactId)) === null) {
    throw new OmniError('unknown_contact', 'no such contact', { details: { id: request.contactId } });
  }
  const page = rows.slice(0, request.limit);
  const items = await Promise.all(page.map((row) => summaryOf(deps, row, asOf)));
  const last = page[page.length - 1];
  return {
    items,
    nextCursor: rows.length > page.length && last ? encodeConversationCursor({ asOf: asOf.getTime(), open: last.open, micros: last.micros, id: last.id }) : null,
  };
}

/**
 * A whole page: the open part after the cursor (when the cursor is still in it), then the rest,
 * with each conversation's contact. The parts are an Append read in order under the page's
 * limit, so the rest is only read when the open part runs out.
 */
export function conversationListStatement(filter: ConversationFilter, asOf: Date, cursor: ConversationCursor | null, take: number): SQL {
  const parts: SQL[] = [];
  if (!cursor || cursor.open === 1) parts.push(sql`select * from (${conversationPageQuery(filter, 1, asOf, cursor, MAX_PAGE_ROWS)}) open_part`);
  parts.push(sql`select * from (${conversationPageQuery(filter, 0, asOf, cursor?.open === 0 ? cursor : null, MAX_PAGE_ROWS)}) rest_part`);
  return sql`
    select p.*, co.merged_into is null as contact_live
    from (${sql.join(parts, sql` union all `)} limit ${take}) p
    left join contacts co on co.id = p.contact_id
    order by p.open desc, p.sort_at desc, p.id desc`;
}

/**
 * One part of the list: open windows at `asOf` (`open` 1) or the rest (0), latest message
 * first, after `cursor` when given. `take` is a constant, not the request's limit: a generic
 * plan (postgres.js prepares every statement) then knows the part is small instead of guessing
 * a tenth of the table, which would also have it compiled by JIT. Exported for the EXPLAIN test.
 */
export function conversationPageQuery(filter: ConversationFilter, open: 0 | 1, asOf: Date, cursor: ConversationCursor | null, take: number): SQL {
  const at = sql`${asOf.toISOString()}::timestamptz`;
  const conditions: SQL[] = [];
  if (filter.account !== undefined) conditions.push(sql`and c.account = ${filter.account}`);
  if (filter.contactId !== undefined) {
    // The direct conversations of every identity the contact (or, merged away, its survivor) holds.
    conditions.push(sql`and c.identity_id = any(array(
      select oi.id from identities oi where oi.contact_id = (
        with recursive chain(id, merged_into, depth) as (
          select id, merged_into, 0 from contacts where id = ${filter.contactId}
          union all
          select cc.id, cc.merged_into, chain.depth + 1 from contacts cc join chain on cc.id = chain.merged_into where chain.depth < ${MAX_SURVIVOR_HOPS}
        )
        select id from chain where merged_into is null order by depth desc limit 1)))`);
  }
  if (cursor) {
    conditions.push(sql`and (c.last_message_at, c.id) < (timestamptz 'epoch' + ${cursor.micros}::bigint * interval '1 microsecond', ${cursor.id})`);
  }
  const part =
    open === 1
      ? sql`and c.id in (select ow.conversation_id from session_windows ow where ow.expires_at > ${at}) and w.expires_at > ${at}`
      : sql`and (w.expires_at is null or w.expires_at <= ${at})`;
  return sql`
    select c.id, c.channel, c.account, c.kind, c.title, c.identity_id, i.contact_id, c.session_kind,
           to_char(c.last_message_at at time zone 'UTC', ${ISO}) as last_message_at,
           (extract(epoch from c.last_message_at) * 1000000)::bigint::text as micros,
           w.expires_at, w.quota_limit, w.quota_used, ${sql.raw(String(open))} as open, c.last_message_at as sort_at
    from conversations c
    left join lateral (
      select lw.expires_at, lw.quota_limit, lw.quota_used from session_windows lw
      where lw.conversation_id = c.id order by lw.opened_at desc limit 1
    ) w on true
    left join identities i on i.id = c.identity_id
    where true ${sql.join(conditions, sql` `)} ${part}
    order by c.last_message_at desc, c.id desc
    limit ${sql.raw(String(take))}`;
}

async function summaryOf(deps: OutboundDeps, row: ConversationRow, asOf: Date): Promise<ConversationSummary> {
  return {
    id: row.id,
    channel: row.channel,
    account: row.account,
    kind: row.kind,
    title: row.title,
    // Identities point at live contacts (read in the same statement); the walk is for a broken row.
    contactId: row.contact_id === null || row.contact_live ? row.contact_id : ((await survivorOf(deps.db, row.contact_id)) ?? row.contact_id),
    identityId: row.identity_id,
    lastMessageAt: row.last_message_at,
    window: windowOf(deps, row, asOf),
  };
}

/** The conversation's window as of `asOf`, judged like `session.get`. */
function windowOf(deps: OutboundDeps, row: ConversationRow, asOf: Date): ConversationSummary['window'] {
  const entry = deps.accounts.get(row.account);
  const expiresAt = row.expires_at === null ? null : new Date(row.expires_at);
  const closed = (window: string): ConversationSummary['window'] => ({ state: 'closed', window, ...(expiresAt ? { closedSince: expiresAt.toISOString() } : {}) });
  // An account no longer configured cannot send at all.
  if (!entry) return closed('none');
  const rule = sessionRuleOf(entry.adapter.capabilities, entry.window, row.session_kind);
  if (rule.windowMs === null) return { state: 'none', window: rule.window };
  if (!expiresAt || windowStateAt(entry, expiresAt, asOf) === 'expired') return closed(rule.window);
  return {
    state: 'open',
    window: rule.window,
    expiresAt: expiresAt.toISOString(),
    ...(row.quota_limit !== null ? { messagesLeft: Math.max(0, row.quota_limit - (row.quota_used ?? 0)) } : {}),
  };
}

/** The opaque `nextCursor` of a conversation list. */
export function encodeConversationCursor(cursor: ConversationCursor): string {
  return Buffer.from(`v1.${cursor.asOf}.${cursor.open}.${cursor.micros}.${cursor.id}`).toString('base64url');
}

/** Reads a conversation list `nextCursor`; anything else is `invalid_request`. */
export function decodeConversationCursor(text: string): ConversationCursor {
  const match = /^v1\.(\d{1,15})\.([01])\.(-?\d{1,20})\.(cv_\S{1,200})$/.exec(Buffer.from(text, 'base64url').toString());
  if (!match) throw new OmniError('invalid_request', 'cursor is not a cursor this API returned', { details: { field: 'cursor' } });
  return { asOf: Number(match[1]), open: match[2] === '1' ? 1 : 0, micros: match[3]!, id: match[4]! };
}
