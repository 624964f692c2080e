/**
 * A conversation's messages (`GET /v1/conversations/{id}/messages`, `api.conversation.messages`):
 * newest first, each in the view of `message.get` (event and delivery status), paged by an
 * opaque cursor over (received_at, id). One backward range scan of
 * `messages_conversation_time_idx` per page; messages arriving meanwhile land before the
 * first page, so paging on never repeats or skips one. A page holds at most `limit` messages
 * and at most {@link MESSAGES_PAGE_BYTES} of them.
 */
import { and, desc, eq, sql, type SQL } from 'drizzle-orm';
import type { Db } from '../core/storage/db.ts';
import { contacts, conversations, identities, messages, sessionWindows } from '../core/storage/schema.ts';
import { OmniError } from '../core/errors.ts';
import { rowsOf } from '../core/storage/lease.ts';
import type { ConversationMessagesRequest } from '../core/schemas/api.ts';
import { sessionRuleOf } from '../core/session-kinds.ts';
import type { OutboundDeps } from './deps.ts';
import { messageViewOf, type MessageView } from './message-view.ts';
import { survivorOf } from './recipients.ts';

/** Most bytes of messages (as JSON) in one page, so an answer fits NATS's default 1 MiB max payload. */
export const MESSAGES_PAGE_BYTES = 512 * 1024;

/** A position in a conversation: just after (older than) this message. */
export interface MessageCursor {
  micros: string;
  id: string;
}

/** One page of a conversation's messages; `maxBytes` bounds the page by size. */
export async function conversationMessages(
  deps: Pick<OutboundDeps, 'db' | 'accounts'>,
  request: ConversationMessagesRequest & { maxBytes?: number },
): Promise<{ items: MessageView[]; nextCursor: string | null }> {
  const { db } = deps;
  const cursor = request.before === undefined ? null : decodeMessageCursor(request.before);
  // One statement in the common case: each row carries its conversation and contact.
  const rows = await conversationMessagesQuery(db, request.conversationId, cursor, request.limit + 1);
  const conversation = rows[0]?.conversation ?? (await conversationOf(db, request.conversationId));
  if (!conversation) throw new OmniError('not_found', 'no such conversation', { details: { conversationId: request.conversationId } });
  const survivors = await survivorsOf(db, rows.filter((row) => row.contactMergedInto !== null).map((row) => row.identity.contactId));
  const entry = deps.accounts.get(conversation.account);
  const window = entry ? sessionRuleOf(entry.adapter.capabilities, entry.window, conversation.sessionKind).window : null;
  const maxBytes = request.maxBytes ?? MESSAGES_PAGE_BYTES;
  const items: MessageView[] = [];
  let bytes = 0;
  let last: (typeof rows)[number] | undefined;
  for (const row of rows.slice(0, request.limit)) {
    const expiresAt = row.sessionExpiresAt;
    const session = window && expiresAt && expiresAt > row.message.timestamp ? { window, expiresAt: expiresAt.toISOString() } : null;
    const view = messageViewOf(row.message, row.identity, survivors.get(row.identity.contactId) ?? row.identity.contactId, session);
    const size = Buffer.byteLength(JSON.stringify(view));
    // At least one message per page, however large, so paging always moves on.
    if (items.length > 0 && bytes + size > maxBytes) break;
    items.push(view);
    bytes += size;
    last = row;
  }
  return { items, nextCursor: rows.length > items.length && last ? encodeMessageCursor({ micros: last.micros, id: last.message.id }) : null };
}

/**
 * The page query: messages of the conversation newest first, each with its identity and the
 * window that covered it; a backward range scan of `messages_conversation_time_idx`.
 * Exported for the EXPLAIN test.
 */
export function conversationMessagesQuery(db: Db, conversationId: string, cursor: MessageCursor | null, take: number) {
  return db
    .select({
      message: messages,
      identity: identities,
      conversation: { account: conversations.account, sessionKind: conversations.sessionKind },
      // Identities point at live contacts; not null only for a row read mid-merge.
      contactMergedInto: contacts.mergedInto,
      micros: sql<string>`(extract(epoch from ${messages.receivedAt}) * 1000000)::bigint::text`,
      // The window that covered the message, as message.get reads it.
      sessionExpiresAt: sql<Date | null>`(select sw.expires_at from session_windows sw
        where sw.conversation_id = ${messages.conversationId} and sw.opened_at <= ${messages.timestamp}
        order by sw.opened_at desc limit 1)`.mapWith(sessionWindows.expiresAt),
    })
    .from(messages)
    .innerJoin(identities, eq(identities.id, messages.identityId))
    .innerJoin(conversations, eq(conversations.id, messages.conversationId))
    .leftJoin(contacts, eq(contacts.id, identities.contactId))
    .where(and(eq(messages.conversationId, conversationId), olderThan(cursor)))
    .orderBy(desc(messages.receivedAt), desc(messages.id))
    .limit(take);
}

/** The conversation alone: for a page without messages (none yet, or paged past the last). */
async function conversationOf(db: Db, conversationId: string): Promise<{ account: string; sessionKind: string | null } | undefined> {
  const [conversation] = await db
    .select({ account: conversations.account, sessionKind: conversations.sessionKind })
    .from(conversations)
    .where(eq(conversations.id, conversationId))
    .limit(1);
  return conversation;
}

function olderThan(cursor: MessageCursor | null): SQL | undefined {
  if (!cursor) return undefined;
  return sql`(${messages.receivedAt}, ${messages.id}) < (timestamptz 'epoch' + ${cursor.micros}::bigint * interval '1 microsecond', ${cursor.id})`;
}

/** The live contact of each contact id (identities point at live ones; this covers a row read mid-merge). */
async function survivorsOf(db: Db, ids: ReadonlyArray<string>): Promise<Map<string, string>> {
  const unique = [...new Set(ids)];
  const out = new Map<string, string>();
  if (unique.length === 0) return out;
  const rows = await db.execute(sql`select id, merged_into from contacts where id = any(array(select jsonb_array_elements_text(${JSON.stringify(unique)}::jsonb)))`);
  for (const row of rowsOf<{ id: string; merged_into: string | null }>(rows)) {
    out.set(row.id, row.merged_into === null ? row.id : ((await survivorOf(db, row.id)) ?? row.id));
  }
  return out;
}

/** The opaque `nextCursor` of a conversation's messages. */
export function encodeMessageCursor(cursor: MessageCursor): string {
  return Buffer.from(`m1.${cursor.micros}.${cursor.id}`).toString('base64url');
}

/** Reads a `nextCursor` of a conversation's messages; anything else is `invalid_request`. */
export function decodeMessageCursor(text: string): MessageCursor {
  const match = /^m1\.(-?\d{1,20})\.(msg_\S{1,200})$/.exec(Buffer.from(text, 'base64url').toString());
  if (!match) throw new OmniError('invalid_request', 'before is not a cursor this API returned', { details: { field: 'before' } });
  return { micros: match[1]!, id: match[2]! };
}
