/**
 * The Telegram Bot API channel: one adapter per bot token. Webhooks (secret-token header) or
 * long polling, every message kind, callback queries answered after recording, Telegram
 * Business chats as conversations of their own, media download, `send` and the sandbox fake.
 */
import type { AdapterContext, ChannelAdapter, ChannelDefinition } from '../../core/adapter.ts';
import { OmniError } from '../../core/errors.ts';
import { botApiFailure } from './api-errors.ts';
import { BotClient, isRecord } from './client.ts';
import {
  TELEGRAM_API_BASE,
  TELEGRAM_DEFAULTS,
  TELEGRAM_SECRET_FIELDS,
  TELEGRAM_SAMPLE_SECRETS,
  botIdOf,
  telegramCapabilities,
  telegramSettingsSchema,
  type TelegramSettings,
} from './config.ts';
import { parseWebhook } from './inbound.ts';
import { fetchTelegramMedia } from './media.ts';
import { createTelegramSender } from './outbound.ts';
import { telegramSandbox } from './sandbox.ts';
import { telegramWebhookDoc } from './webhook-doc.ts';
import { deleteWebhook, fetchUpdates, setWebhook, webhookInfo } from './updates.ts';
import { verifySecretToken } from './verify.ts';
import { TELEGRAM_COST, sendTelegramSignal } from './signals.ts';

export type { TelegramSettings } from './config.ts';
export { TelegramPollConflictError } from './updates.ts';

/** Creates the adapter of one Telegram bot; no I/O happens until a method is called. */
export function createTelegramAdapter(context: AdapterContext<TelegramSettings>): ChannelAdapter {
  const { account, logger, http, clock, shared } = context;
  const settings = account.settings;
  const capabilities = telegramCapabilities(account);
  const client = new BotClient({ http, apiBase: account.apiBase ?? TELEGRAM_API_BASE, botToken: settings.botToken });
  const now = () => clock.now();
  const parseOptions = { now };
  const send = createTelegramSender({ client, shared, clock, logger });

  return Object.freeze({
    channel: 'telegram',
    account: account.id,
    capabilities,
    inboundMode: settings.mode,
    verify: (request) => verifySecretToken(request, settings.secretToken),
    parse: (webhook) => parseWebhook(webhook.body, parseOptions),
    async checkCredentials(signal) {
      const answer = await client.call('getMe', {}, { purpose: 'credentials', signal });
      if (!answer.ok) throw botApiFailure(answer, 'credentials', now());
      const id = isRecord(answer.result) ? answer.result.id : undefined;
      if (String(id) !== botIdOf(settings.botToken)) {
        throw new OmniError('channel_rejected', 'Telegram answered getMe for another bot', { details: { field: 'botToken' } });
      }
    },
    fetchMedia: (ref, signal) => fetchTelegramMedia(ref, { client, maxBytes: capabilities.attachments.inboundMaxBytes, now }, signal),
    send,
    costOf: () => TELEGRAM_COST,
    sendSignal: (request, signal) => sendTelegramSignal(client, request, signal, now),
    async prepareWebhook(signal) {
      if (settings.mode !== 'webhook' || !settings.registerWebhook) return;
      const { url } = await setWebhook(client, { settings, accountId: account.id, publicUrl: context.publicUrl }, signal, now);
      logger.info({ account: account.id, host: new URL(url).host }, 'telegram webhook registered');
    },
    webhookStatus: (signal) => webhookInfo(client, signal, now),
    preparePolling: (signal) => deleteWebhook(client, signal, now),
    fetchUpdates: (cursor, signal) => fetchUpdates(client, settings, cursor, signal, parseOptions),
    async afterRecorded(events, signal) {
      // Stop the spinner on the user's button; a query older than 150 s can no longer be answered.
      for (const event of events) {
        if (event.kind !== 'message' || !event.dedupeKey.startsWith('callback:')) continue;
        const callbackQueryId = event.dedupeKey.slice('callback:'.length);
        try {
          const answer = await client.call('answerCallbackQuery', { callback_query_id: callbackQueryId }, { purpose: 'callback', signal });
          if (!answer.ok) {
            const error = botApiFailure(answer, 'callback', now());
            logger.debug({ account: account.id, code: error.code, status: answer.status }, 'telegram callback query not answered');
          }
        } catch (error) {
          if (signal.aborted) return;
          logger.warn({ account: account.id, code: error instanceof OmniError ? error.code : 'internal' }, 'telegram callback query not answered');
        }
      }
    },
  } satisfies ChannelAdapter);
}

/** The Telegram channel definition the composition root registers. */
export const telegram: ChannelDefinition<TelegramSettings> = {
  id: 'telegram',
  settingsSchema: telegramSettingsSchema,
  defaults: TELEGRAM_DEFAULTS,
  secretFields: TELEGRAM_SECRET_FIELDS,
  sampleSecrets: TELEGRAM_SAMPLE_SECRETS,
  create: createTelegramAdapter,
  sandbox: telegramSandbox,
  webhookDoc: telegramWebhookDoc,
};
