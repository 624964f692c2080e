/**
 * Lists and search of docs/api.md: contacts (`api.contact.list`, `GET /v1/contacts`),
 * conversations (`api.conversation.list`, `GET /v1/conversations`) and a conversation's
 * messages (`api.conversation.messages`, `GET /v1/conversations/{id}/messages`). Every list
 * answers `{ items, nextCursor }`, newest first; pass `nextCursor` back for the next page.
 * Requests are strict, answers open (like the rest of api.ts, which re-exports this file).
 */
import { z } from 'zod';
import {
  accountIdSchema,
  channelIdSchema,
  daemonIdSchema,
  deliveryStatusSchema,
  errorBodySchema,
  messageEventSchema,
  timestampSchema,
} from './events.ts';

const contactId = daemonIdSchema('ct', 'Contact id');
const conversationId = daemonIdSchema('cv', 'Conversation id');
const identityId = daemonIdSchema('idn', 'Identity id');
const limit = z.number().int().min(1).max(200).default(50).describe('Items per page, 1 to 200 (default 50).');
const cursor = z.string().min(1).max(500).describe('The `nextCursor` of the previous page.');
const nextCursor = z.string().nullable().describe('Pass it as `cursor` (messages: `before`) for the next page; null on the last page.');

// ---- contacts ------------------------------------------------------------------------------

/**
 * `api.contact.list` / `GET /v1/contacts?q=&channel=&account=&activeSince=&limit=&cursor=`:
 * every live contact, newest activity first; `q` searches names (any word's prefix, any case),
 * phones (normalised to E.164), emails, platform ids and contact ids.
 */
export const contactListRequestSchema = z.strictObject({
  q: z.string().trim().min(1).max(200).optional().describe('Name (word prefix), phone, email, platform id or contact id.'),
  channel: channelIdSchema.optional().describe('Only contacts with an identity on this channel.'),
  account: accountIdSchema.optional().describe('Only contacts with an identity on this account.'),
  activeSince: timestampSchema.optional().describe('Only contacts active at or after this time.'),
  limit,
  cursor: cursor.optional(),
});

/** One identity in a contact list item. */
export const contactSummaryIdentitySchema = z.object({
  id: identityId,
  channel: channelIdSchema,
  account: accountIdSchema,
  externalId: z.string().describe('The platform id of the person on the account.'),
  displayName: z.string().nullable(),
  lastSeenAt: timestampSchema.describe('When the person was last seen on this identity.'),
});

/** One contact in a list: enough to show a row; the full profile is `contact.get`. */
export const contactSummarySchema = z.object({
  id: contactId.describe('The live (merged) contact id.'),
  displayName: z.string().nullable(),
  phones: z.array(z.string()),
  emails: z.array(z.string()),
  lastActivityAt: timestampSchema.describe(
    'The latest `lastSeenAt` of its identities (of those on `channel`/`account` when the list is filtered by them): the sort key.',
  ),
  identities: z.array(contactSummaryIdentitySchema).describe('Every identity of the contact, latest seen first.'),
});

/** The answer of contact list: one page, newest activity first. */
export const contactListAnswerSchema = z.object({ ok: z.literal(true), items: z.array(contactSummarySchema), nextCursor });

// ---- conversations -------------------------------------------------------------------------

/**
 * `api.conversation.list` / `GET /v1/conversations?contactId=&account=&limit=&cursor=`:
 * conversations with an open service window first, then by latest message. A merged-away
 * contact id names its survivor.
 */
export const conversationListRequestSchema = z.strictObject({
  contactId: contactId.optional().describe('Only the direct conversations of this contact (every identity it holds).'),
  account: accountIdSchema.optional(),
  limit,
  cursor: cursor.optional(),
});

/** The service window of a conversation now (as of the first page of a list). */
export const conversationWindowSchema = z.object({
  state: z
    .enum(['open', 'closed', 'none'])
    .describe('open: free-form replies allowed until `expiresAt`; closed: only what the channel allows outside it (a template); none: the channel has no window.'),
  window: z.string().describe('The window rule as events name it (`24h`, `48h`, `none`).'),
  expiresAt: timestampSchema.optional().describe('With open: when it closes unless the customer writes again.'),
  closedSince: timestampSchema.optional().describe('With closed: when the last window closed (absent: there never was one).'),
  messagesLeft: z.number().int().nonnegative().optional().describe('With open, on channels that count messages per window (WeChat): how many are left.'),
});

/** One conversation in a list. */
export const conversationSummarySchema = z.object({
  id: conversationId,
  channel: channelIdSchema,
  account: accountIdSchema,
  kind: z.enum(['direct', 'group']),
  title: z.string().nullable().describe('A group title, where the platform gives one.'),
  contactId: contactId.nullable().describe('The live contact of a direct conversation; null for groups.'),
  identityId: identityId.nullable().describe('The customer identity of a direct conversation; null for groups.'),
  lastMessageAt: timestampSchema,
  window: conversationWindowSchema,
});

/** The answer of conversation list: open windows first, then latest activity. */
export const conversationListAnswerSchema = z.object({ ok: z.literal(true), items: z.array(conversationSummarySchema), nextCursor });

// ---- a conversation's messages -------------------------------------------------------------

/** `api.conversation.messages` / `GET /v1/conversations/{id}/messages?limit=&before=`: newest first. */
export const conversationMessagesRequestSchema = z.strictObject({
  conversationId,
  limit,
  before: cursor.optional(),
});

/** A message with its current delivery status: the view of `message.get` (without `ok`). */
export const messageViewSchema = z.object({
  message: messageEventSchema,
  delivery: z.object({ status: deliveryStatusSchema, at: timestampSchema, error: errorBodySchema.optional() }).nullable(),
});

/** The answer of conversation messages: one page, newest first. */
export const conversationMessagesAnswerSchema = z.object({ ok: z.literal(true), items: z.array(messageViewSchema), nextCursor });

/** A contact list request after parsing (limit defaulted). */
export type ContactListRequest = z.infer<typeof contactListRequestSchema>;
/** A conversation list request after parsing. */
export type ConversationListRequest = z.infer<typeof conversationListRequestSchema>;
/** A conversation messages request after parsing. */
export type ConversationMessagesRequest = z.infer<typeof conversationMessagesRequestSchema>;
/** One contact list item. */
export type ContactSummary = z.infer<typeof contactSummarySchema>;
/** One conversation list item. */
export type ConversationSummary = z.infer<typeof conversationSummarySchema>;
