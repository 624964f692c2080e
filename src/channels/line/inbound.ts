/**
 * Turns an authentic LINE webhook into events (reference A2, A7). One POST carries many events
 * from many users and chats, in order; each is read on its own, so one unusable event becomes
 * an `invalid` item with its own bytes and never costs the others. Dedupe is on
 * `webhookEventId`, which LINE keeps across redeliveries. Pure: no I/O; the clock only dates
 * the reply token of a redelivered event.
 */
import { createHash } from 'node:crypto';
import type {
  InboundConversation, InboundDelete, InboundEdit, InboundEvent, InboundIdentity, InboundIdentityEvent, InboundIgnored, InboundInvalid,
  InboundMessage, ReplyContext,
} from '../../core/adapter.ts';
import type { InboundPart } from '../../core/model.ts';
import { LINE_MAX_MESSAGES, REDELIVERED_TOKEN_LIMIT_MS, REPLY_TOKEN_MS } from './config.ts';
import { decodeBody, isRecord, type JsonObject } from './inbound-json.ts';
import { MESSAGE_ID, compact, label, messagePart, str } from './inbound-parts.ts';

/** What parsing needs beyond the body. */
export interface ParseOptions {
  /** When the webhook arrived: a redelivered event's reply token lives a minute from then. */
  now: Date;
}

/** Events the adapter understands and deliberately does not record (counted as ignored). */
const NOT_RECORDED = new Set([
  'videoPlayComplete', 'beacon', 'accountLink', 'membership', 'module', 'activated', 'deactivated', 'botSuspended', 'botResumed', 'delivery',
  'things', 'chatControl', 'pnpDeliveryCompletion',
]);
/** LINE ids: `U…` users, `C…` groups, `R…` rooms; no format is documented, so only a sane charset. */
const PLATFORM_ID = /^[0-9A-Za-z_.-]{1,128}$/;
const EVENT_ID = /^[0-9A-Za-z_-]{1,128}$/;
/** Reply tokens are 32 hex characters today; anything printable and bounded is kept. */
const REPLY_TOKEN = /^[\x21-\x7e]{1,256}$/;

/** Parses an authentic body; throws WebhookPayloadError when it is not a LINE webhook at all. */
export function parseWebhook(body: Uint8Array, options: ParseOptions): InboundEvent[] {
  const decoded = decodeBody(body);
  const texts = decoded.events.map((event, index) => decoded.eventTexts?.[index] ?? safeStringify(event));
  const keys = dedupeKeys(decoded.events, texts);
  const events: InboundEvent[] = [];
  decoded.events.forEach((event, index) => {
    const key = keys[index];
    if (key === null) events.push(ignored('duplicate_in_batch'));
    else events.push(...parseEvent(event, texts[index]!, key, options));
  });
  return events;
}

/**
 * The dedupe key of each event: its `webhookEventId`. LINE never repeats an id inside one POST;
 * if a sender does, an exact repeat is dropped (null) and different events sharing an id are
 * told apart by a hash of their text, so none is lost to another's key.
 */
function dedupeKeys(events: unknown[], texts: string[]): Array<string | null | undefined> {
  const ids = events.map((event) => (isRecord(event) && typeof event.webhookEventId === 'string' && EVENT_ID.test(event.webhookEventId) ? event.webhookEventId : undefined));
  const counts = new Map<string, number>();
  for (const id of ids) if (id !== undefined) counts.set(id, (counts.get(id) ?? 0) + 1);
  const seen = new Set<string>();
  return ids.map((id, index) => {
    if (id === undefined) return undefined;
    if (counts.get(id) === 1) return id;
    const key = `${id}:${sha256(texts[index]!).slice(0, 16)}`;
    if (seen.has(key)) return null;
    seen.add(key);
    return key;
  });
}

/** Where an event happened and who did it. */
interface Source {
  conversation: InboundConversation;
  /** The acting user; undefined when LINE names none (no consent, or a chat-level event). */
  user: InboundIdentity | undefined;
  /** The group or room itself as an identity (`group:<id>`), for chat-level events. */
  chat: InboundIdentity | undefined;
}

/** Facts every event shares, checked once. */
interface Common {
  type: string;
  dedupeKey: string;
  timestamp: Date;
  standby: boolean;
  redelivery: boolean;
  raw: JsonObject;
  text: string;
}

function parseEvent(value: unknown, text: string, dedupeKey: string | undefined, options: ParseOptions): InboundEvent[] {
  const bad = (reason: string): InboundInvalid => ({ kind: 'invalid', dedupeKey: dedupeKey ?? `sha256:${sha256(text)}`, reason, raw: text });
  if (!isRecord(value)) return [bad('not_an_object')];
  if (typeof value.type !== 'string' || value.type === '') return [bad('missing_field:type')];
  if (NOT_RECORDED.has(value.type)) return [ignored(`event:${value.type}`)];
  if (!KNOWN.has(value.type)) return [ignored(`unknown_event:${label(value.type)}`)];
  if (dedupeKey === undefined) return [bad('missing_field:webhookEventId')];
  const timestamp = value.timestamp;
  if (!Number.isSafeInteger(timestamp) || (timestamp as number) <= 0 || (timestamp as number) > 8.64e15) return [bad('bad_timestamp')];
  const common: Common = {
    type: value.type,
    dedupeKey,
    timestamp: new Date(timestamp as number),
    standby: value.mode === 'standby',
    redelivery: isRecord(value.deliveryContext) && value.deliveryContext.isRedelivery === true,
    raw: value,
    text,
  };
  const source = parseSource(value.source);
  if (source === undefined) return [bad('bad_source')];
  const reply = replyContext(value, common, options.now);
  switch (common.type) {
    case 'message':
      return [messageEvent(value, common, source, reply) ?? bad('bad_message')];
    case 'messageEdited':
      return [editEvent(value, common, source) ?? bad('bad_message')];
    case 'unsend':
      return [deleteEvent(value, common, source) ?? bad('bad_unsend')];
    case 'postback':
      return [postbackEvent(value, common, source, reply) ?? bad('bad_postback')];
    case 'follow':
    case 'unfollow':
      return followEvents(value, common, source, reply) ?? [bad('bad_source')];
    case 'join':
    case 'leave':
      return chatEvents(common, source, reply) ?? [bad('bad_source')];
    case 'memberJoined':
    case 'memberLeft':
      return [memberEvent(value, common, source, reply) ?? bad('bad_members')];
    default:
      return [ignored(`unknown_event:${label(common.type)}`)];
  }
}

const KNOWN = new Set(['message', 'messageEdited', 'unsend', 'postback', 'follow', 'unfollow', 'join', 'leave', 'memberJoined', 'memberLeft']);

function parseSource(value: unknown): Source | undefined {
  if (!isRecord(value)) return undefined;
  const userId = platformId(value.userId);
  if (value.userId !== undefined && userId === undefined) return undefined;
  const user = userId === undefined ? undefined : { externalId: userId };
  switch (value.type) {
    case 'user':
      return user === undefined ? undefined : { conversation: { externalId: user.externalId, kind: 'direct' }, user, chat: undefined };
    case 'group':
    case 'room': {
      const id = platformId(value.type === 'group' ? value.groupId : value.roomId);
      if (id === undefined) return undefined;
      // Keyed apart from any user's 1:1 chat: `group:C…` / `room:R…`.
      const externalId = `${value.type}:${id}`;
      return { conversation: { externalId, kind: 'group' }, user, chat: { externalId } };
    }
    default:
      return undefined;
  }
}

/** The free reply of an event that has one; standby events have none and must stay unanswered. */
function replyContext(event: JsonObject, common: Common, now: Date): ReplyContext | undefined {
  const token = event.replyToken;
  if (common.standby || typeof token !== 'string' || !REPLY_TOKEN.test(token)) return undefined;
  const at = common.timestamp.getTime();
  // A redelivered token may be used within a minute of its receipt, and never 20 minutes after the event.
  const expiresAt = common.redelivery ? Math.min(now.getTime() + REPLY_TOKEN_MS, at + REDELIVERED_TOKEN_LIMIT_MS) : at + REPLY_TOKEN_MS;
  return { token, expiresAt: new Date(expiresAt), maxMessages: LINE_MAX_MESSAGES };
}

function base(common: Common, source: Source, sender: InboundIdentity, reply: ReplyContext | undefined, grant: boolean) {
  const delivery = compact({ redelivery: common.redelivery || undefined, standby: common.standby || undefined });
  return {
    dedupeKey: common.dedupeKey,
    conversation: source.conversation,
    sender,
    timestamp: common.timestamp,
    ...(reply !== undefined ? { replyContext: reply } : {}),
    ...(delivery !== undefined ? { delivery } : {}),
    // Standby: another channel (the OA chat, a module) answers; the bot only records.
    sessionGrant: grant && !common.standby ? 'message' : null,
    raw: common.raw,
  };
}

function messageEvent(event: JsonObject, common: Common, source: Source, reply: ReplyContext | undefined): InboundMessage | undefined {
  const message = event.message;
  if (!isRecord(message) || typeof message.id !== 'string' || !MESSAGE_ID.test(message.id)) return undefined;
  // A member who has not consented to share a profile is not named: the group speaks.
  const sender = source.user ?? source.chat!;
  const quoted = str(message.quotedMessageId);
  return {
    kind: 'message',
    externalId: message.id,
    ...base(common, source, sender, reply, true),
    parts: [messagePart(message, message.id)],
    ...(quoted !== undefined && MESSAGE_ID.test(quoted) ? { replyTo: { externalId: quoted } } : {}),
  };
}

function editEvent(event: JsonObject, common: Common, source: Source): InboundEdit | undefined {
  const message = event.message;
  if (!isRecord(message) || typeof message.id !== 'string' || !MESSAGE_ID.test(message.id)) return undefined;
  return {
    kind: 'edit',
    dedupeKey: common.dedupeKey,
    targetExternalId: message.id,
    conversation: source.conversation,
    sender: source.user ?? source.chat!,
    timestamp: common.timestamp,
    parts: [messagePart(message, message.id)],
    raw: common.raw,
  };
}

function deleteEvent(event: JsonObject, common: Common, source: Source): InboundDelete | undefined {
  const target = isRecord(event.unsend) ? event.unsend.messageId : undefined;
  if (typeof target !== 'string' || !MESSAGE_ID.test(target)) return undefined;
  const sender = source.user ?? source.chat;
  return {
    kind: 'delete',
    dedupeKey: common.dedupeKey,
    targetExternalId: target,
    conversation: source.conversation,
    ...(sender !== undefined ? { sender } : {}),
    timestamp: common.timestamp,
    raw: common.raw,
  };
}

/** A tap on a postback action (a quick reply the business sent): its data is the choice's id. */
function postbackEvent(event: JsonObject, common: Common, source: Source, reply: ReplyContext | undefined): InboundMessage | undefined {
  const postback = isRecord(event.postback) ? event.postback : undefined;
  const data = str(postback?.data);
  if (postback === undefined || data === undefined) return undefined;
  const params = isRecord(postback.params) ? postback.params : undefined;
  // Date/time pickers answer in params; that value is what the user chose.
  const picked = str(params?.datetime) ?? str(params?.date) ?? str(params?.time);
  const part: InboundPart = { type: 'reply', id: data, title: picked ?? data, ...(params !== undefined ? { meta: { params } } : {}) };
  return { kind: 'message', externalId: `postback:${common.dedupeKey}`, ...base(common, source, source.user ?? source.chat!, reply, true), parts: [part] };
}

/**
 * A follow (new friend or unblock) makes the user reachable and is kept as a message, so its
 * reply token can greet them; an unfollow (block) makes them unreachable.
 */
function followEvents(event: JsonObject, common: Common, source: Source, reply: ReplyContext | undefined): InboundEvent[] | undefined {
  const user = source.user;
  if (user === undefined) return undefined;
  if (common.type === 'unfollow') return [identityEvent(common, user, 'unreachable')];
  const isUnblocked = isRecord(event.follow) && typeof event.follow.isUnblocked === 'boolean' ? event.follow.isUnblocked : undefined;
  const meta = compact({ event: 'follow', isUnblocked });
  return [
    identityEvent(common, user, 'reachable', ':identity'),
    { kind: 'message', externalId: `follow:${common.dedupeKey}`, ...base(common, source, user, reply, true), parts: [{ type: 'unsupported', reason: 'event:follow', meta: meta! }] },
  ];
}

/** The bot joined or left a group or room: the chat itself becomes reachable or unreachable. */
function chatEvents(common: Common, source: Source, reply: ReplyContext | undefined): InboundEvent[] | undefined {
  const chat = source.chat;
  if (chat === undefined) return undefined;
  const joined = common.type === 'join';
  return [
    identityEvent(common, chat, joined ? 'reachable' : 'unreachable', ':identity'),
    {
      kind: 'message',
      externalId: `${common.type}:${common.dedupeKey}`,
      ...base(common, source, chat, joined ? reply : undefined, joined),
      parts: [{ type: 'unsupported', reason: `event:${common.type}`, meta: { event: common.type } }],
    },
  ];
}

/** Members joined or left a group or room: one message in the group naming them. */
function memberEvent(event: JsonObject, common: Common, source: Source, reply: ReplyContext | undefined): InboundMessage | undefined {
  const joined = common.type === 'memberJoined';
  const holder = joined ? event.joined : event.left;
  if (source.chat === undefined || !isRecord(holder) || !Array.isArray(holder.members)) return undefined;
  const members = holder.members.flatMap((member) => (isRecord(member) && platformId(member.userId) !== undefined ? [platformId(member.userId)!] : []));
  if (members.length === 0) return undefined;
  return {
    kind: 'message',
    externalId: `${common.type}:${common.dedupeKey}`,
    ...base(common, source, { externalId: members[0]! }, joined ? reply : undefined, joined),
    parts: [{ type: 'unsupported', reason: `event:${common.type}`, meta: { event: common.type, members } }],
  };
}

function identityEvent(common: Common, identity: InboundIdentity, change: 'reachable' | 'unreachable', suffix = ''): InboundIdentityEvent {
  return { kind: 'identity', dedupeKey: `${common.dedupeKey}${suffix}`, identity, change, timestamp: common.timestamp, raw: common.raw };
}

function platformId(value: unknown): string | undefined {
  return typeof value === 'string' && PLATFORM_ID.test(value) ? value : undefined;
}

function ignored(reason: string): InboundIgnored {
  return { kind: 'ignored', reason };
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** JSON text of a value already parsed from JSON (depth-capped), for an event's raw bytes. */
function safeStringify(value: unknown): string {
  try {
    return JSON.stringify(value) ?? 'null';
  } catch {
    return 'null';
  }
}
