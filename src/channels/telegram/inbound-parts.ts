/**
 * The content of one Telegram Message as parts: exactly one content field per message
 * (text, photo, document, audio, voice, video, video_note, animation, sticker, location,
 * venue, contact, ...), with a caption beside media. Service messages (members joining, pins,
 * migrations) carry no content and are reported by name so the caller can ignore them.
 */
import type { InboundMediaRef, InboundPart } from '../../core/model.ts';

export type JsonObject = Record<string, unknown>;

export function isRecord(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function str(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** A value Telegram does not send: the item is recorded as invalid with this reason. */
export class UnusableItem extends Error {
  constructor(readonly reason: string) {
    super(reason);
  }
}

/** Content fields Telegram has that the model has no part for. */
const UNSUPPORTED = ['poll', 'dice', 'game', 'invoice', 'story', 'paid_media', 'successful_payment', 'giveaway', 'giveaway_winners', 'checklist', 'gift', 'unique_gift'];

/** Service fields: something happened in the chat, nobody wrote anything. */
const SERVICE = [
  'new_chat_members', 'left_chat_member', 'new_chat_title', 'new_chat_photo', 'delete_chat_photo', 'group_chat_created',
  'supergroup_chat_created', 'channel_chat_created', 'message_auto_delete_timer_changed', 'migrate_to_chat_id',
  'migrate_from_chat_id', 'pinned_message', 'users_shared', 'chat_shared', 'write_access_allowed', 'proximity_alert_triggered',
  'forum_topic_created', 'forum_topic_edited', 'forum_topic_closed', 'forum_topic_reopened', 'video_chat_started',
  'video_chat_ended', 'video_chat_scheduled', 'video_chat_participants_invited', 'web_app_data', 'boost_added', 'chat_background_set',
  'connected_website', 'refunded_payment',
];

/** What a message says: its parts, or the service field that makes it a non-message. */
export type MessageContent = { parts: InboundPart[]; service?: undefined } | { parts: []; service: string };

/** The parts of a message's content. Throws UnusableItem when a content field is malformed. */
export function messageParts(message: JsonObject): MessageContent {
  const caption = str(message.caption);
  const withCaption = <T extends object>(part: T): T => {
    const captioned = caption === undefined ? part : { ...part, caption };
    const entities = Array.isArray(message.caption_entities) ? message.caption_entities : undefined;
    return entities === undefined ? captioned : ({ ...captioned, meta: { ...(captioned as { meta?: object }).meta, captionEntities: entities } } as T);
  };

  if (typeof message.text === 'string') {
    const part: InboundPart = { type: 'text', text: message.text };
    const meta: Record<string, unknown> = {};
    if (Array.isArray(message.entities)) meta.entities = message.entities;
    const preview = isRecord(message.link_preview_options) ? message.link_preview_options : undefined;
    if (preview?.is_disabled === true) part.previewUrl = false;
    if (Object.keys(meta).length > 0) part.meta = meta;
    return { parts: [part] };
  }
  if (message.photo !== undefined) return { parts: [withCaption({ type: 'image' as const, media: photoRef(message.photo) })] };
  // An animation also sets `document` for old clients: the animation is what it is.
  if (message.animation !== undefined) {
    return { parts: [withCaption({ type: 'video' as const, media: fileRef(message.animation, 'animation'), meta: { animation: true } })] };
  }
  if (message.document !== undefined) {
    const media = fileRef(message.document, 'document');
    return { parts: [withCaption({ type: 'file' as const, media, ...(media.filename !== undefined ? { filename: media.filename } : {}) })] };
  }
  if (message.audio !== undefined) {
    const audio = message.audio;
    const meta: Record<string, unknown> = {};
    if (isRecord(audio)) for (const key of ['title', 'performer', 'duration'] as const) if (audio[key] !== undefined && typeof audio[key] !== 'object') meta[key] = audio[key];
    const part: InboundPart = withCaption({ type: 'audio' as const, media: fileRef(audio, 'audio') });
    return { parts: [Object.keys(meta).length > 0 ? { ...part, meta: { ...part.meta, ...meta } } : part] };
  }
  if (message.voice !== undefined) return { parts: [withCaption({ type: 'voice' as const, media: fileRef(message.voice, 'voice') })] };
  if (message.video !== undefined) return { parts: [withCaption({ type: 'video' as const, media: fileRef(message.video, 'video') })] };
  if (message.video_note !== undefined) {
    return { parts: [{ type: 'video', media: fileRef(message.video_note, 'video_note', 'video/mp4'), meta: { videoNote: true } }] };
  }
  if (message.sticker !== undefined) return { parts: [stickerPart(message.sticker)] };
  if (message.venue !== undefined) return { parts: [venuePart(message.venue)] };
  if (message.location !== undefined) return { parts: [locationPart(message.location)] };
  if (message.contact !== undefined) return { parts: [contactPart(message.contact)] };
  for (const field of UNSUPPORTED) if (message[field] !== undefined) return { parts: [{ type: 'unsupported', reason: field }] };
  for (const field of SERVICE) if (message[field] !== undefined) return { parts: [], service: field };
  return { parts: [{ type: 'unsupported', reason: 'unknown_content' }] };
}

/** The largest PhotoSize by pixels, then bytes: Telegram's order is not a promise. */
function photoRef(photo: unknown): InboundMediaRef {
  if (!Array.isArray(photo)) throw new UnusableItem('bad_field:photo');
  const sizes = photo.filter((size): size is JsonObject => isRecord(size) && str(size.file_id) !== undefined);
  if (sizes.length === 0) throw new UnusableItem('missing_field:photo.file_id');
  const pixels = (size: JsonObject) => (num(size.width) ?? 0) * (num(size.height) ?? 0);
  const largest = sizes.reduce((best, size) => {
    const byPixels = pixels(size) - pixels(best);
    return byPixels > 0 || (byPixels === 0 && (num(size.file_size) ?? 0) > (num(best.file_size) ?? 0)) ? size : best;
  });
  // Telegram re-encodes every photo as JPEG.
  return fileRef(largest, 'photo', 'image/jpeg');
}

/** A file object's reference: `file_id` to fetch, and what Telegram said about it. */
function fileRef(file: unknown, field: string, fallbackMime?: string): InboundMediaRef {
  if (!isRecord(file)) throw new UnusableItem(`bad_field:${field}`);
  const id = str(file.file_id);
  if (id === undefined) throw new UnusableItem(`missing_field:${field}.file_id`);
  const ref: InboundMediaRef = { ref: id };
  const mime = str(file.mime_type) ?? fallbackMime;
  if (mime !== undefined) ref.declaredMime = mime;
  const filename = str(file.file_name);
  if (filename !== undefined) ref.filename = filename;
  const size = file.file_size;
  if (typeof size === 'number' && Number.isSafeInteger(size) && size >= 0) ref.declaredSize = size;
  return ref;
}

function stickerPart(sticker: unknown): InboundPart {
  if (!isRecord(sticker)) throw new UnusableItem('bad_field:sticker');
  // Static stickers are WEBP, animated ones TGS (gzipped Lottie), video stickers WEBM.
  const mime = sticker.is_animated === true ? 'application/x-tgsticker' : sticker.is_video === true ? 'video/webm' : 'image/webp';
  const meta: Record<string, unknown> = {};
  const emoji = str(sticker.emoji);
  if (emoji !== undefined) meta.emoji = emoji;
  const setName = str(sticker.set_name);
  if (setName !== undefined) meta.setName = setName;
  const unique = str(sticker.file_unique_id);
  if (unique !== undefined) meta.fileUniqueId = unique;
  return { type: 'sticker', media: fileRef(sticker, 'sticker', mime), ...(Object.keys(meta).length > 0 ? { meta } : {}) };
}

function locationPart(location: unknown, field = 'location'): Extract<InboundPart, { type: 'location' }> {
  if (!isRecord(location)) throw new UnusableItem(`bad_field:${field}`);
  const latitude = location.latitude;
  const longitude = location.longitude;
  if (typeof latitude !== 'number' || !Number.isFinite(latitude) || Math.abs(latitude) > 90) throw new UnusableItem(`bad_field:${field}.latitude`);
  if (typeof longitude !== 'number' || !Number.isFinite(longitude) || Math.abs(longitude) > 180) throw new UnusableItem(`bad_field:${field}.longitude`);
  const part: Extract<InboundPart, { type: 'location' }> = { type: 'location', latitude, longitude };
  if (typeof location.live_period === 'number') part.meta = { livePeriodSeconds: location.live_period };
  return part;
}

function venuePart(venue: unknown): InboundPart {
  if (!isRecord(venue)) throw new UnusableItem('bad_field:venue');
  const part = locationPart(venue.location, 'venue.location');
  const name = str(venue.title);
  if (name !== undefined) part.name = name;
  const address = str(venue.address);
  if (address !== undefined) part.address = address;
  return part;
}

function contactPart(contact: unknown): InboundPart {
  if (!isRecord(contact)) throw new UnusableItem('bad_field:contact');
  const phone = str(contact.phone_number);
  if (phone === undefined) throw new UnusableItem('missing_field:contact.phone_number');
  const name = [str(contact.first_name), str(contact.last_name)].filter((p) => p !== undefined).join(' ');
  const raw: Record<string, unknown> = {};
  const vcard = str(contact.vcard);
  if (vcard !== undefined) raw.vcard = vcard;
  if (typeof contact.user_id === 'number' && Number.isSafeInteger(contact.user_id)) raw.userId = String(contact.user_id);
  return { type: 'contact_card', name, phones: [phone], ...(Object.keys(raw).length > 0 ? { raw } : {}) };
}

/** A shared phone number as E.164-ish digits with `+`, or undefined when it is not one. */
export function normalisePhone(phone: string): string | undefined {
  const digits = phone.replace(/[\s().-]/g, '').replace(/^\+/, '');
  return /^\d{5,15}$/.test(digits) ? `+${digits}` : undefined;
}

function num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}
