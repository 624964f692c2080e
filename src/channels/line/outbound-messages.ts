/**
 * Outbound parts → LINE message objects (reference A4). LINE media has no captions, so a
 * caption becomes a text message after its media; reply buttons become quick replies on the
 * last message (LINE shows only the last message's). LINE fetches media itself by HTTPS URL,
 * so each media part gets a signed, expiring link to the daemon's stored copy.
 */
import type { MediaLinks, OutboundMedia, OutboundPart } from '../../core/adapter.ts';
import { OmniError } from '../../core/errors.ts';
import { LINE_MAX_MESSAGES } from './config.ts';
import { mp4DurationMs } from './mp4-duration.ts';

/** A LINE message object as sent in `messages[]`. */
export type LineMessage = Record<string, unknown>;

/** What building needs beyond the parts. */
export interface BuildOptions {
  links: MediaLinks | undefined;
  /** The preview image every video message must carry (settings.videoPreviewUrl). */
  videoPreviewUrl: string | null;
}

/** Quick reply limits: 13 items, labels of 20 characters, postback data of 300. */
const QUICK_REPLY_ITEMS = 13;
const LABEL_LENGTH = 20;
const DATA_LENGTH = 300;
/** Links handed to LINE live a week (the daemon's longest), so a late fetch still works. */
const LINK_TTL_SECONDS = 7 * 24 * 3600;
/** Locations need a title and an address of at most 100 characters. */
const LOCATION_TEXT = 100;

const IMAGE_EXTENSIONS = ['jpg', 'jpeg', 'png'];
const AUDIO_EXTENSIONS = ['m4a', 'mp4'];

/** How many LINE messages the parts become: one each, plus one per caption. */
export function messageCount(parts: ReadonlyArray<{ type: string; caption?: string }>): number {
  return parts.reduce((n, part) => n + 1 + (part.caption !== undefined && part.caption !== '' && part.type !== 'text' ? 1 : 0), 0);
}

/** The LINE messages of a send; refuses (before any call) what LINE cannot carry. */
export async function buildMessages(parts: ReadonlyArray<OutboundPart>, options: BuildOptions): Promise<LineMessage[]> {
  const messages: LineMessage[] = [];
  for (const [index, part] of parts.entries()) {
    if (part.type === 'buttons' && index !== parts.length - 1) {
      throw new OmniError('invalid_request', 'LINE shows quick replies only on the last message: put the buttons part last', { details: { partType: 'buttons' } });
    }
    messages.push(...(await build(part, options)));
  }
  if (messages.length === 0) throw new OmniError('invalid_request', 'nothing to send');
  if (messages.length > LINE_MAX_MESSAGES) {
    throw new OmniError('invalid_request', `LINE takes at most ${LINE_MAX_MESSAGES} messages per send (captions count as messages)`, {
      details: { messages: messages.length, max: LINE_MAX_MESSAGES },
    });
  }
  return messages;
}

async function build(part: OutboundPart, options: BuildOptions): Promise<LineMessage[]> {
  switch (part.type) {
    case 'text':
      if (part.text === '') throw new OmniError('invalid_request', 'a text part must not be empty');
      return [{ type: 'text', text: part.text }];
    case 'image':
    case 'sticker': {
      // A sticker the business sends is an image: LINE stickers are ids from LINE's catalogue, not files.
      requireExtension(part.media, IMAGE_EXTENSIONS, 'image');
      const url = await link(part.media, options);
      return withCaption({ type: 'image', originalContentUrl: url, previewImageUrl: url }, part.caption);
    }
    case 'video': {
      requireExtension(part.media, ['mp4'], 'video');
      if (options.videoPreviewUrl === null) {
        throw new OmniError('attachment_type_not_allowed', 'LINE videos need a preview image: set videoPreviewUrl in the channel file', { details: { field: 'videoPreviewUrl' } });
      }
      return withCaption({ type: 'video', originalContentUrl: await link(part.media, options), previewImageUrl: options.videoPreviewUrl }, part.caption);
    }
    case 'audio':
    case 'voice': {
      requireExtension(part.media, AUDIO_EXTENSIONS, 'audio');
      const duration = mp4DurationMs(part.media.bytes);
      if (duration === undefined || duration <= 0) {
        throw new OmniError('attachment_type_not_allowed', 'LINE audio needs its duration, and this m4a file has no readable movie header', { details: { ext: part.media.ext } });
      }
      return withCaption({ type: 'audio', originalContentUrl: await link(part.media, options), duration }, part.caption);
    }
    case 'location':
      return [
        {
          type: 'location',
          title: (part.name ?? 'Location').slice(0, LOCATION_TEXT),
          address: (part.address ?? `${part.latitude}, ${part.longitude}`).slice(0, LOCATION_TEXT),
          latitude: part.latitude,
          longitude: part.longitude,
        },
      ];
    case 'buttons':
      return [quickReplies(part)];
    case 'file':
      throw new OmniError('attachment_type_not_allowed', 'LINE messages cannot carry files; send a link as text instead', { details: { partType: 'file' } });
    case 'reaction':
    case 'list':
      throw new OmniError('invalid_request', `LINE has no ${part.type} messages`, { details: { partType: part.type } });
  }
}

/** Reply buttons as a text message with postback quick replies; a tap comes back as a `reply` part with the button's id. */
function quickReplies(part: Extract<OutboundPart, { type: 'buttons' }>): LineMessage {
  if (part.buttons.length === 0 || part.buttons.length > QUICK_REPLY_ITEMS) {
    throw new OmniError('invalid_request', `LINE quick replies take 1 to ${QUICK_REPLY_ITEMS} buttons`, { details: { buttons: part.buttons.length } });
  }
  const items = part.buttons.map((button) => {
    if (button.id === '' || button.id.length > DATA_LENGTH) {
      throw new OmniError('invalid_request', `LINE postback data (the button id) must be 1 to ${DATA_LENGTH} characters`, { details: { field: 'buttons.id' } });
    }
    return { type: 'action', action: { type: 'postback', label: button.title.slice(0, LABEL_LENGTH), data: button.id, displayText: button.title.slice(0, DATA_LENGTH) } };
  });
  const text = [part.header, part.text, part.footer].filter((line) => line !== undefined && line !== '').join('\n');
  return { type: 'text', text, quickReply: { items } };
}

function withCaption(message: LineMessage, caption: string | undefined): LineMessage[] {
  return caption !== undefined && caption !== '' ? [message, { type: 'text', text: caption }] : [message];
}

function requireExtension(media: OutboundMedia, allowed: ReadonlyArray<string>, kind: string): void {
  if (!allowed.includes(media.ext)) {
    throw new OmniError('attachment_type_not_allowed', `LINE ${kind} messages take ${allowed.join(', ')}, not ${media.ext}`, { details: { ext: media.ext, allowed } });
  }
}

async function link(media: OutboundMedia, options: BuildOptions): Promise<string> {
  const url = options.links === undefined ? null : await options.links.url(media.id, LINK_TTL_SECONDS);
  if (url === null) {
    throw new OmniError('attachment_unreachable', 'LINE fetches media by HTTPS URL: set http.publicUrl so the daemon can hand LINE a signed link', {
      details: { field: 'http.publicUrl' },
    });
  }
  return url;
}
