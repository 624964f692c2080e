/**
 * Telegram bot settings, channel defaults and capabilities. Telegram has no service window for
 * a bot's own chats; Telegram Business chats have a 24 h reply rule, declared as the session
 * kind `business`. Rates follow Telegram's FAQ: about 30 messages a second per bot, one a
 * second into one chat, 20 a minute into one group.
 */
import { z } from 'zod';
import type { ChannelCapabilities, ChannelDefaults } from '../../core/adapter.ts';
import { envBoolean, envInteger, httpUrl } from '../../core/config/fields.ts';
import type { AccountConfig } from '../../core/config/types.ts';

/** The Bot API host used when an account's `apiBase` is null. */
export const TELEGRAM_API_BASE = 'https://api.telegram.org';

/** How the account receives updates. */
export const TELEGRAM_MODES = ['webhook', 'polling'] as const;

/**
 * Updates the adapter understands; asked for with `allowed_updates`, because Telegram keeps the
 * previous list when it is omitted and leaves `chat_member` and reactions out of an empty one.
 */
export const DEFAULT_ALLOWED_UPDATES = [
  'message',
  'edited_message',
  'callback_query',
  'my_chat_member',
  'business_connection',
  'business_message',
  'edited_business_message',
  'deleted_business_messages',
] as const;

/** The channel-specific fields of a Telegram channel file (secrets already substituted). */
export const telegramSettingsSchema = z
  .strictObject({
    /** The token from @BotFather, `<bot id>:<secret>`; it sits in every API URL path. */
    botToken: z.string().regex(/^\d{1,20}:[A-Za-z0-9_-]{20,200}$/, 'must be the token from @BotFather: digits, a colon, then letters, digits, _ or -'),
    /** `secret_token` of setWebhook, echoed by Telegram in `X-Telegram-Bot-Api-Secret-Token`. */
    secretToken: z
      .string()
      .regex(/^[A-Za-z0-9_-]{16,256}$/, 'must be 16-256 characters of A-Z, a-z, 0-9, _ or - (Telegram allows no others; long and random, it is the only webhook check)')
      .optional(),
    /** webhook (Telegram posts to the daemon) or polling (the daemon calls getUpdates). */
    mode: z.enum(TELEGRAM_MODES).default('webhook'),
    /** Call setWebhook at start with `<http.publicUrl>/webhooks/telegram/<id>` (or `webhookUrl`). */
    registerWebhook: envBoolean().default(false),
    /** The URL to register instead of the one built from `http.publicUrl`. */
    webhookUrl: httpUrl().optional(),
    /** Update kinds asked for in setWebhook and getUpdates. */
    allowedUpdates: z.array(z.string().regex(/^[a-z_]{1,64}$/, 'must be an update kind such as message or callback_query')).default([...DEFAULT_ALLOWED_UPDATES]),
    /** Long-poll timeout of getUpdates in seconds (Telegram clamps to 50). */
    pollTimeoutSeconds: envInteger(z.int().min(1).max(50)).default(25),
  })
  .superRefine((settings, ctx) => {
    if (settings.mode === 'webhook' && settings.secretToken === undefined) {
      ctx.addIssue({ code: 'custom', path: ['secretToken'], message: 'is required in webhook mode: it is the only proof a webhook comes from Telegram' });
    }
  });

/** Validated Telegram settings. */
export type TelegramSettings = z.output<typeof telegramSettingsSchema>;

/** Settings that are secrets: never logged, never echoed. */
export const TELEGRAM_SECRET_FIELDS = ['botToken', 'secretToken'] as const;

/** The public fallbacks of `config/channels/acme-telegram.yaml`: refused outside sandbox mode. */
export const TELEGRAM_SAMPLE_SECRETS = { botToken: ['7000000001:AAsandbox-bot-token-0000000000000000'], secretToken: ['sandbox-telegram-secret-token'] };

/** "In a group, bots are not able to send more than 20 messages per minute." */
export const GROUP_SENDS_PER_MINUTE = 20;

/** Defaults from Telegram's rules: no window, its file types, 30/s per bot, 1/s per chat, 20/min per group. */
export const TELEGRAM_DEFAULTS: ChannelDefaults = {
  window: 'none',
  attachments: ['pdf', 'gif', 'zip', 'mp4', 'mp3', 'm4a', 'jpg', 'jpeg', 'png'],
  rateLimit: { perSecond: 30, perRecipientPerSecond: 1, perGroupPerMinute: GROUP_SENDS_PER_MINUTE },
};

const MB = 1024 * 1024;

/** Upload limits by multipart (Bot API "Sending files"): photos 10 MB, everything else 50 MB. */
export const TELEGRAM_MAX_BYTES = {
  image: 10 * MB,
  video: 50 * MB,
  audio: 50 * MB,
  voice: 50 * MB,
  file: 50 * MB,
  sticker: 50 * MB,
} as const;

/** Bots can download files of at most 20 MB through getFile. */
export const TELEGRAM_DOWNLOAD_MAX_BYTES = 20 * MB;

/** Business bots may reply only in chats with an incoming message in the last 24 hours. */
export const BUSINESS_WINDOW_MS = 24 * 60 * 60 * 1000;

/** The capabilities of one Telegram account, from Telegram's rules and the account's config. */
export function telegramCapabilities(account: AccountConfig<TelegramSettings>): ChannelCapabilities {
  const windowMs = account.session.windowMs;
  const configuredMax = account.attachments.maxBytes;
  return {
    session: {
      windowMs,
      grants: { message: { durationMs: windowMs, quota: null } },
      allowedOutsideWindow: [],
      kinds: { business: { windowMs: BUSINESS_WINDOW_MS, allowedOutsideWindow: [] } },
    },
    outbound: {
      parts: ['text', 'image', 'video', 'audio', 'voice', 'file', 'sticker', 'location', 'buttons', 'list', 'reaction'],
      maxTextLength: 4096,
      maxCaptionLength: 1024,
      textUnit: 'chars',
      replyTo: true,
    },
    attachments: {
      allow: account.attachments.allow,
      maxBytes: TELEGRAM_MAX_BYTES,
      inboundMaxBytes: configuredMax === null ? TELEGRAM_DOWNLOAD_MAX_BYTES : Math.min(configuredMax, TELEGRAM_DOWNLOAD_MAX_BYTES),
    },
    templates: null,
    // Telegram reports nothing after a send: no delivered, no read for bots.
    signals: ['typing'],
    receipts: [],
    rateLimit: { ...account.rateLimit, perGroupPerMinute: account.rateLimit.perGroupPerMinute === undefined ? GROUP_SENDS_PER_MINUTE : account.rateLimit.perGroupPerMinute },
    ordering: 'conversation',
    inbound: ['webhook', 'polling'],
  };
}

/** The numeric bot id that prefixes a token (not a secret: it is the bot's user id). */
export function botIdOf(botToken: string): string {
  return botToken.slice(0, Math.max(0, botToken.indexOf(':')));
}
