/**
 * LINE message objects → normalised parts, one case per `message.type` (reference A2). An odd
 * or unknown shape becomes an `unsupported` part with a reason, so the event is still recorded.
 * Media refs name where the bytes are: `content:<messageId>` on LINE's content host, or
 * `external:<url>` for content a LIFF app or another provider hosts, which `media.ts` fetches
 * only through the core's SSRF-guarded client, as an untrusted public URL.
 */
import type { InboundMediaRef, InboundPart } from '../../core/model.ts';
import { isRecord, type JsonObject } from './inbound-json.ts';

/** Message ids go into content URLs: digits in practice, a strict charset here. */
export const MESSAGE_ID = /^[0-9A-Za-z_-]{1,64}$/;
/** Sticker and package ids are digits. */
const STICKER_ID = /^\d{1,20}$/;
/** LINE's limit for content URLs; longer ones are not LINE's. */
const MAX_URL_LENGTH = 2000;

/** The value when it is a non-empty string. */
export function str(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

/** A platform word safe to use in a reason or metric label (bounded, no free text). */
export function label(value: unknown): string {
  return typeof value === 'string' && /^[A-Za-z0-9_]{1,40}$/.test(value) ? value : 'unknown';
}

/** The one part of a message object; `id` is its already checked message id. */
export function messagePart(message: JsonObject, id: string): InboundPart {
  const type = message.type;
  switch (type) {
    case 'text':
      return textPart(message);
    case 'image': {
      const meta = compact({ imageSet: imageSet(message.imageSet), quoteToken: str(message.quoteToken), markAsReadToken: str(message.markAsReadToken) });
      return mediaPart('image', message, id, meta);
    }
    case 'video':
    case 'audio': {
      const meta = compact({ durationMs: nonNegative(message.duration), quoteToken: str(message.quoteToken), markAsReadToken: str(message.markAsReadToken) });
      return mediaPart(type, message, id, meta);
    }
    case 'file': {
      const filename = str(message.fileName);
      const size = nonNegative(message.fileSize);
      const media: InboundMediaRef = { ref: `content:${id}`, ...(filename !== undefined ? { filename } : {}), ...(size !== undefined ? { declaredSize: size } : {}) };
      const meta = compact({ markAsReadToken: str(message.markAsReadToken) });
      return { type: 'file', media, ...(filename !== undefined ? { filename } : {}), ...(meta !== undefined ? { meta } : {}) };
    }
    case 'location':
      return locationPart(message);
    case 'sticker':
      return stickerPart(message);
    default:
      return { type: 'unsupported', reason: `message:${label(type)}` };
  }
}

function textPart(message: JsonObject): InboundPart {
  if (typeof message.text !== 'string') return { type: 'unsupported', reason: 'malformed_text' };
  // Emoji and mentions index into the text in UTF-16 code units, as JavaScript strings do.
  const meta = compact({
    emojis: Array.isArray(message.emojis) ? message.emojis.filter(isRecord) : undefined,
    mention: isRecord(message.mention) && Array.isArray(message.mention.mentionees) ? { mentionees: message.mention.mentionees.filter(isRecord) } : undefined,
    quoteToken: str(message.quoteToken),
    markAsReadToken: str(message.markAsReadToken),
  });
  return { type: 'text', text: message.text, ...(meta !== undefined ? { meta } : {}) };
}

function mediaPart(type: 'image' | 'video' | 'audio', message: JsonObject, id: string, meta: Record<string, unknown> | undefined): InboundPart {
  const provider = isRecord(message.contentProvider) ? message.contentProvider : undefined;
  if (provider === undefined || provider.type === 'line') {
    return { type, media: { ref: `content:${id}` }, ...(meta !== undefined ? { meta } : {}) };
  }
  if (provider.type !== 'external') return { type: 'unsupported', reason: `${type}_content_provider`, ...(meta !== undefined ? { meta } : {}) };
  // Content LINE does not host ("Get content does not work"): the URL is a third party's.
  const url = externalUrl(provider.originalContentUrl);
  const withProvider = { ...meta, contentProvider: 'external' };
  if (url === undefined) return { type: 'unsupported', reason: `${type}_external_url`, meta: withProvider };
  return { type, media: { ref: `external:${url}` }, meta: withProvider };
}

function locationPart(message: JsonObject): InboundPart {
  const latitude = message.latitude;
  const longitude = message.longitude;
  if (typeof latitude !== 'number' || typeof longitude !== 'number' || !(Math.abs(latitude) <= 90) || !(Math.abs(longitude) <= 180)) {
    return { type: 'unsupported', reason: 'malformed_location' };
  }
  const name = str(message.title);
  const address = str(message.address);
  return { type: 'location', latitude, longitude, ...(name !== undefined ? { name } : {}), ...(address !== undefined ? { address } : {}) };
}

/** Stickers cannot be downloaded from the Messaging API; the ref names the sticker for `media.ts`. */
function stickerPart(message: JsonObject): InboundPart {
  const packageId = str(message.packageId);
  const stickerId = str(message.stickerId);
  if (packageId === undefined || stickerId === undefined || !STICKER_ID.test(packageId) || !STICKER_ID.test(stickerId)) {
    return { type: 'unsupported', reason: 'malformed_sticker' };
  }
  const meta = compact({
    packageId,
    stickerId,
    stickerResourceType: str(message.stickerResourceType),
    keywords: Array.isArray(message.keywords) ? message.keywords.filter((word): word is string => typeof word === 'string') : undefined,
    text: str(message.text),
    quoteToken: str(message.quoteToken),
  });
  return { type: 'sticker', media: { ref: `sticker:${stickerId}`, declaredMime: 'image/png' }, ...(meta !== undefined ? { meta } : {}) };
}

function imageSet(value: unknown): Record<string, unknown> | undefined {
  if (!isRecord(value) || str(value.id) === undefined) return undefined;
  return compact({ id: value.id, index: positive(value.index), total: positive(value.total) });
}

/** An absolute https URL of reasonable length, else undefined. */
function externalUrl(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length > MAX_URL_LENGTH || !URL.canParse(value)) return undefined;
  const url = new URL(value);
  return url.protocol === 'https:' && url.username === '' && url.password === '' ? url.toString() : undefined;
}

function nonNegative(value: unknown): number | undefined {
  return Number.isSafeInteger(value) && (value as number) >= 0 ? (value as number) : undefined;
}

function positive(value: unknown): number | undefined {
  return Number.isSafeInteger(value) && (value as number) > 0 ? (value as number) : undefined;
}

/** The object without undefined members; undefined when nothing is left. */
export function compact(fields: Record<string, unknown>): Record<string, unknown> | undefined {
  const entries = Object.entries(fields).filter(([, value]) => value !== undefined);
  return entries.length === 0 ? undefined : Object.fromEntries(entries);
}
