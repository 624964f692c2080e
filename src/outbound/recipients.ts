/**
 * Who a send goes to: a contact (aliases of merged contacts resolve to the survivor), a
 * platform id on an account or a conversation (direct or group), down to the identity and the
 * conversation the message joins.
 * Read-only: a conversation that does not exist yet is created in the acceptance transaction.
 */
import { and, desc, eq, inArray, sql, type SQL } from 'drizzle-orm';
import type { Db, Tx } from '../core/storage/db.ts';
import { contacts, conversations, identities, identityAliases, messages, sessionWindows } from '../core/storage/schema.ts';
import { rowsOf } from '../core/storage/lease.ts';
import { OmniError } from '../core/errors.ts';
import type { AdapterEntry } from '../core/registry.ts';
import type { AccountSource } from './deps.ts';
import { erasedAt } from '../core/erasure-tombstones.ts';
import { sessionRuleOf } from '../core/session-kinds.ts';

/** The resolved recipient of a send. */
export interface Recipient {
  identityId: string;
  /** The identity's platform id on the account (what the adapter sends to). */
  externalId: string;
  /** The current canonical contact (after merges). */
  contactId: string;
  displayName: string | null;
  phone: string | null;
  /** The direct conversation, or null when none exists yet (created on accept). */
  conversationId: string | null;
  conversationExternalId: string;
  /** Set when the platform reported the identity unreachable (blocked, unfollowed). */
  unreachableSince: Date | null;
  /** The conversation's session kind (its window rule), null: the channel's default. */
  sessionKind: string | null;
}

/** The latest service window of a conversation, as the rules need it. */
export interface WindowRow {
  id: string;
  openedAt: Date;
  expiresAt: Date | null;
  quotaLimit: number | null;
  quotaUsed: number;
}

type IdentityRow = typeof identities.$inferSelect;

/** Follows `contacts.merged_into` to the survivor; null for an unknown id. */
export async function survivorOf(db: Db | Tx, contactId: string): Promise<string | null> {
  // Bounded: a cycle (which merging must never create) ends the walk instead of looping.
  const result = await db.execute(sql`
    with recursive chain(id, merged_into, depth) as (
      select id, merged_into, 0 from contacts where id = ${contactId}
      union all
      select c.id, c.merged_into, chain.depth + 1 from contacts c join chain on c.id = chain.merged_into where chain.depth < 32
    )
    select id, merged_into from chain order by depth desc limit 1`);
  const [last] = rowsOf<{ id: string; merged_into: string | null }>(result);
  if (!last) return null;
  if (last.merged_into !== null) throw new OmniError('internal', 'contact merge chain does not end', { details: { contactId } });
  return last.id;
}

/** The latest window of a conversation, or null when it never had one. */
export async function latestWindow(db: Db, conversationId: string): Promise<WindowRow | null> {
  const [row] = await db
    .select({
      id: sessionWindows.id,
      openedAt: sessionWindows.openedAt,
      expiresAt: sessionWindows.expiresAt,
      quotaLimit: sessionWindows.quotaLimit,
      quotaUsed: sessionWindows.quotaUsed,
    })
    .from(sessionWindows)
    .where(eq(sessionWindows.conversationId, conversationId))
    .orderBy(desc(sessionWindows.openedAt))
    .limit(1);
  return row ?? null;
}

/**
 * Whether a conversation may get a free-form message now: no window for its kind of
 * conversation on the channel, or an open one.
 */
export function windowOpen(entry: AdapterEntry, window: WindowRow | null, now: Date, sessionKind: string | null = null): boolean {
  if (sessionRuleOf(entry.adapter.capabilities, entry.window, sessionKind).windowMs === null) return true;
  return window?.expiresAt != null && window.expiresAt > now;
}

/**
 * Resolves `to.externalId` on an account; unknown_contact when the account never met them,
 * recipient_unreachable when they were erased (unsubscribed) and have not come back.
 */
export async function byExternalId(db: Db, entry: AdapterEntry, externalId: string): Promise<Recipient> {
  const { channel, id: account } = entry.account;
  const lookup = (where: SQL | undefined) =>
    db
      .select({ identity: identities, mergedInto: contacts.mergedInto })
      .from(identities)
      .leftJoin(contacts, eq(contacts.id, identities.contactId))
      .where(where)
      .limit(1);
  let [found] = await lookup(and(eq(identities.channel, channel), eq(identities.account, account), eq(identities.externalId, externalId)));
  if (!found) {
    const alias = db
      .select({ id: identityAliases.identityId })
      .from(identityAliases)
      .where(and(eq(identityAliases.channel, channel), eq(identityAliases.account, account), eq(identityAliases.alias, externalId)));
    [found] = await lookup(inArray(identities.id, alias));
  }
  if (!found) {
    // Erased on the platform's request (unsubscribed): the account did know them, and they left.
    const erased = await erasedAt(db, { channel, account }, externalId);
    if (erased) {
      throw new OmniError('recipient_unreachable', 'the recipient left and their data was erased', { details: { account, since: erased.toISOString() } });
    }
    throw new OmniError('unknown_contact', 'no contact with this platform id on this account', { details: { account } });
  }
  const { identity, mergedInto } = found;
  // Identities move to the survivor when contacts merge: the chain is walked only if needed.
  const contactId = mergedInto ? ((await survivorOf(db, identity.contactId)) ?? identity.contactId) : identity.contactId;
  return withConversation(db, identity, contactId);
}

/** Resolves `to.contactId` on a given account: the contact's identity there. */
export async function byContactOnAccount(db: Db, entry: AdapterEntry, contactId: string): Promise<Recipient> {
  const survivor = await requireContact(db, contactId);
  const { channel, id: account } = entry.account;
  // Of several identities on one account (two numbers of one person), the most recently active.
  const rows = await db
    .select({ identity: identities })
    .from(identities)
    .leftJoin(conversations, and(eq(conversations.identityId, identities.id), eq(conversations.kind, 'direct')))
    .where(and(inArray(identities.contactId, unique([survivor, contactId])), eq(identities.channel, channel), eq(identities.account, account)))
    .orderBy(sql`${conversations.lastMessageAt} desc nulls last`)
    .limit(1);
  const identity = rows[0]?.identity;
  if (!identity) {
    throw new OmniError('unknown_contact', 'the contact has no identity on this account', { details: { contactId, account } });
  }
  return withConversation(db, identity, survivor);
}

/**
 * Resolves `to.contactId` without an account: the contact's most recently active conversation
 * whose session is open (on channels without a window every conversation is open).
 */
export async function byContactAnywhere(
  db: Db,
  accounts: AccountSource,
  contactId: string,
  now: Date,
): Promise<{ entry: AdapterEntry; recipient: Recipient }> {
  const survivor = await requireContact(db, contactId);
  const rows = await db
    .select({ identity: identities, conversation: conversations })
    .from(conversations)
    .innerJoin(identities, eq(conversations.identityId, identities.id))
    .where(and(inArray(identities.contactId, unique([survivor, contactId])), eq(conversations.kind, 'direct')))
    .orderBy(desc(conversations.lastMessageAt))
    .limit(100);
  for (const { identity, conversation } of rows) {
    const entry = accounts.get(conversation.account);
    if (!entry || entry.account.channel !== conversation.channel || !entry.adapter.send) continue;
    if (!windowOpen(entry, await latestWindow(db, conversation.id), now, conversation.sessionKind)) continue;
    return { entry, recipient: toRecipient(identity, survivor, conversation) };
  }
  throw new OmniError('no_open_session', 'the contact has no conversation with an open session', { details: { contactId } });
}

/**
 * Resolves `to.conversationId`: the conversation's account and, for a direct conversation, its
 * customer as `to.externalId` would. A group has no customer of its own: its message is filed
 * under the member who wrote last (every stored message has an identity), and one member's
 * state never blocks the group.
 */
export async function byConversation(
  db: Db,
  accounts: AccountSource,
  conversationId: string,
): Promise<{ entry: AdapterEntry | undefined; account: string; recipient: Recipient }> {
  const [conversation] = await db.select().from(conversations).where(eq(conversations.id, conversationId)).limit(1);
  if (!conversation) throw new OmniError('unknown_contact', 'no such conversation', { details: { conversationId } });
  const entry = accounts.get(conversation.account);
  const usable = entry !== undefined && entry.account.channel === conversation.channel ? entry : undefined;
  const identity = conversation.identityId !== null ? await identityById(db, conversation.identityId) : await lastWriterOf(db, conversation.id);
  if (!identity) throw new OmniError('unknown_contact', 'the conversation has no one to write to', { details: { conversationId } });
  const contactId = (await survivorOf(db, identity.contactId)) ?? identity.contactId;
  const recipient = toRecipient(identity, contactId, conversation);
  if (conversation.kind === 'group') recipient.unreachableSince = null;
  return { entry: usable, account: conversation.account, recipient };
}

async function identityById(db: Db, id: string): Promise<IdentityRow | undefined> {
  const [row] = await db.select().from(identities).where(eq(identities.id, id)).limit(1);
  return row;
}

/** The identity of the newest inbound message of a conversation. */
async function lastWriterOf(db: Db, conversationId: string): Promise<IdentityRow | undefined> {
  const [row] = await db
    .select({ identity: identities })
    .from(messages)
    .innerJoin(identities, eq(identities.id, messages.identityId))
    .where(and(eq(messages.conversationId, conversationId), eq(messages.direction, 'in')))
    .orderBy(desc(messages.timestamp))
    .limit(1);
  return row?.identity;
}

async function requireContact(db: Db, contactId: string): Promise<string> {
  const survivor = await survivorOf(db, contactId);
  if (!survivor) throw new OmniError('unknown_contact', 'no such contact', { details: { contactId } });
  return survivor;
}

async function withConversation(db: Db, identity: IdentityRow, contactId: string): Promise<Recipient> {
  const [conversation] = await db
    .select()
    .from(conversations)
    .where(and(eq(conversations.identityId, identity.id), eq(conversations.kind, 'direct')))
    .orderBy(desc(conversations.lastMessageAt))
    .limit(1);
  return toRecipient(identity, contactId, conversation ?? null);
}

function toRecipient(identity: IdentityRow, contactId: string, conversation: typeof conversations.$inferSelect | null): Recipient {
  return {
    identityId: identity.id,
    externalId: identity.externalId,
    contactId,
    displayName: identity.displayName,
    phone: identity.phone,
    conversationId: conversation?.id ?? null,
    // A direct conversation is keyed by the customer's platform id on every channel.
    conversationExternalId: conversation?.externalId ?? identity.externalId,
    // The customer gone (blocked, unfollowed), or only this chat's connection revoked.
    unreachableSince: identity.unreachableAt ?? conversation?.unreachableAt ?? null,
    sessionKind: conversation?.sessionKind ?? null,
  };
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}

/** Refuses recipients the platform told us are gone (blocked the bot, unfollowed, unsubscribed). */
export function checkReachable(recipient: Recipient): void {
  if (recipient.unreachableSince) {
    throw new OmniError('recipient_unreachable', 'the platform reported this recipient unreachable', {
      details: { since: recipient.unreachableSince.toISOString() },
    });
  }
}
