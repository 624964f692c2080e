/**
 * The timeline of a contact: every message in and out of every identity it holds, newest
 * first, paged by an opaque cursor. One index range scan per identity
 * (`messages_identity_time_idx` on identity, received_at, id), each stopping after one page,
 * merged by the database: a page costs the same at a thousand or a million stored messages.
 * A page holds at most `limit` messages and at most {@link TIMELINE_PAGE_BYTES} of them.
 */
import { eq, sql, type SQL } from 'drizzle-orm';
import type { Db } from '../core/storage/db.ts';
import { identities } from '../core/storage/schema.ts';
import type { MessageEvent, Part } from '../core/model.ts';
import { OmniError } from '../core/errors.ts';
import { rowsOf } from './evidence.ts';
import { requireContactId } from './store.ts';

/** Timestamps as the events carry them (`2026-11-21T10:00:00.000Z`), whichever driver reads them. */
const ISO = sql.raw(`'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'`);

/** One page of a timeline. */
export interface TimelinePage {
  messages: MessageEvent[];
  /** Pass as `before` for the next (older) page; null on the last page. */
  nextCursor: string | null;
}

/** A position in a timeline: just after (older than) this message. */
export interface Cursor {
  /** received_at in microseconds since the epoch: PostgreSQL keeps microseconds, a JS Date does not. */
  micros: string;
  id: string;
}

interface TimelineRow {
  id: string;
  direction: 'in' | 'out';
  channel: string;
  account: string;
  conversation_id: string;
  identity_id: string;
  external_id: string | null;
  timestamp: string;
  received_at: string;
  parts: Part[];
  reply_to: string | null;
  referral: Record<string, unknown> | null;
  raw: unknown;
  micros: string;
}

/**
 * Most bytes of messages (as JSON) in one page: with the rest of the answer it stays well
 * under NATS's default max payload of 1 MiB, over HTTP and NATS alike, so the same request
 * gets the same page on both. A page cut by bytes has fewer than `limit` messages and a cursor.
 */
export const TIMELINE_PAGE_BYTES = 512 * 1024;

/**
 * A page of the contact's timeline; `before` is a `nextCursor` from an earlier page.
 * `maxBytes` (default {@link TIMELINE_PAGE_BYTES}) bounds the page by size.
 */
export async function timeline(db: Db, request: { id: string; limit: number; before?: string | undefined; maxBytes?: number }): Promise<TimelinePage> {
  const contactId = await requireContactId(db, request.id);
  const cursor = request.before === undefined ? null : decodeCursor(request.before);
  const owned = await db.select().from(identities).where(eq(identities.contactId, contactId));
  if (owned.length === 0) return { messages: [], nextCursor: null };
  const take = request.limit + 1;
  const result = await db.execute(timelineQuery(owned.map((identity) => identity.id), cursor, take));
  const rows = rowsOf<TimelineRow>(result);
  const byId = new Map(owned.map((identity) => [identity.id, identity]));
  // Bounded by bytes as well as by count: the page stops early (cursor and all) once full.
  const maxBytes = request.maxBytes ?? TIMELINE_PAGE_BYTES;
  const messages: MessageEvent[] = [];
  let bytes = 0;
  let last: TimelineRow | undefined;
  for (const row of rows.slice(0, request.limit)) {
    const event = toEvent(row, contactId, byId.get(row.identity_id)!);
    const size = Buffer.byteLength(JSON.stringify(event));
    // At least one message per page, however large, so paging always moves on.
    if (messages.length > 0 && bytes + size > maxBytes) break;
    messages.push(event);
    bytes += size;
    last = row;
  }
  return {
    messages,
    nextCursor: rows.length > messages.length && last ? encodeCursor({ micros: last.micros, id: last.id }) : null,
  };
}

/**
 * The page query: per identity, a backward range scan of `messages_identity_time_idx` that
 * stops after `take` rows, then the newest `take` of those. Exported for the EXPLAIN test.
 */
export function timelineQuery(identityIds: ReadonlyArray<string>, cursor: Cursor | null, take: number): SQL {
  const older = cursor
    ? sql`and (m.received_at, m.id) < (timestamptz 'epoch' + ${cursor.micros}::bigint * interval '1 microsecond', ${cursor.id})`
    : sql``;
  return sql`
    select page.id, page.direction, page.channel, page.account, page.conversation_id, page.identity_id, page.external_id,
           page.parts, page.reply_to, page.referral, page.raw,
           to_char(page.timestamp at time zone 'UTC', ${ISO}) as timestamp,
           to_char(page.received_at at time zone 'UTC', ${ISO}) as received_at,
           (extract(epoch from page.received_at) * 1000000)::bigint::text as micros
    from jsonb_array_elements_text(${JSON.stringify(identityIds)}::jsonb) as owner(identity_id)
    cross join lateral (
      select m.id, m.direction, m.channel, m.account, m.conversation_id, m.identity_id, m.external_id, m.timestamp,
             m.received_at, m.parts, m.reply_to, m.referral, m.raw
      from messages m
      where m.identity_id = owner.identity_id ${older}
      order by m.received_at desc, m.id desc
      limit ${take}
    ) page
    order by page.received_at desc, page.id desc
    limit ${take}`;
}

function toEvent(row: TimelineRow, contactId: string, identity: typeof identities.$inferSelect): MessageEvent {
  return {
    schema: 'omni.message/v1',
    id: row.id,
    direction: row.direction,
    channel: row.channel,
    account: row.account,
    externalId: row.external_id,
    conversationId: row.conversation_id,
    contact: {
      id: contactId,
      identity: { channel: identity.channel, account: identity.account, externalId: identity.externalId },
      displayName: identity.displayName,
      phone: identity.phone,
    },
    timestamp: row.timestamp,
    receivedAt: row.received_at,
    parts: row.parts,
    ...(row.reply_to ? { replyTo: { externalId: row.reply_to } } : {}),
    ...(row.referral ? { referral: row.referral } : {}),
    // The window a message fell in is history; the current one is on the profile and session.get.
    session: null,
    raw: row.raw,
  };
}

/** The opaque `nextCursor` for a position. */
export function encodeCursor(cursor: Cursor): string {
  return Buffer.from(`${cursor.micros}.${cursor.id}`).toString('base64url');
}

/** Reads a `nextCursor`; anything else is `invalid_request`. */
export function decodeCursor(text: string): Cursor {
  const decoded = Buffer.from(text, 'base64url').toString();
  const match = /^(-?\d{1,20})\.(msg_\S{1,200})$/.exec(decoded);
  if (!match) throw new OmniError('invalid_request', 'before is not a cursor this API returned', { details: { field: 'before' } });
  return { micros: match[1]!, id: match[2]! };
}
