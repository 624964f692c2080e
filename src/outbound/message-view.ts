/**
 * Messages as clients see them (`omni.message/v1`), built from rows: for `message.get` and the
 * `message.out` event of an accepted send.
 */
import { and, desc, eq, lte } from 'drizzle-orm';
import type { Db } from '../core/storage/db.ts';
import { identities, messages, sessionWindows } from '../core/storage/schema.ts';
import { OmniError, type ErrorBody } from '../core/errors.ts';
import type { DeliveryStatus, MessageEvent, Part } from '../core/model.ts';
import type { AccountSource } from './deps.ts';
import { survivorOf } from './recipients.ts';

/** A message with its current delivery status (null for inbound messages). */
export interface MessageView {
  message: MessageEvent;
  delivery: { status: DeliveryStatus; at: string; error?: ErrorBody } | null;
}

/** Reads one message; not_found when there is none. */
export async function loadMessage(db: Db, accounts: AccountSource, id: string): Promise<MessageView> {
  const [row] = await db
    .select({ message: messages, identity: identities })
    .from(messages)
    .innerJoin(identities, eq(identities.id, messages.identityId))
    .where(eq(messages.id, id))
    .limit(1);
  if (!row) throw new OmniError('not_found', 'no such message', { details: { id } });
  const { message, identity } = row;
  const contactId = (await survivorOf(db, identity.contactId)) ?? identity.contactId;
  return messageViewOf(message, identity, contactId, await sessionAt(db, accounts, message.account, message.conversationId, message.timestamp));
}

/**
 * The view of one stored message: its event and its delivery. `session` is the window that
 * covered it (null where none); `contactId` the live contact of its identity.
 */
export function messageViewOf(
  message: typeof messages.$inferSelect,
  identity: typeof identities.$inferSelect,
  contactId: string,
  session: MessageEvent['session'],
): MessageView {
  const event: MessageEvent = {
    schema: 'omni.message/v1',
    id: message.id,
    direction: message.direction,
    channel: message.channel,
    account: message.account,
    externalId: message.externalId,
    conversationId: message.conversationId,
    contact: {
      id: contactId,
      identity: { channel: identity.channel, account: identity.account, externalId: identity.externalId },
      displayName: identity.displayName,
      phone: identity.phone,
    },
    timestamp: message.timestamp.toISOString(),
    receivedAt: message.receivedAt.toISOString(),
    parts: message.parts as Part[],
    ...(message.replyTo !== null ? { replyTo: { externalId: message.replyTo } } : {}),
    ...(message.referral !== null ? { referral: message.referral } : {}),
    session,
    raw: message.raw ?? null,
    ...(message.metadata ? { metadata: message.metadata } : {}),
  };
  if (message.direction === 'in') return { message: event, delivery: null };
  const status = (message.status ?? 'queued') as DeliveryStatus;
  const error = message.error as ErrorBody | null;
  return {
    message: event,
    delivery: { status, at: (message.statusAt ?? message.receivedAt).toISOString(), ...(error && status === 'failed' ? { error } : {}) },
  };
}

/** The window that covered a moment of a conversation, as published on messages. */
async function sessionAt(db: Db, accounts: AccountSource, account: string, conversationId: string, at: Date): Promise<MessageEvent['session']> {
  const window = accounts.get(account)?.window;
  if (!window) return null;
  const [row] = await db
    .select({ expiresAt: sessionWindows.expiresAt })
    .from(sessionWindows)
    .where(and(eq(sessionWindows.conversationId, conversationId), lte(sessionWindows.openedAt, at)))
    .orderBy(desc(sessionWindows.openedAt))
    .limit(1);
  if (!row?.expiresAt || row.expiresAt <= at) return null;
  return { window, expiresAt: row.expiresAt.toISOString() };
}
