/**
 * Updates exactly as Telegram builds them, for the customer simulator and the fake: a private
 * or group Message (text with a bot_command entity, photo, voice, audio, video, sticker,
 * animation or document by mime type), or a CallbackQuery under a bot message; POSTed with the
 * account's `X-Telegram-Bot-Api-Secret-Token`.
 */
import { randomInt } from 'node:crypto';
import type { SimulateInput, WebhookRequestSpec } from '../../core/adapter.ts';
import { OmniError } from '../../core/errors.ts';
import { botIdOf } from './config.ts';
import type { TelegramAccount } from './sandbox-state.ts';
import { SECRET_HEADER } from './verify.ts';

/** The bot as `getMe` and sent messages show it. */
export function botUser(botId: string): Record<string, unknown> {
  return { id: Number(botId), is_bot: true, first_name: 'Omnibus Sandbox Bot', username: `omnibus_sandbox_${botId}_bot` };
}

/** Ids the caller chose (the fake's sequence) or random ones (the stand-alone simulator). */
export interface UpdateIds {
  updateId: number;
  messageId: number;
  callbackId?: string;
}

const DIGITS = /^-?\d{1,16}$/;

/** The Update Telegram would deliver for a simulated customer action. */
export function buildUpdate(account: TelegramAccount, input: SimulateInput, ids: UpdateIds): Record<string, unknown> {
  const userId = input.from.trim().replace(/^\+/, '');
  if (!/^\d{1,16}$/.test(userId) || !Number.isSafeInteger(Number(userId))) {
    throw new OmniError('invalid_request', 'simulate: --from must be a Telegram user id (digits)', { details: { field: 'from' } });
  }
  if (input.group !== undefined && (!DIGITS.test(input.group) || !input.group.startsWith('-'))) {
    throw new OmniError('invalid_request', 'simulate: --group must be a group chat id (negative digits, -100… for supergroups)', { details: { field: 'group' } });
  }
  const text = input.text !== undefined && input.text !== '' ? input.text : undefined;
  if (text === undefined && input.media === undefined && input.callback === undefined) {
    throw new OmniError('invalid_request', 'simulate: give a text, a file or a callback', { details: { field: 'text' } });
  }
  const date = Math.floor((input.timestamp ?? new Date()).getTime() / 1000);
  const [firstName, ...rest] = (input.name ?? 'Sandbox Customer').split(' ');
  const from: Record<string, unknown> = { id: Number(userId), is_bot: false, first_name: firstName || 'Sandbox', language_code: 'en' };
  if (rest.length > 0) from.last_name = rest.join(' ');
  const chat: Record<string, unknown> =
    input.group !== undefined
      ? { id: Number(input.group), title: 'Sandbox Group', type: input.group.startsWith('-100') ? 'supergroup' : 'group' }
      : { id: Number(userId), first_name: from.first_name, ...(from.last_name !== undefined ? { last_name: from.last_name } : {}), type: 'private' };

  if (input.callback !== undefined) {
    const botId = botIdOf(account.settings.botToken);
    // The press happens on a message the bot sent earlier, with the pressed button under it.
    const message = {
      message_id: ids.messageId,
      from: botUser(botId),
      chat,
      date,
      text: text ?? 'Choose one',
      reply_markup: { inline_keyboard: [[{ text: input.callback, callback_data: input.callback }]] },
    };
    const id = ids.callbackId ?? `${randomInt(1, 2 ** 31)}${randomInt(1, 2 ** 31)}`;
    return { update_id: ids.updateId, callback_query: { id, from, message, chat_instance: `${randomInt(1, 2 ** 47)}`, data: input.callback } };
  }

  const message: Record<string, unknown> = { message_id: ids.messageId, from, chat, date };
  if (input.media !== undefined) Object.assign(message, mediaContent(input.media), text !== undefined ? { caption: text } : {});
  else {
    message.text = text;
    const command = /^\/[A-Za-z0-9_]{1,32}(@\w+)?/.exec(text!);
    if (command !== null) message.entities = [{ offset: 0, length: command[0].length, type: 'bot_command' }];
  }
  return { update_id: ids.updateId, message };
}

type MediaInput = NonNullable<SimulateInput['media']>;

/** The content field Telegram fills for a file of this mime type. */
function mediaContent(media: MediaInput): Record<string, unknown> {
  const mime = media.mime.split(';')[0]!.trim().toLowerCase();
  const unique = `AgAD${media.id.slice(-8)}`;
  const file = { file_id: media.id, file_unique_id: unique };
  if (mime === 'image/jpeg' || mime === 'image/png') {
    return { photo: [{ ...file, width: 90, height: 90 }, { ...file, width: 1280, height: 1280 }] };
  }
  if (mime === 'image/webp') return { sticker: { ...file, type: 'regular', width: 512, height: 512, is_animated: false, is_video: false, emoji: '🙂' } };
  if (mime === 'image/gif') {
    const document = { ...file, file_name: media.filename ?? 'animation.gif', mime_type: 'image/gif' };
    return { animation: { ...document, width: 320, height: 240, duration: 2 }, document };
  }
  if (mime === 'audio/ogg') return { voice: { ...file, duration: 3, mime_type: 'audio/ogg' } };
  if (mime.startsWith('audio/')) return { audio: { ...file, duration: 30, mime_type: mime, ...(media.filename !== undefined ? { file_name: media.filename } : {}) } };
  if (mime.startsWith('video/')) return { video: { ...file, width: 640, height: 360, duration: 5, mime_type: mime, ...(media.filename !== undefined ? { file_name: media.filename } : {}) } };
  return { document: { ...file, file_name: media.filename ?? 'document.bin', mime_type: mime } };
}

/** The webhook POST for an Update, with the account's secret token as Telegram sends it. */
export function webhookRequest(account: TelegramAccount, update: unknown): WebhookRequestSpec {
  const secret = account.settings.secretToken;
  if (secret === undefined) {
    throw new OmniError('invalid_request', `account ${account.id}: settings.secretToken is required to simulate a webhook`, { details: { field: 'settings.secretToken' } });
  }
  return {
    method: 'POST',
    path: `/webhooks/telegram/${encodeURIComponent(account.id)}`,
    headers: { 'content-type': 'application/json', [SECRET_HEADER]: secret },
    body: JSON.stringify(update),
  };
}

/** The webhook a customer's action causes, with random ids (the simulator has no sequence). */
export function simulateInbound(account: TelegramAccount, input: SimulateInput): WebhookRequestSpec {
  return webhookRequest(account, buildUpdate(account, input, { updateId: randomInt(1, 2 ** 31 - 1), messageId: randomInt(1, 2 ** 31 - 1) }));
}
