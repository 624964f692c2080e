/**
 * LINE Messaging API settings, channel defaults and capabilities. LINE has no service window
 * (a friend can be pushed to at any time); what it limits instead is the monthly push quota,
 * declared here as an account quota, and the free reply token each event carries.
 */
import { z } from 'zod';
import type { ChannelCapabilities, ChannelDefaults, OutboundPart } from '../../core/adapter.ts';
import type { AccountConfig } from '../../core/config/types.ts';
import { httpUrl } from '../../core/config/fields.ts';

/** The API host used when an account's `apiBase` is null. */
export const LINE_API_BASE = 'https://api.line.me';
/** The content host (media download) used when neither `apiBase` nor `dataApiBase` is set. */
export const LINE_DATA_API_BASE = 'https://api-data.line.me';

/** The channel-specific fields of a LINE channel file (secrets already substituted). */
export const lineSettingsSchema = z
  .strictObject({
    /** Channel secret (Basic settings): keys the webhook signatures and issues short-lived tokens. */
    channelSecret: z.string().regex(/^[\x21-\x7e]{8,128}$/, 'must be the channel secret from the LINE Developers Console'),
    /** A long-lived channel access token (Messaging API tab). Give this, or `channelId` to issue tokens. */
    channelAccessToken: z.string().regex(/^[\x21-\x7e]{16,2048}$/, 'must be a channel access token').optional(),
    /** The channel id (Basic settings): with `channelSecret`, short-lived tokens are issued and shared by all replicas. */
    channelId: z.string().regex(/^\d{1,20}$/, 'must be the numeric channel id').optional(),
    /** Content host override (`api-data.line.me`); default: `apiBase` when it is set, else LINE's data host. */
    dataApiBase: httpUrl().nullable().default(null),
    /**
     * An HTTPS URL of a JPEG/PNG (≤ 1 MB) shown as the preview of videos the business sends:
     * LINE requires one and the daemon makes no thumbnails. Without it, videos cannot be sent.
     */
    videoPreviewUrl: httpUrl().nullable().default(null),
  })
  .superRefine((settings, ctx) => {
    if (settings.channelAccessToken === undefined && settings.channelId === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['channelAccessToken'],
        message: 'give a long-lived channelAccessToken, or channelId (with channelSecret) to issue short-lived tokens',
      });
    }
  });

/** Validated LINE settings. */
export type LineSettings = z.output<typeof lineSettingsSchema>;

/** Settings that are secrets: never logged, never echoed. */
export const LINE_SECRET_FIELDS = ['channelSecret', 'channelAccessToken'] as const;

/** The public fallbacks of `config/channels/acme-line.yaml`: refused outside sandbox mode. */
export const LINE_SAMPLE_SECRETS = { channelSecret: ['sandbox-channel-secret'], channelAccessToken: ['sandbox-channel-access-token'] };

/**
 * Defaults from LINE's rules (docs/configuration.md): no window; push and reply allow
 * 2000 requests/s per channel, far above what one agent team needs, so 100/s stays clear.
 */
export const LINE_DEFAULTS: ChannelDefaults = {
  window: 'none',
  attachments: ['mp4', 'm4a', 'jpg', 'jpeg', 'png'],
  rateLimit: { perSecond: 100, perRecipientPerSecond: null },
};

const MB = 1_000_000;

/** Message-object limits (reference A4): image 10 MB, video and audio 200 MB. */
export const LINE_MAX_BYTES = {
  image: 10 * MB,
  sticker: 10 * MB,
  video: 200 * MB,
  audio: 200 * MB,
} as const;

/** Users send files up to 300 MB (LINE app limit is 1 GB for some kinds); 300 MiB is the cap. */
export const LINE_INBOUND_MAX_BYTES = 300 * 1024 * 1024;

/** Text messages: 5000 UTF-16 code units. */
export const LINE_MAX_TEXT = 5000;
/** Messages per reply or push request. */
export const LINE_MAX_MESSAGES = 5;
/** A reply token is good for one minute after the event (reference A4). */
export const REPLY_TOKEN_MS = 60_000;
/** A redelivered event's token is usable within a minute of receipt, never 20 minutes after the event. */
export const REDELIVERED_TOKEN_LIMIT_MS = 20 * 60_000;

/** The account quota the core reads before a push. */
export const MONTHLY_PUSH_QUOTA = 'monthly_push';

/** What the adapter can send, given whether the core can hand LINE public links to media. */
export function outboundParts(settings: LineSettings, mediaLinks: boolean): ReadonlyArray<OutboundPart['type']> {
  const parts: Array<OutboundPart['type']> = ['text', 'location', 'buttons'];
  // LINE fetches media by HTTPS URL: without public links to stored media nothing can be sent.
  if (mediaLinks) {
    parts.push('image', 'sticker', 'audio');
    if (settings.videoPreviewUrl !== null) parts.push('video');
  }
  return parts;
}

/** The capabilities of one LINE account, from LINE's rules and the account's config. */
export function lineCapabilities(account: AccountConfig<LineSettings>, mediaLinks: boolean): ChannelCapabilities {
  const windowMs = account.session.windowMs;
  const configuredMax = account.attachments.maxBytes;
  return {
    session: {
      windowMs,
      grants: { message: { durationMs: windowMs, quota: null } },
      allowedOutsideWindow: [],
    },
    outbound: {
      parts: outboundParts(account.settings, mediaLinks),
      maxTextLength: LINE_MAX_TEXT,
      // LINE media has no caption: a caption goes out as a text message after it.
      maxCaptionLength: LINE_MAX_TEXT,
      maxParts: LINE_MAX_MESSAGES,
      replyTo: false,
      // Every push carries X-Line-Retry-Key from the idempotency key: LINE answers a repeat 409.
      idempotentRetry: true,
    },
    accountQuotas: [{ name: MONTHLY_PUSH_QUOTA, appliesTo: 'push' }],
    attachments: {
      allow: account.attachments.allow,
      maxBytes: LINE_MAX_BYTES,
      inboundMaxBytes: configuredMax === null ? LINE_INBOUND_MAX_BYTES : Math.min(configuredMax, LINE_INBOUND_MAX_BYTES),
    },
    templates: null,
    // LINE reports nothing after a send (read receipts exist only with Chat mode in the OA manager).
    signals: ['read', 'typing'],
    receipts: [],
    rateLimit: account.rateLimit,
    ordering: 'conversation',
    inbound: ['webhook'],
  };
}

/** The API and content hosts of an account: `apiBase` covers both unless `dataApiBase` is set. */
export function lineBases(account: AccountConfig<LineSettings>): { api: string; data: string } {
  const api = (account.apiBase ?? LINE_API_BASE).replace(/\/+$/, '');
  const data = account.settings.dataApiBase ?? (account.apiBase !== null ? api : LINE_DATA_API_BASE);
  return { api, data: data.replace(/\/+$/, '') };
}
