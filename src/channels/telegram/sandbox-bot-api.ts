/**
 * The methods of the fake Bot API: getMe, setWebhook / deleteWebhook / getWebhookInfo,
 * getUpdates (offsets, long poll, 409 while a webhook is set or when a newer poll starts),
 * getFile, every send method (recorded exactly as received, answered with a Message, refused
 * the way Telegram refuses: unknown chat, blocked user, upgraded group, too long, too big),
 * setMessageReaction and answerCallbackQuery. Scripted failures come first.
 */
import { DEFAULT_ALLOWED_UPDATES } from './config.ts';
import { jsonParam, type DecodedParams } from './sandbox-routing.ts';
import { badRequest, fail, ok, type FakeBot, type FakeState, type SentRecord } from './sandbox-state.ts';
import { botUser } from './sandbox-webhooks.ts';
import { sendChatAction } from './sandbox-signals.ts';

/** The failure queue's key for a failure meant for the next call of any method. */
export const ANY_METHOD = '*';

type Handler = (bot: FakeBot, params: DecodedParams, state: FakeState, request: Request) => Response | Promise<Response>;

const MB = 1024 * 1024;
const utf8 = new TextEncoder();

/** Content field of the answer Message and the upload limit, per send method with a file. */
const FILE_METHODS: Readonly<Record<string, { field: string; maxBytes: number }>> = {
  sendPhoto: { field: 'photo', maxBytes: 10 * MB },
  sendDocument: { field: 'document', maxBytes: 50 * MB },
  sendAudio: { field: 'audio', maxBytes: 50 * MB },
  sendVoice: { field: 'voice', maxBytes: 50 * MB },
  sendVideo: { field: 'video', maxBytes: 50 * MB },
  sendAnimation: { field: 'animation', maxBytes: 50 * MB },
  sendSticker: { field: 'sticker', maxBytes: 50 * MB },
};

/** Handles one method call for a bot. */
export async function callMethod(method: string, bot: FakeBot, params: DecodedParams, state: FakeState, request: Request): Promise<Response> {
  // Method names are case-insensitive on Telegram.
  const name = Object.keys(HANDLERS).find((key) => key.toLowerCase() === method.toLowerCase());
  if (name === undefined) return fail({ errorCode: 404, description: 'Not Found' });
  const scripted = state.failures.take(name.toLowerCase()) ?? state.failures.take(ANY_METHOD);
  if (scripted !== undefined) return fail(scripted);
  return HANDLERS[name]!(bot, params, state, request);
}

const HANDLERS: Readonly<Record<string, Handler>> = {
  sendChatAction: (bot, params) => sendChatAction(bot, params),
  getMe: (bot) => ok({ ...botUser(bot.botId), can_join_groups: true, can_read_all_group_messages: false, supports_inline_queries: false, can_connect_to_business: true, has_main_web_app: false }),
  setWebhook(bot, { values }) {
    const url = typeof values.url === 'string' ? values.url : '';
    const secret = values.secret_token;
    if (secret !== undefined && (typeof secret !== 'string' || !/^[A-Za-z0-9_-]{1,256}$/.test(secret))) return badRequest('secret token contains unallowed characters');
    if (values.drop_pending_updates === true || values.drop_pending_updates === 'true') bot.updates.length = 0;
    if (url === '') {
      bot.webhook = null;
      return ok(true);
    }
    const allowed = jsonParam(values.allowed_updates);
    bot.webhook = { url, ...(typeof secret === 'string' ? { secretToken: secret } : {}), ...(Array.isArray(allowed) ? { allowedUpdates: allowed.map(String) } : {}) };
    // A webhook ends a long poll in progress: it answers 409 when it wakes.
    bot.wake('update');
    return ok(true);
  },
  deleteWebhook(bot, { values }) {
    bot.webhook = null;
    if (values.drop_pending_updates === true || values.drop_pending_updates === 'true') bot.updates.length = 0;
    return ok(true);
  },
  getWebhookInfo: (bot) =>
    ok({
      url: bot.webhook?.url ?? '',
      has_custom_certificate: false,
      pending_update_count: bot.updates.length,
      ...(bot.lastWebhookError !== null ? { last_error_date: bot.lastWebhookError.date, last_error_message: bot.lastWebhookError.message } : {}),
      ...(bot.webhook !== null ? { max_connections: 40, allowed_updates: bot.webhook.allowedUpdates ?? [...DEFAULT_ALLOWED_UPDATES] } : {}),
    }),
  async getUpdates(bot, { values }, _state, request) {
    if (bot.webhook !== null) return fail({ errorCode: 409, description: "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first" });
    const offset = numberParam(values.offset);
    if (offset !== undefined) bot.confirm(offset);
    const limit = Math.min(100, Math.max(1, numberParam(values.limit) ?? 100));
    const timeout = Math.min(50, Math.max(0, numberParam(values.timeout) ?? 0));
    const allowed = jsonParam(values.allowed_updates);
    const wanted = (update: Record<string, unknown>) =>
      !Array.isArray(allowed) || allowed.length === 0 || Object.keys(update).some((key) => key !== 'update_id' && allowed.includes(key));
    const ready = () => bot.updates.filter(wanted).slice(0, limit);
    if (ready().length === 0 && timeout > 0) {
      const outcome = await bot.wait(timeout * 1000, request.signal);
      if (outcome === 'conflict') {
        return fail({ errorCode: 409, description: 'Conflict: terminated by other getUpdates request; make sure that only one bot instance is running' });
      }
      if (bot.webhook !== null) return fail({ errorCode: 409, description: "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first" });
    }
    return ok(ready());
  },
  getFile(_bot, { values }, state) {
    const file = typeof values.file_id === 'string' ? state.files.get(values.file_id) : undefined;
    if (file === undefined) return badRequest('invalid file_id');
    if (file.size > 20 * MB) return badRequest('file is too big');
    return ok({ file_id: file.id, file_unique_id: file.uniqueId, file_size: file.size, file_path: file.path });
  },
  answerCallbackQuery(bot, { values }) {
    if (typeof values.callback_query_id !== 'string' || values.callback_query_id === '') return badRequest('query is too old and response timeout expired or query ID is invalid');
    bot.callbackAnswers.push({ ...values });
    return ok(true);
  },
  setMessageReaction(bot, params, state) {
    const refusal = chatRefusal(bot, params.values.chat_id);
    if (refusal !== undefined) return refusal;
    return ok(record(bot, 'setMessageReaction', params, state, true));
  },
  sendMessage(bot, params, state) {
    const text = params.values.text;
    if (typeof text !== 'string' || text.trim() === '') return badRequest('message text is empty');
    if (text.length > 4096) return badRequest('message is too long');
    return sendCommon(bot, 'sendMessage', params, state, { text });
  },
  sendLocation(bot, params, state) {
    const latitude = numberParam(params.values.latitude);
    const longitude = numberParam(params.values.longitude);
    if (latitude === undefined || longitude === undefined) return badRequest('wrong latitude or longitude specified');
    return sendCommon(bot, 'sendLocation', params, state, { location: { latitude, longitude } });
  },
  sendVenue(bot, params, state) {
    const latitude = numberParam(params.values.latitude);
    const longitude = numberParam(params.values.longitude);
    if (latitude === undefined || longitude === undefined) return badRequest('wrong latitude or longitude specified');
    const venue = { location: { latitude, longitude }, title: params.values.title, address: params.values.address };
    return sendCommon(bot, 'sendVenue', params, state, { venue, location: venue.location });
  },
  sendContact(bot, params, state) {
    if (typeof params.values.phone_number !== 'string' || typeof params.values.first_name !== 'string') return badRequest('phone number and first name are required');
    return sendCommon(bot, 'sendContact', params, state, { contact: { phone_number: params.values.phone_number, first_name: params.values.first_name } });
  },
  ...Object.fromEntries(Object.keys(FILE_METHODS).map((method) => [method, (bot: FakeBot, params: DecodedParams, state: FakeState) => sendFile(bot, method, params, state)])),
};

function sendFile(bot: FakeBot, method: string, params: DecodedParams, state: FakeState): Response {
  const { field, maxBytes } = FILE_METHODS[method]!;
  const upload = params.files[field];
  const caption = params.values.caption;
  if (typeof caption === 'string' && caption.length > 1024) return badRequest('message caption is too long');
  let file;
  if (upload !== undefined) {
    if (upload.size > 50 * MB) return fail({ errorCode: 413, description: 'Request Entity Too Large' });
    if (upload.size > maxBytes) return badRequest('file is too big');
    file = params.uploaded?.[field];
  } else if (typeof params.values[field] === 'string') {
    file = state.files.get(params.values[field] as string);
    if (file === undefined) return badRequest('wrong file identifier/HTTP URL specified');
  } else return badRequest(`there is no ${field} in the request`);
  if (file === undefined) return badRequest('wrong file identifier/HTTP URL specified');
  const object = { file_id: file.id, file_unique_id: file.uniqueId, file_size: file.size };
  const content =
    field === 'photo'
      ? { photo: [{ ...object, width: 320, height: 320 }] }
      : { [field]: { ...object, mime_type: file.mime, ...(file.filename !== undefined ? { file_name: file.filename } : {}) } };
  return sendCommon(bot, method, params, state, { ...content, ...(typeof caption === 'string' && caption !== '' ? { caption } : {}) });
}

/** Checks the chat, records the call and answers the Message Telegram would return. */
function sendCommon(bot: FakeBot, method: string, params: DecodedParams, state: FakeState, content: Record<string, unknown>): Response {
  const refusal = chatRefusal(bot, params.values.chat_id);
  if (refusal !== undefined) return refusal;
  const markup = jsonParam(params.values.reply_markup);
  if (markup !== undefined && typeof markup === 'object' && markup !== null && Array.isArray((markup as { inline_keyboard?: unknown }).inline_keyboard)) {
    for (const row of (markup as { inline_keyboard: unknown[] }).inline_keyboard) {
      for (const button of Array.isArray(row) ? row : []) {
        const data = (button as { callback_data?: unknown })?.callback_data;
        if (typeof data === 'string' && (utf8.encode(data).byteLength > 64 || data === '')) return badRequest('BUTTON_DATA_INVALID');
      }
    }
  }
  const chatId = String(params.values.chat_id);
  const type = bot.knownChats.get(chatId) ?? 'private';
  const message: Record<string, unknown> = {
    message_id: bot.nextMessageId(chatId),
    from: botUser(bot.botId),
    chat: { id: Number(chatId), type, ...(type === 'private' ? { first_name: 'Sandbox' } : { title: 'Sandbox Group' }) },
    date: Math.floor(state.clock.now().getTime() / 1000),
    ...content,
  };
  if (typeof params.values.business_connection_id === 'string') message.business_connection_id = params.values.business_connection_id;
  if (markup !== undefined) message.reply_markup = markup;
  return ok(record(bot, method, params, state, message));
}

/** Why Telegram would refuse to write into this chat, if it would. */
function chatRefusal(bot: FakeBot, chatIdValue: unknown): Response | undefined {
  const chatId = typeof chatIdValue === 'number' || typeof chatIdValue === 'string' ? String(chatIdValue) : '';
  if (!/^-?\d{1,20}$/.test(chatId)) return badRequest('chat not found');
  const upgraded = bot.migrated.get(chatId);
  if (upgraded !== undefined) return badRequest('group chat was upgraded to a supergroup chat', { migrate_to_chat_id: Number(upgraded) });
  if (bot.blocked.has(chatId)) return fail({ errorCode: 403, description: 'Forbidden: bot was blocked by the user' });
  if (!bot.knownChats.has(chatId)) return badRequest('chat not found');
  return undefined;
}

function record(bot: FakeBot, method: string, params: DecodedParams, state: FakeState, result: unknown): unknown {
  const values: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(params.values)) values[name] = JSON_PARAMS.has(name) ? jsonParam(value) : value;
  const files: SentRecord['files'] = {};
  for (const [field, file] of Object.entries(params.uploaded ?? {})) files[field] = { filename: file.filename ?? '', mime: file.mime, size: file.size, sha256: file.sha256 };
  bot.sent.push({ botId: bot.botId, method, params: values, files, result, at: state.clock.now() });
  return result;
}

const JSON_PARAMS = new Set(['reply_markup', 'reply_parameters', 'link_preview_options', 'reaction', 'entities', 'caption_entities']);

function numberParam(value: unknown): number | undefined {
  const number = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  return typeof number === 'number' && Number.isFinite(number) ? number : undefined;
}

/** Stores uploaded files before the handler runs, so it can answer with their file_ids. */
export async function storeUploads(params: DecodedParams, state: FakeState): Promise<void> {
  const uploaded: NonNullable<DecodedParams['uploaded']> = {};
  for (const [field, file] of Object.entries(params.files)) {
    const bytes = new Uint8Array(await file.arrayBuffer());
    uploaded[field] = state.files.put(bytes, file.type || 'application/octet-stream', file.name || undefined);
  }
  params.uploaded = uploaded;
}
