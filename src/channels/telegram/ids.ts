/**
 * How Telegram's ids become the daemon's keys. `message_id` is unique only inside its chat, so
 * a message is `chatId:messageId`; a Telegram Business chat is independent of a bot chat with
 * the same id, so its keys carry the connection id: `business:<connection>:<chatId>[:<messageId>]`.
 * Ids are kept as the exact decimal text of Telegram's integers (at most 52 significant bits).
 */

const BUSINESS = 'business';

/** Telegram's integer id as exact text, or undefined when it is not a safe integer. */
export function idText(value: unknown): string | undefined {
  return typeof value === 'number' && Number.isSafeInteger(value) ? String(value) : undefined;
}

/** The conversation key of a chat (with the Business connection it runs through, if any). */
export function conversationKey(chatId: string, connection?: string): string {
  return connection === undefined ? chatId : `${BUSINESS}:${connection}:${chatId}`;
}

/** The key of one message, as inbound events and send results name it. */
export function messageKey(chatId: string, messageId: string, connection?: string): string {
  return `${conversationKey(chatId, connection)}:${messageId}`;
}

/** The chat id inside a conversation key (the last segment). */
export function chatIdOf(conversationExternalId: string): string {
  return conversationExternalId.slice(conversationExternalId.lastIndexOf(':') + 1);
}

/** The chat and message ids inside a message key, or undefined when it is not one. */
export function parseMessageKey(key: string): { chatId: string; messageId: number } | undefined {
  const match = /(-?\d{1,20}):(\d{1,20})$/.exec(key);
  if (match === null) return undefined;
  const messageId = Number(match[2]);
  return Number.isSafeInteger(messageId) ? { chatId: match[1]!, messageId } : undefined;
}

/** A chat id as the number the Bot API takes (exact below 2^53, which Telegram guarantees). */
export function chatIdParam(chatId: string): number | string {
  const value = Number(chatId);
  return /^-?\d{1,20}$/.test(chatId) && Number.isSafeInteger(value) ? value : chatId;
}
