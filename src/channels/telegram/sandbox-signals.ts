/**
 * The fake's `sendChatAction`: checked like Telegram (a known chat, one of Telegram's actions)
 * and recorded exactly as received, so tests can assert the wire format.
 */
import type { DecodedParams } from './sandbox-routing.ts';
import { badRequest, ok, type FakeBot } from './sandbox-state.ts';

/** A chat action the fake accepted. */
export interface RecordedChatAction {
  botId: string;
  params: Record<string, unknown>;
  at: Date;
}

const ACTIONS = new Set(['typing', 'upload_photo', 'record_video', 'upload_video', 'record_voice', 'upload_voice', 'upload_document', 'choose_sticker', 'find_location', 'record_video_note', 'upload_video_note']);
const log: RecordedChatAction[] = [];

/** Chat actions accepted by every Telegram fake of this process, oldest first, optionally of one bot. */
export function recordedChatActions(botId?: string): RecordedChatAction[] {
  return log.filter((entry) => botId === undefined || entry.botId === botId);
}

/** `sendChatAction(chat_id, action, business_connection_id?, message_thread_id?)` → `true`. */
export function sendChatAction(bot: FakeBot, params: DecodedParams): Response {
  const chatId = params.values.chat_id;
  if (chatId === undefined || chatId === '') return badRequest('chat_id is empty');
  if (typeof params.values.action !== 'string' || !ACTIONS.has(params.values.action)) return badRequest('wrong parameter action in request');
  const known = bot.knownChats.has(String(chatId)) || params.values.business_connection_id !== undefined;
  if (!known) return badRequest('chat not found');
  log.push({ botId: bot.botId, params: { ...params.values }, at: new Date() });
  if (log.length > 10_000) log.shift();
  return ok(true);
}
