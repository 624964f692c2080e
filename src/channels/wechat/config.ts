/**
 * WeChat Official Account settings, channel defaults and capabilities. The 48 h window, its
 * quota of 5 customer-service messages and the 3-in-a-minute grants after a follow, a menu
 * click or a QR scan are declared here as data; the core enforces them before sending.
 */
import { z } from 'zod';
import type { ChannelCapabilities, ChannelDefaults } from '../../core/adapter.ts';
import type { AccountConfig } from '../../core/config/types.ts';
import { envInteger } from '../../core/config/fields.ts';

/** The API host used when an account's `apiBase` is null. */
export const WECHAT_API_BASE = 'https://api.weixin.qq.com';

/** How pushes are protected, as chosen in the WeChat console (消息加解密方式). */
export const WECHAT_MODES = ['safe', 'compat', 'plain'] as const;
/** One of the push protection modes. */
export type WeChatMode = (typeof WECHAT_MODES)[number];

const quota = () => envInteger(z.int().positive()).nullable();

/** The channel-specific fields of a WeChat channel file (secrets already substituted). */
export const wechatSettingsSchema = z
  .strictObject({
    /** AppID of the official account (开发者ID): `wx` and 16 letters or digits. */
    appId: z.string().regex(/^wx[0-9A-Za-z]{16}$/, 'must be the AppID: "wx" followed by 16 letters or digits'),
    /** AppSecret (开发者密码); only ever sent to the token endpoint. */
    appSecret: z.string().min(1),
    /** The Token typed in the server configuration; keys the push signatures. */
    token: z.string().regex(/^[A-Za-z0-9]{3,32}$/, 'must be the Token from the server configuration: 3-32 letters or digits'),
    /** EncodingAESKey (43 characters): required in safe and compat mode. */
    encodingAesKey: z.string().regex(/^[A-Za-z0-9]{43}$/, 'must be the EncodingAESKey: 43 letters or digits').optional(),
    /** safe (default, recommended), compat, or plain: plain pushes carry no body signature at all. */
    mode: z.enum(WECHAT_MODES).default('safe'),
    /** The account's original id (原始ID, `gh_…`); when set, pushes addressed elsewhere are ignored. */
    originalId: z.string().regex(/^gh_[0-9A-Za-z]{1,32}$/, 'must be the original id, gh_ followed by letters or digits').optional(),
    /** Customer-service messages allowed per window after a user message (WeChat: 5); null = not counted. */
    messageQuota: quota().default(5),
    /** Messages allowed in the minute after a follow, menu click or QR scan (WeChat: 3); null = not counted. */
    eventQuota: quota().default(3),
  })
  .superRefine((settings, ctx) => {
    if (settings.mode !== 'plain' && settings.encodingAesKey === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['encodingAesKey'],
        message: `is required in ${settings.mode} mode (mode: plain works without it, but then pushes are unsigned)`,
      });
    }
  });

/** Validated WeChat settings. */
export type WeChatSettings = z.output<typeof wechatSettingsSchema>;

/** Settings that are secrets: never logged, never echoed. */
export const WECHAT_SECRET_FIELDS = ['appSecret', 'token', 'encodingAesKey'] as const;

/** The public fallbacks of `config/channels/acme-wechat.yaml`: refused outside sandbox mode. */
export const WECHAT_SAMPLE_SECRETS = {
  appSecret: ['sandbox-app-secret'],
  token: ['sandboxToken'],
  encodingAesKey: ['sandboxEncodingAesKey0000000000000000000000'],
};

/**
 * Defaults from WeChat's rules (docs/configuration.md). WeChat publishes daily quotas
 * (500 000 customer-service sends) but no per-second limit; 20/s stays clear of 45011.
 */
export const WECHAT_DEFAULTS: ChannelDefaults = {
  window: '48h',
  attachments: ['gif', 'mp4', 'mp3', 'amr', 'jpg', 'jpeg', 'png'],
  rateLimit: { perSecond: 20, perRecipientPerSecond: null },
};

const MB = 1_000_000;

/**
 * Temporary-media limits. The upload page says both 10 MB and 2 MB for images,
 * so 2 MB; decimal megabytes so that erring small never lets through a file WeChat refuses.
 */
export const WECHAT_MAX_BYTES = {
  image: 2 * MB,
  sticker: 2 * MB,
  voice: 2 * MB,
  audio: 2 * MB,
  video: 10 * MB,
} as const;

/** Thumbnails (`type=thumb`): 64 KB JPG. */
export const WECHAT_THUMB_MAX_BYTES = 64 * 1024;

/** Users send at most 25 MB videos; anything over 100 MiB is refused before fetching. */
export const WECHAT_INBOUND_MAX_BYTES = 100 * 1024 * 1024;

/** How long a follow, menu click or scan lets the account answer (3 messages in 1 minute). */
export const EVENT_GRANT_MS = 60_000;

/**
 * What a customer-service send may carry: the part types `outbound.ts` maps to a message type
 * (files, locations and reactions have none). WeChat documents text content as at most 2048
 * bytes; a caption travels as a text message (or a video's description), so it gets the same.
 */
export const WECHAT_OUTBOUND: NonNullable<ChannelCapabilities['outbound']> = {
  parts: ['text', 'image', 'sticker', 'voice', 'audio', 'video', 'buttons', 'list'],
  maxTextLength: 2048,
  maxCaptionLength: 2048,
  textUnit: 'utf8_bytes',
};

/** The capabilities of one WeChat account, from WeChat's rules and the account's config. */
export function wechatCapabilities(account: AccountConfig<WeChatSettings>): ChannelCapabilities {
  const windowMs = account.session.windowMs;
  const { messageQuota, eventQuota } = account.settings;
  const eventGrant = { durationMs: EVENT_GRANT_MS, quota: eventQuota ?? null };
  const configuredMax = account.attachments.maxBytes;
  return {
    session: {
      windowMs,
      grants: {
        message: { durationMs: windowMs, quota: windowMs === null ? null : (messageQuota ?? null) },
        follow: eventGrant,
        click: eventGrant,
        scan: eventGrant,
      },
      // No templates on the customer-service API: outside the window nothing may be sent.
      allowedOutsideWindow: [],
    },
    outbound: WECHAT_OUTBOUND,
    attachments: {
      allow: account.attachments.allow,
      maxBytes: WECHAT_MAX_BYTES,
      inboundMaxBytes: configuredMax === null ? WECHAT_INBOUND_MAX_BYTES : Math.min(configuredMax, WECHAT_INBOUND_MAX_BYTES),
    },
    templates: null,
    // WeChat reports nothing after a customer-service send: statuses stop at `sent`.
    signals: ['typing'],
    receipts: [],
    rateLimit: account.rateLimit,
    ordering: 'conversation',
    inbound: ['webhook'],
  };
}
