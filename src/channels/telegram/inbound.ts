/**
 * Parses an authentic Telegram Update into events. Telegram posts exactly one Update per
 * webhook; getUpdates returns a list of them, each parsed the same way. An Update carries at
 * most one kind; unknown kinds are ignored (counted), never refused, and an Update whose values
 * cannot be used becomes an `invalid` event with its own bytes, so it never blocks the chat's
 * queue (Telegram redelivers a refused webhook, and the chat's later updates wait behind it).
 */
import { createHash } from 'node:crypto';
import type {
  InboundConversation, InboundDelete, InboundEdit, InboundEvent, InboundIdentity, InboundIgnored, InboundMessage,
} from '../../core/adapter.ts';
import { WebhookPayloadError } from '../../core/errors.ts';
import { decodeJsonBody } from '../../core/inbound/edge.ts';
import { conversationKey, idText, messageKey } from './ids.ts';
import { UnusableItem, isRecord, messageParts, normalisePhone, str, type JsonObject } from './inbound-parts.ts';

/** What parsing needs beyond the body. */
export interface ParseOptions {
  /** When the event happened for updates without a date (callback queries, deletions). */
  now(): Date;
}

/** Update kinds Telegram has that carry nothing for a broker of customer conversations. */
const IGNORED_KINDS = new Set([
  'channel_post', 'edited_channel_post', 'message_reaction', 'message_reaction_count', 'inline_query', 'chosen_inline_result',
  'shipping_query', 'pre_checkout_query', 'purchased_paid_media', 'poll', 'poll_answer', 'chat_member', 'chat_join_request',
  'chat_boost', 'removed_chat_boost', 'guest_message', 'managed_bot',
]);

const MEMBER_STATUSES = new Set(['creator', 'administrator', 'member', 'restricted', 'left', 'kicked']);

/** Real updates nest about 6 deep; deeper JSON is refused before parsing. */

/** Parses one webhook body (one Update); throws WebhookPayloadError when it is not an Update at all. */
export function parseWebhook(body: Uint8Array, options: ParseOptions): InboundEvent[] {
  const update = decodeJsonBody(body).value;
  if (!isRecord(update)) throw new WebhookPayloadError('not_an_object');
  if (idText(update.update_id) === undefined) throw new WebhookPayloadError('missing_update_id');
  return parseUpdate(update, body, options);
}

/** Parses one Update; `raw` is its own bytes (kept on an invalid event). */
export function parseUpdate(update: JsonObject, raw: Uint8Array | string, options: ParseOptions): InboundEvent[] {
  // One kind per Update; a known kind wins over stray keys a proxy or a newer API might add.
  const keys = Object.keys(update).filter((key) => key !== 'update_id');
  const kind = keys.find((key) => HANDLERS.has(key)) ?? keys.find((key) => IGNORED_KINDS.has(key)) ?? keys[0];
  if (kind === undefined) return [ignored('empty_update')];
  try {
    const value = update[kind];
    const handled = HANDLERS.get(kind);
    if (handled === undefined) return [ignored(IGNORED_KINDS.has(kind) ? `update:${kind}` : 'unknown_update')];
    if (!isRecord(value)) throw new UnusableItem(`bad_field:${kind}`);
    return handled(value, update, options);
  } catch (error) {
    if (!(error instanceof UnusableItem)) throw error;
    const bytes = typeof raw === 'string' ? raw : Buffer.from(raw).toString('utf8');
    const digest = createHash('sha256').update(bytes).digest('hex').slice(0, 24);
    return [{ kind: 'invalid', dedupeKey: `invalid:${digest}`, reason: error.reason, raw }];
  }
}

type Handler = (value: JsonObject, update: JsonObject, options: ParseOptions) => InboundEvent[];

// A Map, not an object literal: update keys come from outside (`__proto__`, `constructor`).
const HANDLERS: ReadonlyMap<string, Handler> = new Map<string, Handler>([
  ['message', (message, update) => [messageEvent(message, update, undefined)]],
  ['edited_message', (message, update) => [editEvent(message, update, undefined)]],
  ['business_message', (message, update) => [messageEvent(message, update, connectionOf(message))]],
  ['edited_business_message', (message, update) => [editEvent(message, update, connectionOf(message))]],
  ['deleted_business_messages', deleteEvents],
  ['callback_query', (query, update, options) => [callbackEvent(query, update, options)]],
  ['my_chat_member', memberEvent],
  ['business_connection', (connection, update) => [connectionEvent(connection, update)]],
]);

/** The parts of a message every event kind shares. */
interface MessageFacts {
  chatId: string;
  messageId: string;
  key: string;
  conversation: InboundConversation;
  sender: InboundIdentity;
  timestamp: Date;
  private: boolean;
}

function messageFacts(message: JsonObject, connection: string | undefined, dateField: 'date' | 'edit_date' = 'date'): MessageFacts {
  const chat = isRecord(message.chat) ? message.chat : undefined;
  if (chat === undefined) throw new UnusableItem('missing_field:chat');
  const chatId = idText(chat.id);
  if (chatId === undefined) throw new UnusableItem('bad_id:chat.id');
  const messageId = idText(message.message_id);
  if (messageId === undefined || Number(messageId) < 0) throw new UnusableItem('bad_id:message_id');
  const timestamp = unixSeconds(message[dateField]) ?? unixSeconds(message.date);
  if (timestamp === undefined) throw new UnusableItem('bad_timestamp');
  const type = chat.type;
  const isGroup = type === 'group' || type === 'supergroup';
  const conversation: InboundConversation = { externalId: conversationKey(chatId, connection), kind: isGroup ? 'group' : 'direct' };
  const title = str(chat.title);
  if (isGroup && title !== undefined) conversation.title = title;
  if (connection !== undefined) {
    conversation.via = connection;
    conversation.sessionKind = 'business';
  }
  return { chatId, messageId, key: messageKey(chatId, messageId, connection), conversation, sender: senderOf(message, chat, isGroup), timestamp, private: type === 'private' };
}

/** The person who wrote: `from`, else the chat posting as itself (anonymous admins), else the private chat. */
function senderOf(message: JsonObject, chat: JsonObject, isGroup: boolean): InboundIdentity {
  const senderChat = isRecord(message.sender_chat) ? message.sender_chat : undefined;
  if (senderChat !== undefined && idText(senderChat.id) !== undefined) {
    const identity: InboundIdentity = { externalId: idText(senderChat.id)! };
    const title = str(senderChat.title);
    if (title !== undefined) identity.displayName = title;
    return identity;
  }
  const from = isRecord(message.from) ? message.from : !isGroup ? chat : undefined;
  if (from === undefined) throw new UnusableItem('missing_field:from');
  return userIdentity(from);
}

function userIdentity(user: JsonObject): InboundIdentity {
  const externalId = idText(user.id);
  if (externalId === undefined) throw new UnusableItem('bad_id:from.id');
  const identity: InboundIdentity = { externalId };
  const name = [str(user.first_name), str(user.last_name)].filter((part) => part !== undefined).join(' ');
  if (name !== '') identity.displayName = name;
  const username = str(user.username);
  if (username !== undefined) identity.username = username;
  return identity;
}

function messageEvent(message: JsonObject, update: JsonObject, connection: string | undefined): InboundEvent {
  if (connection !== undefined && message.sender_business_bot !== undefined) return ignored('business_bot_reply');
  const facts = messageFacts(message, connection);
  // In a private Business chat the chat is the customer; anyone else writing is the business itself.
  if (connection !== undefined && facts.private && facts.sender.externalId !== facts.chatId) return ignored('business_owner_message');
  // A video message the server scheduled has id 0 until it is really sent.
  if (facts.messageId === '0') return ignored('scheduled_message');
  const content = messageParts(message);
  if (content.service === 'migrate_to_chat_id' || content.service === 'migrate_from_chat_id') return migrationEvent(message, facts, content.service, update);
  if (content.service !== undefined) return ignored(`service:${content.service}`);

  const event: InboundMessage = {
    kind: 'message',
    dedupeKey: facts.key,
    externalId: facts.key,
    conversation: facts.conversation,
    sender: facts.sender,
    timestamp: facts.timestamp,
    parts: content.parts,
    sessionGrant: 'message',
    raw: update,
  };
  const reply = isRecord(message.reply_to_message) ? idText(message.reply_to_message.message_id) : undefined;
  // `reply_to_message` is always in the same chat; replies to other chats come as `external_reply`.
  if (reply !== undefined) event.replyTo = { externalId: messageKey(facts.chatId, reply, connection) };
  const extra = extraFacts(message);
  if (extra !== undefined) event.parts[0] = { ...event.parts[0]!, meta: { ...event.parts[0]!.meta, ...extra } };
  // A phone number is evidence only when users share their own contact, not someone else's card.
  const contact = isRecord(message.contact) ? message.contact : undefined;
  const from = isRecord(message.from) ? idText(message.from.id) : undefined;
  if (contact !== undefined && from !== undefined && idText(contact.user_id) === from && message.forward_origin === undefined) {
    const phone = typeof contact.phone_number === 'string' ? normalisePhone(contact.phone_number) : undefined;
    if (phone !== undefined) event.sender = { ...event.sender, phone, phoneVerified: true };
  }
  return event;
}

/** Facts worth keeping on the first part: the forum topic, the album, forwarding, a quote. */
function extraFacts(message: JsonObject): Record<string, unknown> | undefined {
  const facts: Record<string, unknown> = {};
  const thread = idText(message.message_thread_id);
  if (thread !== undefined) facts.threadId = thread;
  const album = str(message.media_group_id);
  if (album !== undefined) facts.mediaGroupId = album;
  if (isRecord(message.forward_origin)) facts.forwarded = true;
  if (isRecord(message.quote) && typeof message.quote.text === 'string') facts.quote = message.quote.text;
  return Object.keys(facts).length > 0 ? facts : undefined;
}

function editEvent(message: JsonObject, update: JsonObject, connection: string | undefined): InboundEvent {
  if (connection !== undefined && message.sender_business_bot !== undefined) return ignored('business_bot_reply');
  const facts = messageFacts(message, connection, 'edit_date');
  if (connection !== undefined && facts.private && facts.sender.externalId !== facts.chatId) return ignored('business_owner_message');
  const content = messageParts(message);
  if (content.service !== undefined) return ignored(`service:${content.service}`);
  const editDate = unixSeconds(message.edit_date);
  const edit: InboundEdit = {
    kind: 'edit',
    // Every edit is its own event: the same edit redelivered carries the same edit_date.
    dedupeKey: `edit:${facts.key}:${editDate === undefined ? 'unknown' : editDate.getTime() / 1000}`,
    targetExternalId: facts.key,
    conversation: facts.conversation,
    sender: facts.sender,
    timestamp: facts.timestamp,
    parts: content.parts,
    raw: update,
  };
  return edit;
}

function deleteEvents(deleted: JsonObject, update: JsonObject, options: ParseOptions): InboundEvent[] {
  const connection = connectionOf(deleted);
  const chat = isRecord(deleted.chat) ? deleted.chat : undefined;
  const chatId = chat === undefined ? undefined : idText(chat.id);
  if (chatId === undefined) throw new UnusableItem('bad_id:chat.id');
  if (!Array.isArray(deleted.message_ids)) throw new UnusableItem('bad_field:message_ids');
  const ids = deleted.message_ids.map(idText);
  if (ids.length === 0 || ids.some((id) => id === undefined)) throw new UnusableItem('bad_id:message_ids');
  const conversation: InboundConversation = { externalId: conversationKey(chatId, connection), kind: 'direct', via: connection, sessionKind: 'business' };
  const timestamp = options.now();
  return [...new Set(ids as string[])].map((id): InboundDelete => {
    const key = messageKey(chatId, id, connection);
    return { kind: 'delete', dedupeKey: `delete:${key}`, targetExternalId: key, conversation, timestamp, raw: update };
  });
}

function callbackEvent(query: JsonObject, update: JsonObject, options: ParseOptions): InboundEvent {
  const id = str(query.id);
  if (id === undefined) throw new UnusableItem('missing_field:callback_query.id');
  if (!isRecord(query.from)) throw new UnusableItem('missing_field:callback_query.from');
  const sender = userIdentity(query.from);
  const data = str(query.data);
  if (data === undefined) return ignored(query.game_short_name !== undefined ? 'callback:game' : 'callback:no_data');
  const message = isRecord(query.message) ? query.message : undefined;
  const chat = message !== undefined && isRecord(message.chat) ? message.chat : undefined;
  const chatId = chat === undefined ? undefined : idText(chat.id);
  const isGroup = chat?.type === 'group' || chat?.type === 'supergroup';
  // A button under an inline-mode message has no chat: the press belongs to the user's own chat.
  const conversation: InboundConversation = { externalId: chatId ?? sender.externalId, kind: isGroup ? 'group' : 'direct' };
  const title = chat === undefined ? undefined : str(chat.title);
  if (isGroup && title !== undefined) conversation.title = title;
  const event: InboundMessage = {
    kind: 'message',
    dedupeKey: `callback:${id}`,
    externalId: `callback:${id}`,
    conversation,
    sender,
    // A callback query has no date: it happens when it arrives (it expires after 150 s anyway).
    timestamp: options.now(),
    parts: [{ type: 'reply', id: data, title: buttonTitle(message, data) ?? data, meta: { callbackQueryId: id } }],
    sessionGrant: 'message',
    raw: update,
  };
  const pressedOn = message === undefined ? undefined : idText(message.message_id);
  if (chatId !== undefined && pressedOn !== undefined && pressedOn !== '0') event.replyTo = { externalId: messageKey(chatId, pressedOn) };
  return event;
}

/** The text of the button whose `callback_data` was pressed, from the message it sat under. */
function buttonTitle(message: JsonObject | undefined, data: string): string | undefined {
  const markup = message !== undefined && isRecord(message.reply_markup) ? message.reply_markup : undefined;
  const rows = markup !== undefined && Array.isArray(markup.inline_keyboard) ? markup.inline_keyboard : [];
  for (const row of rows) {
    if (!Array.isArray(row)) continue;
    for (const button of row) if (isRecord(button) && button.callback_data === data && typeof button.text === 'string') return button.text;
  }
  return undefined;
}

/** In a private chat, `my_chat_member` says the user blocked (kicked) or unblocked the bot. */
function memberEvent(change: JsonObject, update: JsonObject): InboundEvent[] {
  const chat = isRecord(change.chat) ? change.chat : undefined;
  const chatId = chat === undefined ? undefined : idText(chat.id);
  if (chatId === undefined) throw new UnusableItem('bad_id:chat.id');
  const member = isRecord(change.new_chat_member) ? change.new_chat_member : undefined;
  const status = member === undefined ? undefined : member.status;
  if (typeof status !== 'string') throw new UnusableItem('missing_field:new_chat_member.status');
  const label = MEMBER_STATUSES.has(status) ? status : 'other';
  if (chat!.type !== 'private') return [ignored(`group_membership:${label}`)];
  const timestamp = unixSeconds(change.date);
  if (timestamp === undefined) throw new UnusableItem('bad_timestamp');
  const kind = status === 'kicked' ? 'unreachable' : status === 'member' ? 'reachable' : undefined;
  if (kind === undefined) return [ignored(`private_membership:${label}`)];
  const identity = isRecord(change.from) && idText(change.from.id) === chatId ? userIdentity(change.from) : userIdentity(chat!);
  return [{ kind: 'identity', dedupeKey: `member:${chatId}:${timestamp.getTime() / 1000}:${label}`, identity, change: kind, timestamp, raw: update }];
}

/**
 * A group upgraded to a supergroup gets a new chat id: the old group's last message names the
 * new id (`migrate_to_chat_id`), the supergroup's first names the old one (`migrate_from_chat_id`).
 * Either moves the conversation, so its history and later messages stay together.
 */
function migrationEvent(message: JsonObject, facts: MessageFacts, field: 'migrate_to_chat_id' | 'migrate_from_chat_id', update: JsonObject): InboundEvent {
  const other = idText(message[field]);
  if (other === undefined) throw new UnusableItem(`bad_id:${field}`);
  const [from, to] = field === 'migrate_to_chat_id' ? [facts.chatId, other] : [other, facts.chatId];
  if (from === to) return ignored('group_migrated');
  return { kind: 'conversation', dedupeKey: `migrate:${from}:${to}`, change: 'moved', externalId: from, newExternalId: to, timestamp: facts.timestamp, raw: update };
}

/**
 * A Business connection switched off (`is_enabled: false`: the owner removed the bot, or its
 * rights) leaves every chat through it unreachable until it is switched on again.
 */
function connectionEvent(connection: JsonObject, update: JsonObject): InboundEvent {
  const via = str(connection.id);
  if (via === undefined || !/^[\x21-\x7e]{1,256}$/.test(via)) throw new UnusableItem('missing_field:business_connection.id');
  const timestamp = unixSeconds(connection.date);
  if (timestamp === undefined) throw new UnusableItem('bad_timestamp');
  const enabled = connection.is_enabled !== false;
  const change = enabled ? 'via_restored' : 'via_revoked';
  return { kind: 'conversation', dedupeKey: `business_connection:${via}:${timestamp.getTime() / 1000}:${enabled ? 'on' : 'off'}`, change, via, timestamp, raw: update };
}

function connectionOf(value: JsonObject): string {
  const connection = str(value.business_connection_id);
  if (connection === undefined || !/^[\x21-\x7e]{1,256}$/.test(connection)) throw new UnusableItem('missing_field:business_connection_id');
  return connection;
}

function unixSeconds(value: unknown): Date | undefined {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0 ? new Date(value * 1000) : undefined;
}

function ignored(reason: string): InboundIgnored {
  return { kind: 'ignored', reason };
}
