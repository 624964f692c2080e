/**
 * WhatsApp account settings, channel defaults and capabilities. Everything the core enforces
 * for WhatsApp (window, attachment sizes, receipts, rates) is declared here as data.
 */
import { z } from 'zod';
import type { ChannelCapabilities, ChannelDefaults } from '../../core/adapter.ts';
import type { AccountConfig } from '../../core/config/types.ts';

/** The Graph API host used when an account's `apiBase` is null. */
export const GRAPH_API_BASE = 'https://graph.facebook.com';

/** The channel-specific fields of a WhatsApp channel file (secrets already substituted). */
export const whatsappSettingsSchema = z.strictObject({
  /** The business phone number's id (not the phone number); webhooks are routed by it. */
  phoneNumberId: z.string().regex(/^\d{1,32}$/, 'must be the numeric phone-number id, as a string'),
  accessToken: z.string().min(1),
  appSecret: z.string().min(1),
  verifyToken: z.string().min(1),
  /** Graph API version used in every URL, e.g. `v23.0`. */
  apiVersion: z.string().regex(/^v\d{1,3}\.\d{1,3}$/, 'must look like v23.0').default('v23.0'),
  wabaId: z.string().regex(/^\d{1,32}$/, 'must be the numeric WhatsApp Business Account id').optional(),
});

/** Validated WhatsApp settings. */
export type WhatsAppSettings = z.output<typeof whatsappSettingsSchema>;

/** Settings that are secrets: never logged, never echoed. */
export const WHATSAPP_SECRET_FIELDS = ['accessToken', 'appSecret', 'verifyToken'] as const;

/** The public fallbacks of `config/channels/acme-wa.yaml`: refused outside sandbox mode. */
export const WHATSAPP_SAMPLE_SECRETS = {
  accessToken: ['sandbox-access-token'],
  appSecret: ['sandbox-app-secret'],
  verifyToken: ['sandbox-verify-token'],
};

/**
 * Defaults from Meta's rules (docs/configuration.md). The pair rate limit (about 1 message per
 * 6 s to one user, bursts of 45 allowed) is left null: a strict 0.17/s limiter would delay an
 * agent's normal back-and-forth, which Meta allows as a burst; 131056 is retried instead.
 */
export const WHATSAPP_DEFAULTS: ChannelDefaults = {
  window: '24h',
  attachments: ['pdf', 'mp4', 'mp3', 'ogg', 'amr', 'jpg', 'jpeg', 'png'],
  rateLimit: { perSecond: 80, perRecipientPerSecond: null },
};

const MB = 1_000_000;

/**
 * Meta's per-type limits (reference 1.5). Decimal megabytes on purpose: the core checks
 * outbound sizes with these, and erring small never lets through a file Meta then refuses.
 */
export const WHATSAPP_MAX_BYTES = {
  image: 5 * MB,
  video: 16 * MB,
  audio: 16 * MB,
  voice: 16 * MB,
  file: 100 * MB,
  // Animated stickers may be 500 KB; static ones only 100 KB, which bytes alone cannot tell apart.
  sticker: 500_000,
} as const;

/** Meta does not deliver inbound files over 100 MB (error 131052); binary MB, generous on purpose. */
export const WHATSAPP_INBOUND_MAX_BYTES = 100 * 1024 * 1024;

/** 72 h free-entry-point pricing window after a click-to-WhatsApp ad (reference 1.6). */
export const FREE_ENTRY_POINT_MS = 72 * 60 * 60 * 1000;

/**
 * What a WhatsApp send may carry (reference 1.4): every part type `outbound-parts.ts` turns
 * into a Graph message; text bodies up to 4096 characters, media captions up to 1024.
 */
export const WHATSAPP_OUTBOUND: NonNullable<ChannelCapabilities['outbound']> = {
  parts: ['text', 'image', 'video', 'audio', 'voice', 'file', 'sticker', 'location', 'reaction', 'buttons', 'list'],
  maxTextLength: 4096,
  maxCaptionLength: 1024,
  textUnit: 'chars',
  replyTo: true,
};

/** The capabilities of one WhatsApp account, from Meta's rules and the account's config. */
export function whatsappCapabilities(account: AccountConfig<WhatsAppSettings>): ChannelCapabilities {
  const windowMs = account.session.windowMs;
  const configuredMax = account.attachments.maxBytes;
  return {
    session: {
      windowMs,
      grants: { message: { durationMs: windowMs, quota: null } },
      allowedOutsideWindow: ['template'],
    },
    outbound: WHATSAPP_OUTBOUND,
    attachments: {
      allow: account.attachments.allow,
      maxBytes: WHATSAPP_MAX_BYTES,
      inboundMaxBytes: configuredMax === null ? WHATSAPP_INBOUND_MAX_BYTES : Math.min(configuredMax, WHATSAPP_INBOUND_MAX_BYTES),
    },
    // Meta publishes no parameter count: the 1024-character body bounds it (about 200 bare
    // `{{n}}`) and review rejects templates whose parameters outweigh their text, so 100 it is.
    templates: { maxBodyParams: 100, maxNameLength: 512 },
    signals: ['read', 'typing'],
    receipts: ['sent', 'delivered', 'read'],
    rateLimit: account.rateLimit,
    ordering: 'conversation',
    inbound: ['webhook'],
  };
}
