/**
 * `send` for Telegram: one Bot API call per part (sendMessage, sendPhoto, sendDocument, ...),
 * media uploaded as multipart from the bytes the core hands over, reply buttons and lists as
 * inline keyboards, the reply quote on the first message, `business_connection_id` on every
 * call of a Business chat. A group upgraded to a supergroup is followed once to its new id and
 * remembered. Parts already accepted are remembered across retries, so a retry resumes.
 */
import type { OutboundMedia, OutboundMessage, OutboundPart, SendResult, SharedState } from '../../core/adapter.ts';
import type { Clock } from '../../core/clock.ts';
import { OmniError } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import { botApiFailure } from './api-errors.ts';
import { isRecord, type BotApiAnswer, type BotClient } from './client.ts';
import { TELEGRAM_MAX_BYTES } from './config.ts';
import { chatIdOf, chatIdParam, idText, messageKey, parseMessageKey } from './ids.ts';

/** What the sender needs from the adapter. */
export interface SenderOptions {
  client: BotClient;
  shared: SharedState;
  clock: Clock;
  logger: Logger;
}

/** One Bot API call of a send. */
interface Step {
  method: string;
  params: Record<string, unknown>;
  /** A file to upload in the multipart field `field`. */
  file?: { field: string; media: OutboundMedia; filename: string };
  /** The step returns `true`, not a Message (reactions). */
  returnsTrue?: boolean;
  /** Whether `reply_parameters` may go on this step. */
  quotes: boolean;
}

/** The raw result of a send: every accepted part's key and Telegram's answers. */
export interface TelegramSendRaw {
  externalIds: string[];
  responses: unknown[];
}

const CALLBACK_DATA_MAX_BYTES = 64;
const UPLOAD_TIMEOUT_MS = 300_000;
const utf8 = new TextEncoder();

/** Creates the account's `send`. */
export function createTelegramSender(options: SenderOptions): (message: OutboundMessage, signal: AbortSignal) => Promise<SendResult> {
  const { client, shared, clock, logger } = options;

  const call = async (step: Step, chatId: string, via: string | undefined, replyTo: number | undefined, signal: AbortSignal): Promise<BotApiAnswer> => {
    const params: Record<string, unknown> = { chat_id: chatIdParam(chatId), ...step.params };
    if (via !== undefined) params.business_connection_id = via;
    // The quoted message may be gone; sending without the quote beats failing the message.
    if (replyTo !== undefined && step.quotes) params.reply_parameters = { message_id: replyTo, allow_sending_without_reply: true };
    if (step.file === undefined) return client.call(step.method, params, { purpose: 'send', signal });
    const form = new FormData();
    for (const [name, value] of Object.entries(params)) form.append(name, typeof value === 'string' ? value : JSON.stringify(value));
    form.append(step.file.field, new Blob([step.file.media.bytes], { type: step.file.media.mime }), step.file.filename);
    return client.call(step.method, form, { purpose: 'send', signal, timeoutMs: UPLOAD_TIMEOUT_MS });
  };

  return async (message, signal) => {
    const steps = planMessage(message);
    const via = message.to.via;
    let chatId = await followMigration(shared, chatIdOf(message.to.conversationExternalId || message.to.externalId));
    const replyTo = message.replyTo === undefined ? undefined : parseMessageKey(message.replyTo.externalId)?.messageId;
    const quoteIndex = replyTo === undefined ? -1 : steps.findIndex((step) => step.quotes);
    const progressKey = `send-progress:${message.messageId}`;
    const saved = steps.length > 1 ? await readProgress(shared, progressKey) : { externalIds: [], revision: 0 };
    const externalIds = saved.externalIds.slice(0, steps.length);
    const responses: unknown[] = [];

    for (let index = externalIds.length; index < steps.length; index++) {
      const step = steps[index]!;
      try {
        signal.throwIfAborted();
        const quote = index === quoteIndex ? replyTo : undefined;
        let answer = await call(step, chatId, via, quote, signal);
        if (!answer.ok && answer.migrateToChatId !== undefined) {
          // "group chat was upgraded to a supergroup chat": the same message, once, to the new id.
          const next = String(answer.migrateToChatId);
          await rememberMigration(shared, chatId, next, logger);
          chatId = next;
          answer = await call(step, chatId, via, quote, signal);
        }
        if (!answer.ok) throw botApiFailure(answer, 'send', clock.now());
        externalIds.push(step.returnsTrue ? `reaction:${String(step.params.message_id)}:${chatId}` : sentKey(answer.result, chatId, via));
        responses.push(answer.result);
      } catch (error) {
        if (externalIds.length > saved.externalIds.length) await saveProgress(shared, progressKey, externalIds, saved.revision, logger);
        throw withSentIds(error, externalIds);
      }
    }
    const raw: TelegramSendRaw = { externalIds, responses };
    return { externalId: externalIds.at(-1)!, raw };
  };
}

/** The calls for a message's parts, checked against Telegram's limits before any is made. */
export function planMessage(message: OutboundMessage): Step[] {
  if (message.template !== undefined) throw new OmniError('template_not_supported', 'Telegram has no message templates');
  if (message.parts.length === 0) throw new OmniError('invalid_request', 'a message needs at least one part');
  return message.parts.map((part) => stepFor(part));
}

function stepFor(part: OutboundPart): Step {
  switch (part.type) {
    case 'text': {
      const params: Record<string, unknown> = { text: part.text };
      if (part.previewUrl === false) params.link_preview_options = { is_disabled: true };
      return { method: 'sendMessage', params, quotes: true };
    }
    case 'image':
    case 'video':
    case 'audio':
    case 'voice':
    case 'file':
    case 'sticker':
      return mediaStep(part);
    case 'location': {
      const { latitude, longitude, name, address } = part;
      // sendVenue needs both a title and an address; anything less is a plain location pin.
      if (name !== undefined && address !== undefined) return { method: 'sendVenue', params: { latitude, longitude, title: name, address }, quotes: true };
      return { method: 'sendLocation', params: { latitude, longitude }, quotes: true };
    }
    case 'buttons': {
      const buttons = part.buttons.map((button) => ({ text: button.title, callback_data: callbackData(button.id) }));
      // Up to three short buttons sit side by side, as on WhatsApp; more get a row each.
      const keyboard = buttons.length <= 3 && part.buttons.every((b) => b.title.length <= 20) ? [buttons] : buttons.map((b) => [b]);
      return { method: 'sendMessage', params: { text: framed(part.text, part.header, part.footer), reply_markup: { inline_keyboard: keyboard } }, quotes: true };
    }
    case 'list': {
      const rows = part.sections.flatMap((section) => section.rows.map((row) => [{ text: row.title, callback_data: callbackData(row.id) }]));
      if (rows.length === 0) throw new OmniError('invalid_request', 'a list needs at least one row');
      return { method: 'sendMessage', params: { text: framed(part.text, part.header, part.footer), reply_markup: { inline_keyboard: rows } }, quotes: true };
    }
    case 'reaction': {
      const target = parseMessageKey(part.targetExternalId);
      if (target === undefined) throw new OmniError('invalid_request', 'a reaction needs the Telegram message it reacts to', { details: { field: 'targetExternalId' } });
      const reaction = part.emoji === '' ? [] : [{ type: 'emoji', emoji: part.emoji }];
      return { method: 'setMessageReaction', params: { message_id: target.messageId, reaction }, returnsTrue: true, quotes: false };
    }
  }
}

const MEDIA_METHODS = {
  image: { method: 'sendPhoto', field: 'photo' },
  video: { method: 'sendVideo', field: 'video' },
  audio: { method: 'sendAudio', field: 'audio' },
  voice: { method: 'sendVoice', field: 'voice' },
  file: { method: 'sendDocument', field: 'document' },
  sticker: { method: 'sendSticker', field: 'sticker' },
} as const;

function mediaStep(part: Extract<OutboundPart, { media: OutboundMedia }>): Step {
  const { media } = part;
  // A GIF sent as a photo loses its animation: Telegram plays it only through sendAnimation.
  const target = part.type === 'image' && media.mime === 'image/gif' ? { method: 'sendAnimation', field: 'animation' } : MEDIA_METHODS[part.type];
  const limit = TELEGRAM_MAX_BYTES[part.type];
  if (media.size > limit) {
    throw new OmniError('attachment_too_large', `Telegram accepts uploads of at most ${limit} bytes for this part type`, { details: { size: media.size, maxBytes: limit } });
  }
  const params: Record<string, unknown> = {};
  // Stickers take no caption on Telegram.
  if (part.caption !== undefined && part.caption !== '' && part.type !== 'sticker') params.caption = part.caption;
  const filename = part.filename ?? media.filename ?? `${media.id}.${media.ext}`;
  return { method: target.method, params, file: { field: target.field, media, filename }, quotes: true };
}

function callbackData(id: string): string {
  const bytes = utf8.encode(id).byteLength;
  if (bytes === 0 || bytes > CALLBACK_DATA_MAX_BYTES) {
    throw new OmniError('invalid_request', 'Telegram button ids (callback_data) must be 1-64 bytes', { details: { field: 'buttons.id', bytes } });
  }
  return id;
}

function framed(text: string, header: string | undefined, footer: string | undefined): string {
  return [header, text, footer].filter((piece) => piece !== undefined && piece !== '').join('\n\n');
}

/** `chatId:message_id` of the sent Message (a Business chat's key also names the connection). */
function sentKey(result: unknown, chatId: string, via: string | undefined): string {
  const sent = isRecord(result) ? result : {};
  const messageId = idText(sent.message_id);
  // Not retryable: Telegram may have sent it, and a retry could send it twice.
  if (messageId === undefined) throw new OmniError('channel_rejected', 'Telegram accepted the request but returned no message id', { details: { reason: 'no_message_id' } });
  const chat = isRecord(sent.chat) ? idText(sent.chat.id) : undefined;
  return messageKey(chat ?? chatId, messageId, via);
}

const MIGRATION_PREFIX = 'telegram-migrated:';

async function followMigration(shared: SharedState, chatId: string): Promise<string> {
  const entry = await shared.get(`${MIGRATION_PREFIX}${chatId}`).catch(() => null);
  return entry !== null && /^-?\d{1,20}$/.test(entry.value) ? entry.value : chatId;
}

async function rememberMigration(shared: SharedState, from: string, to: string, logger: Logger): Promise<void> {
  try {
    const current = await shared.get(`${MIGRATION_PREFIX}${from}`);
    if (current?.value !== to) await shared.put(`${MIGRATION_PREFIX}${from}`, to, current?.revision ?? 0);
  } catch (error) {
    // Losing the note costs one more refused call next time, nothing else.
    logger.warn({ err: error }, 'telegram group migration could not be remembered');
  }
}

/** Parts already accepted: kept on the error so the core can tell a partial send from none. */
function withSentIds(error: unknown, externalIds: string[]): unknown {
  if (!(error instanceof OmniError) || externalIds.length === 0) return error;
  return new OmniError(error.code, error.message, {
    details: { ...error.details, sentExternalIds: [...externalIds] },
    cause: error,
    ...(error.retryAfterSeconds !== undefined ? { retryAfterSeconds: error.retryAfterSeconds } : {}),
  });
}

async function readProgress(shared: SharedState, key: string): Promise<{ externalIds: string[]; revision: number }> {
  const entry = await shared.get(key);
  if (entry === null) return { externalIds: [], revision: 0 };
  try {
    const ids = (JSON.parse(entry.value) as { externalIds?: unknown }).externalIds;
    if (Array.isArray(ids) && ids.every((id) => typeof id === 'string')) return { externalIds: ids, revision: entry.revision };
  } catch {
    // Unreadable progress is treated as none: at worst a part is sent again, as without it.
  }
  return { externalIds: [], revision: entry.revision };
}

async function saveProgress(shared: SharedState, key: string, externalIds: string[], revision: number, logger: Logger): Promise<void> {
  try {
    if (!(await shared.put(key, JSON.stringify({ externalIds }), revision))) logger.warn({ key }, 'telegram send progress changed concurrently; not saved');
  } catch (error) {
    logger.warn({ err: error, key }, 'telegram send progress could not be saved');
  }
}
