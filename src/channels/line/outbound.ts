/**
 * Sending (reference A4, traps 5–7). A fresh reply token the core claimed for this send is used
 * first: replies are free and carry no retry key (LINE answers 400 to one). If LINE refuses the
 * token, the message goes out as a push, which counts against the monthly quota and carries
 * `X-Line-Retry-Key`: a UUID derived from the command's idempotency key, so every retry on every
 * replica reuses it and LINE's 409 ("already accepted") means the message went out once.
 *
 * A reply whose outcome is unknown (the connection dropped after sending) is remembered in
 * shared state; if the retry then hears "Invalid reply token" while the token should still be
 * valid, the first attempt used it, and the message is not sent a second time by push.
 */
import { createHash } from 'node:crypto';
import type { MediaLinks, OutboundMessage, SendResult, SharedState } from '../../core/adapter.ts';
import type { Clock } from '../../core/clock.ts';
import { OmniError } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import { isInvalidReplyToken, lineError, readError } from './api-errors.ts';
import type { LineClient } from './client.ts';
import { buildMessages, type LineMessage } from './outbound-messages.ts';
import { chatOf, type MemberCounts } from './members.ts';

/** What sending needs besides the message. */
export interface SendOptions {
  client: LineClient;
  shared: SharedState;
  clock: Clock;
  logger: Logger;
  /** Namespaces retry keys, so two accounts never share one. */
  accountId: string;
  links: MediaLinks | undefined;
  videoPreviewUrl: string | null;
  /** Member counts of groups and rooms: a push there counts once per member. */
  members?: MemberCounts;
}

/** A reply token this close to its expiry is not worth the round trip: push at once. */
const REPLY_MARGIN_MS = 2_000;

/** What a previous attempt of the same send left behind. */
interface ReplyMarker {
  state: 'pending' | 'sent' | 'clear';
  result?: SendResult;
}

/** The retry key LINE deduplicates pushes by: a name-based UUID (version 5 layout) of the idempotency key. */
export function retryKeyFor(accountId: string, idempotencyKey: string): string {
  const bytes = createHash('sha256').update(`omnibus:line:retry-key:${accountId}\n${idempotencyKey}`).digest().subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x50;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The push target: the group or room of a group conversation, else the user. */
export function pushTarget(message: OutboundMessage): string {
  const conversation = message.to.conversationExternalId;
  const match = /^(?:group|room):(.+)$/.exec(conversation);
  return match !== null ? match[1]! : message.to.externalId;
}

/** Sends one outbound message; throws OmniError with the contract code of the failure. */
export async function sendMessage(message: OutboundMessage, options: SendOptions, signal: AbortSignal): Promise<SendResult> {
  if (message.template !== undefined) throw new OmniError('template_not_supported', 'LINE has no message templates');
  const messages = await buildMessages(message.parts, { links: options.links, videoPreviewUrl: options.videoPreviewUrl });
  const reply = message.replyContext;
  const fresh = reply !== undefined && reply.expiresAt.getTime() - REPLY_MARGIN_MS > options.clock.now().getTime();
  const markerKey = `reply:${message.messageId}`;
  const stored = await options.shared.get(markerKey);
  const marker = parseMarker(stored?.value);
  if (marker?.state === 'sent' && marker.result !== undefined) return marker.result;
  if (fresh) {
    const replied = await sendReply(message, reply.token, messages, { ...options, markerKey, marker, revision: stored?.revision ?? 0 }, signal);
    if (replied !== undefined) return replied;
  }
  return sendPush(message, messages, options, signal);
}

async function sendReply(
  message: OutboundMessage,
  token: string,
  messages: LineMessage[],
  options: SendOptions & { markerKey: string; marker: ReplyMarker | undefined; revision: number },
  signal: AbortSignal,
): Promise<SendResult | undefined> {
  const { shared, markerKey } = options;
  let revision = options.revision;
  const mark = async (value: ReplyMarker) => {
    if (await shared.put(markerKey, JSON.stringify(value), revision).catch(() => false)) revision++;
  };
  const previous = options.marker?.state;
  await mark({ state: 'pending' });
  // Transport failures propagate with the marker left pending: the outcome is unknown.
  const response = await options.client.call('/v2/bot/message/reply', { json: { replyToken: token, messages }, purpose: 'reply', signal });
  if (response.status === 200) {
    const result: SendResult = { externalId: await firstMessageId(response, `reply:${message.messageId}`), route: 'reply', raw: { messages: messages.length } };
    await mark({ state: 'sent', result });
    return result;
  }
  const body = await readError(response);
  if (isInvalidReplyToken(body)) {
    if (previous === 'pending') {
      // Our earlier attempt used the token (it was still fresh); pushing now would send twice.
      options.logger.warn({ route: 'reply' }, 'line reply token already used by an earlier attempt with an unknown outcome; not pushing again');
      const result: SendResult = { externalId: `reply:${message.messageId}`, route: 'reply', raw: { messages: messages.length, uncertain: true } };
      await mark({ state: 'sent', result });
      return result;
    }
    await mark({ state: 'clear' });
    return undefined;
  }
  // LINE sends nothing when it answers an error: a later attempt starts clean.
  await mark({ state: 'clear' });
  throw lineError(body, 'reply', options.client.tokens.field, options.clock.now());
}

async function sendPush(message: OutboundMessage, messages: LineMessage[], options: SendOptions, signal: AbortSignal): Promise<SendResult> {
  const retryKey = retryKeyFor(options.accountId, message.idempotencyKey);
  const response = await options.client.call('/v2/bot/message/push', {
    json: { to: pushTarget(message), messages },
    headers: { 'x-line-retry-key': retryKey },
    purpose: 'push',
    signal,
  });
  if (response.status === 200) {
    return { externalId: await firstMessageId(response, `push:${retryKey}`), route: 'push', ...(await pushSpend(message, messages.length, options, signal)) };
  }
  const body = await readError(response);
  if (response.status === 409) {
    // The retry key was accepted before (another attempt or replica): the message went out once.
    // That attempt's answer never arrived, so what it spent is counted now, once.
    const externalId = body.sentMessages[0]?.id ?? (body.acceptedRequestId !== undefined ? `request:${body.acceptedRequestId}` : `push:${retryKey}`);
    const spend = await pushSpend(message, messages.length, options, signal);
    return { externalId, route: 'push', ...spend, raw: { ...spend.raw, alreadyAccepted: true } };
  }
  throw lineError(body, 'push', options.client.tokens.field, options.clock.now());
}

/**
 * What an accepted push spent: each message once per recipient. A group or room has as many
 * recipients as members; when LINE did not say how many in time, 1, noted `membersUnknown`.
 */
async function pushSpend(
  message: OutboundMessage,
  count: number,
  options: SendOptions,
  signal: AbortSignal,
): Promise<{ quotaUnits: number; raw: { messages: number; members?: number; membersUnknown?: true } }> {
  if (message.to.conversationKind !== 'group' && chatOf(message.to.conversationExternalId) === null) {
    return { quotaUnits: count, raw: { messages: count } };
  }
  const members = options.members === undefined ? null : await options.members.count(message.to.conversationExternalId, signal);
  if (members === null) return { quotaUnits: count, raw: { messages: count, membersUnknown: true } };
  return { quotaUnits: count * members, raw: { messages: count, members } };
}

/** The id of the first message LINE reports sent, else `fallback`. */
async function firstMessageId(response: { text(): Promise<string> }, fallback: string): Promise<string> {
  try {
    const body = JSON.parse(await response.text()) as { sentMessages?: Array<{ id?: unknown }> };
    const id = Array.isArray(body?.sentMessages) ? body.sentMessages[0]?.id : undefined;
    return typeof id === 'string' && id !== '' ? id : fallback;
  } catch {
    return fallback;
  }
}

function parseMarker(value: string | undefined): ReplyMarker | undefined {
  if (value === undefined) return undefined;
  try {
    const parsed = JSON.parse(value) as ReplyMarker;
    return typeof parsed === 'object' && parsed !== null && typeof parsed.state === 'string' ? parsed : undefined;
  } catch {
    return undefined;
  }
}
