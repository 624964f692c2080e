/**
 * Outbound parts → the Graph message objects Meta documents (reference 1.4), one WhatsApp
 * message per step. Every limit Meta publishes is checked here, before anything is uploaded
 * or sent, so an invalid command fails whole instead of half-sent.
 */
import type { OutboundMedia, OutboundMessage, OutboundPart } from '../../core/adapter.ts';
import { OmniError } from '../../core/errors.ts';
import { buildTemplate, type TemplateLimits } from './outbound-template.ts';

type Json = Record<string, unknown>;

/** One Graph message. A media step's object gets the uploaded media `id` before it is sent. */
export interface Step {
  /** Graph `type`: text, image, video, audio, document, sticker, location, reaction, interactive, template. */
  type: string;
  object: Json;
  media?: OutboundMedia;
}

const TEXT_MAX = 4096;
const CAPTION_MAX = 1024;
const FILENAME_MAX = 240;
const BUTTON = { max: 3, title: 20, id: 256, body: 1024 } as const;
const LIST = { button: 20, sections: 10, rows: 10, sectionTitle: 24, rowTitle: 24, rowId: 200, description: 72, body: 4096 } as const;
const HEADER_MAX = 60;
const FOOTER_MAX = 60;

/** Meta's supported types (reference 1.5) per Graph message type; anything else is 131053. */
const DOCUMENT_MIMES = [
  'text/plain',
  'application/pdf',
  'application/msword',
  'application/vnd.ms-excel',
  'application/vnd.ms-powerpoint',
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  'application/vnd.openxmlformats-officedocument.presentationml.presentation',
];
const MIMES: Readonly<Record<string, ReadonlyArray<string>>> = {
  image: ['image/jpeg', 'image/png'],
  video: ['video/mp4', 'video/3gpp'],
  audio: ['audio/aac', 'audio/amr', 'audio/mpeg', 'audio/mp4', 'audio/ogg'],
  sticker: ['image/webp'],
};
// A file may be any type Meta supports: people send photos as documents to avoid compression.
const ANY_SUPPORTED = new Set([...DOCUMENT_MIMES, ...Object.values(MIMES).flat()]);
// Names detectors and other tools use for the same formats.
const MIME_ALIASES: Readonly<Record<string, string>> = { 'audio/x-m4a': 'audio/mp4', 'audio/opus': 'audio/ogg', 'audio/x-aac': 'audio/aac', 'audio/mp3': 'audio/mpeg', 'image/jpg': 'image/jpeg' };
const GRAPH_TYPE = { image: 'image', video: 'video', audio: 'audio', voice: 'audio', file: 'document', sticker: 'sticker' } as const;
const CAPTIONED = new Set(['image', 'video', 'document']);

/** Throws `invalid_request` naming the part and field at fault. */
function invalid(message: string, field: string, limit?: number): never {
  throw new OmniError('invalid_request', message, { details: limit === undefined ? { field } : { field, limit } });
}

function checkText(value: unknown, field: string, max: number, required = true): string | undefined {
  if (value === undefined && !required) return undefined;
  if (typeof value !== 'string' || value.trim() === '') invalid(`${field} must be a non-empty string`, field);
  if (value.length > max) invalid(`${field} exceeds ${max} characters`, field, max);
  return value;
}

/** The essence of a mime type in Meta's spelling (`audio/ogg; codecs=opus` → `audio/ogg`). */
export function graphMime(mime: string): string {
  const essence = mime.split(';')[0]!.trim().toLowerCase();
  return MIME_ALIASES[essence] ?? essence;
}

/**
 * The Graph messages for `message`, in order: the template first (if any), then one per part.
 * A message of exactly one text and one captionable media without a caption becomes one
 * captioned media message, as a customer would send it.
 */
export function planMessage(message: OutboundMessage, templateLimits: TemplateLimits | null): Step[] {
  const steps: Step[] = [];
  if (message.template !== undefined) {
    if (templateLimits === null) throw new OmniError('template_not_supported', 'templates are not enabled on this account');
    steps.push({ type: 'template', object: buildTemplate(message.template, templateLimits) });
  }
  const parts = mergeCaption(message.parts);
  parts.forEach((part, index) => steps.push(...partSteps(part, `parts[${index}]`)));
  if (steps.length === 0) invalid('a message needs parts or a template', 'parts');
  return steps;
}

function mergeCaption(parts: OutboundPart[]): OutboundPart[] {
  if (parts.length !== 2) return parts;
  const text = parts.find((part) => part.type === 'text');
  const media = parts.find((part) => 'media' in part);
  if (text?.type !== 'text' || media === undefined || !('media' in media)) return parts;
  if (media.caption !== undefined || !CAPTIONED.has(GRAPH_TYPE[media.type]) || text.previewUrl === true || text.text.length > CAPTION_MAX) return parts;
  return [{ ...media, caption: text.text }];
}

function partSteps(part: OutboundPart, at: string): Step[] {
  switch (part.type) {
    case 'text':
      return [{ type: 'text', object: { preview_url: part.previewUrl === true, body: checkText(part.text, `${at}.text`, TEXT_MAX) } }];
    case 'location':
      return [{ type: 'location', object: location(part, at) }];
    case 'reaction':
      if (typeof part.emoji !== 'string') invalid('emoji must be a string ("" removes the reaction)', `${at}.emoji`);
      return [{ type: 'reaction', object: { message_id: checkText(part.targetExternalId, `${at}.targetExternalId`, 256), emoji: part.emoji } }];
    case 'buttons':
      return [{ type: 'interactive', object: buttons(part, at) }];
    case 'list':
      return [{ type: 'interactive', object: list(part, at) }];
    default:
      return mediaSteps(part, at);
  }
}

function location(part: Extract<OutboundPart, { type: 'location' }>, at: string): Json {
  if (!Number.isFinite(part.latitude) || Math.abs(part.latitude) > 90) invalid('latitude must be within ±90', `${at}.latitude`);
  if (!Number.isFinite(part.longitude) || Math.abs(part.longitude) > 180) invalid('longitude must be within ±180', `${at}.longitude`);
  const object: Json = { latitude: part.latitude, longitude: part.longitude };
  if (part.name !== undefined) object.name = checkText(part.name, `${at}.name`, 1000);
  if (part.address !== undefined) object.address = checkText(part.address, `${at}.address`, 1000);
  return object;
}

/** Header and footer are shared by buttons and lists; text headers only (media headers need an upload). */
function frame(part: { header?: string; footer?: string }, at: string, body: string): Json {
  const object: Json = {};
  if (part.header !== undefined) object.header = { type: 'text', text: checkText(part.header, `${at}.header`, HEADER_MAX) };
  object.body = { text: body };
  if (part.footer !== undefined) object.footer = { text: checkText(part.footer, `${at}.footer`, FOOTER_MAX) };
  return object;
}

function buttons(part: Extract<OutboundPart, { type: 'buttons' }>, at: string): Json {
  const body = checkText(part.text, `${at}.text`, BUTTON.body)!;
  if (!Array.isArray(part.buttons) || part.buttons.length === 0 || part.buttons.length > BUTTON.max) {
    invalid(`1-${BUTTON.max} buttons`, `${at}.buttons`, BUTTON.max);
  }
  unique(part.buttons.map((button) => button.id), `${at}.buttons[].id`);
  unique(part.buttons.map((button) => button.title), `${at}.buttons[].title`);
  const replies = part.buttons.map((button, index) => ({
    type: 'reply',
    reply: { id: checkText(button.id, `${at}.buttons[${index}].id`, BUTTON.id), title: checkText(button.title, `${at}.buttons[${index}].title`, BUTTON.title) },
  }));
  return { type: 'button', ...frame(part, at, body), action: { buttons: replies } };
}

function list(part: Extract<OutboundPart, { type: 'list' }>, at: string): Json {
  const body = checkText(part.text, `${at}.text`, LIST.body)!;
  const button = checkText(part.button, `${at}.button`, LIST.button);
  if (!Array.isArray(part.sections) || part.sections.length === 0 || part.sections.length > LIST.sections) {
    invalid(`1-${LIST.sections} sections`, `${at}.sections`, LIST.sections);
  }
  const rows = part.sections.flatMap((section) => (Array.isArray(section.rows) ? section.rows : []));
  if (rows.length === 0 || rows.length > LIST.rows) invalid(`1-${LIST.rows} rows in total`, `${at}.sections[].rows`, LIST.rows);
  unique(rows.map((row) => row.id), `${at}.sections[].rows[].id`);
  const sections = part.sections.map((section, s) => {
    if (!Array.isArray(section.rows) || section.rows.length === 0) invalid('every section needs rows', `${at}.sections[${s}].rows`);
    // Meta needs a title on each section once there are several.
    const title = checkText(section.title, `${at}.sections[${s}].title`, LIST.sectionTitle, part.sections.length > 1);
    const out: Json = title === undefined ? {} : { title };
    out.rows = section.rows.map((row, r) => {
      const field = `${at}.sections[${s}].rows[${r}]`;
      const item: Json = { id: checkText(row.id, `${field}.id`, LIST.rowId), title: checkText(row.title, `${field}.title`, LIST.rowTitle) };
      if (row.description !== undefined) item.description = checkText(row.description, `${field}.description`, LIST.description);
      return item;
    });
    return out;
  });
  return { type: 'list', ...frame(part, at, body), action: { button, sections } };
}

function unique(values: unknown[], field: string): void {
  if (new Set(values).size !== values.length) invalid('values must be unique', field);
}

function mediaSteps(part: Extract<OutboundPart, { media: OutboundMedia }>, at: string): Step[] {
  const type = GRAPH_TYPE[part.type];
  if (type === undefined) invalid(`unsupported part type ${String((part as { type: unknown }).type)}`, `${at}.type`);
  const mime = graphMime(part.media.mime);
  const allowed = type === 'document' ? ANY_SUPPORTED.has(mime) : MIMES[type]!.includes(mime);
  if (!allowed) {
    throw new OmniError('attachment_type_not_allowed', `WhatsApp does not send ${mime} as ${part.type}`, {
      details: { field: `${at}.media`, mime, partType: part.type },
    });
  }
  const object: Json = {};
  const caption = checkText(part.caption, `${at}.caption`, CAPTION_MAX, false);
  if (caption !== undefined && CAPTIONED.has(type)) object.caption = caption;
  if (type === 'document') {
    const filename = part.filename ?? part.media.filename;
    if (filename !== undefined) object.filename = checkText(filename, `${at}.filename`, FILENAME_MAX);
  }
  // WhatsApp shows OGG/Opus as a voice note (auto-download, transcript) only when asked to.
  if (part.type === 'voice' && mime === 'audio/ogg') object.voice = true;
  const steps: Step[] = [{ type, object, media: part.media }];
  // Audio and stickers take no caption: the words follow as their own message rather than being lost.
  if (caption !== undefined && !CAPTIONED.has(type)) steps.push({ type: 'text', object: { preview_url: false, body: caption } });
  return steps;
}
