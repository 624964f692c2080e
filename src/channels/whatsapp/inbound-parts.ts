/**
 * WhatsApp message objects → normalised parts, one function per message `type`. Shapes come
 * from Meta's OpenAPI spec (reference 1.2); a malformed or unknown shape becomes an
 * `unsupported` part with a reason, so one odd message never loses the rest of the webhook.
 */
import type { InboundMediaRef, InboundPart } from '../../core/model.ts';

/** A parsed JSON object. */
export type JsonObject = Record<string, unknown>;

/** True for a plain JSON object (not null, not an array). */
export function isRecord(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The value when it is a non-empty string. */
export function str(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

/** The value when it is an array, else an empty one. */
export function arr(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

/** A platform word safe to use in a reason or metric label (bounded, no free text). */
export function label(value: unknown): string {
  return typeof value === 'string' && /^[a-z0-9_]{1,48}$/.test(value) ? value : 'unknown';
}

/** The parts of one inbound message, by its `type`. */
export function messageParts(type: string, message: JsonObject): InboundPart[] {
  switch (type) {
    case 'text':
      return textParts(message);
    case 'image':
    case 'video':
    case 'audio':
    case 'document':
    case 'sticker':
      return [mediaPart(type, message[type])];
    case 'location':
      return [locationPart(message.location)];
    case 'contacts':
      return contactParts(message.contacts);
    case 'interactive':
      return [interactivePart(message.interactive)];
    case 'button':
      return [buttonPart(message.button)];
    case 'reaction':
      return [reactionPart(message.reaction)];
    case 'order':
      return [orderPart(message.order)];
    case 'request_welcome':
      // The user opened the chat for the first time: nothing was said, but a welcome may be sent.
      return [{ type: 'unsupported', reason: 'request_welcome', meta: { event: 'request_welcome' } }];
    case 'unsupported':
    case 'unknown':
      return [unsupportedFromErrors(message.errors)];
    default:
      return [unsupported(`unsupported message type: ${label(type)}`)];
  }
}

function unsupported(reason: string): InboundPart {
  return { type: 'unsupported', reason };
}

function textParts(message: JsonObject): InboundPart[] {
  const text = isRecord(message.text) ? message.text.body : undefined;
  return typeof text === 'string' ? [{ type: 'text', text }] : [unsupported('malformed text message')];
}

function mediaPart(type: 'image' | 'video' | 'audio' | 'document' | 'sticker', body: unknown): InboundPart {
  if (!isRecord(body) || str(body.id) === undefined) return unsupported(`malformed ${type} message`);
  const media: InboundMediaRef = { ref: str(body.id)! };
  const declaredMime = str(body.mime_type);
  if (declaredMime !== undefined) media.declaredMime = declaredMime;
  const sha256 = normaliseSha256(body.sha256);
  if (sha256 !== undefined) media.sha256 = sha256;
  const filename = str(body.filename);
  if (filename !== undefined) media.filename = filename;
  const size = Number(body.file_size);
  if (Number.isSafeInteger(size) && size > 0) media.declaredSize = size;

  const partType = type === 'document' ? 'file' : type === 'audio' && body.voice === true ? 'voice' : type;
  const part: InboundPart = { type: partType, media };
  const caption = str(body.caption);
  if (caption !== undefined) part.caption = caption;
  if (filename !== undefined) part.filename = filename;
  if (type === 'sticker' && typeof body.animated === 'boolean') part.meta = { animated: body.animated };
  return part;
}

/** Meta sends the media hash as base64; the core hashes in hex, so hex it is. */
function normaliseSha256(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  if (/^[0-9a-fA-F]{64}$/.test(value)) return value.toLowerCase();
  if (/^[A-Za-z0-9+/]{43}=$/.test(value)) return Buffer.from(value, 'base64').toString('hex');
  return undefined;
}

function locationPart(body: unknown): InboundPart {
  if (!isRecord(body)) return unsupported('malformed location message');
  const latitude = coordinate(body.latitude, 90);
  const longitude = coordinate(body.longitude, 180);
  if (latitude === undefined || longitude === undefined) return unsupported('malformed location message');
  const part: InboundPart = { type: 'location', latitude, longitude };
  const name = str(body.name);
  if (name !== undefined) part.name = name;
  const address = str(body.address);
  if (address !== undefined) part.address = address;
  const url = str(body.url);
  if (url !== undefined) part.meta = { url };
  return part;
}

function coordinate(value: unknown, limit: number): number | undefined {
  const number = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  return typeof number === 'number' && Number.isFinite(number) && Math.abs(number) <= limit ? number : undefined;
}

function contactParts(body: unknown): InboundPart[] {
  const cards = arr(body).filter(isRecord).map((contact): InboundPart => {
    const name = isRecord(contact.name) ? contact.name : {};
    const phones = arr(contact.phones)
      .filter(isRecord)
      .map((phone) => str(phone.phone) ?? (str(phone.wa_id) !== undefined ? `+${phone.wa_id as string}` : undefined))
      .filter((phone): phone is string => phone !== undefined);
    const emails = arr(contact.emails)
      .filter(isRecord)
      .map((email) => str(email.email))
      .filter((email): email is string => email !== undefined);
    const fullName = [str(name.first_name), str(name.last_name)].filter(Boolean).join(' ');
    const org = isRecord(contact.org) ? str(contact.org.company) : undefined;
    const card: InboundPart = { type: 'contact_card', name: str(name.formatted_name) ?? (fullName || org || ''), phones, raw: contact };
    if (emails.length > 0) card.emails = emails;
    return card;
  });
  return cards.length > 0 ? cards : [unsupported('malformed contacts message')];
}

function interactivePart(body: unknown): InboundPart {
  if (!isRecord(body)) return unsupported('malformed interactive message');
  const kind = body.type;
  if (kind === 'button_reply' || kind === 'list_reply') {
    const reply = body[kind];
    if (!isRecord(reply) || str(reply.id) === undefined || typeof reply.title !== 'string') {
      return unsupported(`malformed ${kind}`);
    }
    const part: InboundPart = { type: 'reply', id: str(reply.id)!, title: reply.title };
    const description = str(reply.description);
    if (description !== undefined) part.meta = { description };
    return part;
  }
  if (kind === 'nfm_reply' && isRecord(body.nfm_reply)) {
    // A WhatsApp Flow was completed: its answers travel as a JSON string, kept unparsed.
    const flow = body.nfm_reply;
    const part: InboundPart = { type: 'reply', id: str(flow.name) ?? 'flow', title: str(flow.body) ?? '' };
    const response = str(flow.response_json);
    if (response !== undefined) part.meta = { flowResponseJson: response };
    return part;
  }
  return unsupported(`unsupported interactive type: ${label(kind)}`);
}

/** A quick-reply tap on a template: `type: button`, not `interactive` (reference Part 3 #6). */
function buttonPart(body: unknown): InboundPart {
  if (!isRecord(body)) return unsupported('malformed button message');
  const title = typeof body.text === 'string' ? body.text : undefined;
  const id = str(body.payload) ?? title;
  if (id === undefined || title === undefined) return unsupported('malformed button message');
  return { type: 'reply', id, title };
}

function reactionPart(body: unknown): InboundPart {
  if (!isRecord(body) || str(body.message_id) === undefined) return unsupported('malformed reaction message');
  // An absent or empty emoji means the reaction was removed.
  return { type: 'reaction', emoji: typeof body.emoji === 'string' ? body.emoji : '', targetExternalId: str(body.message_id)! };
}

/**
 * An order from a catalog: a text part (the customer's note, or a readable summary for
 * helpdesks that show text only) with the platform's order object in `meta.order`.
 */
function orderPart(body: unknown): InboundPart {
  if (!isRecord(body)) return unsupported('malformed order message');
  const items = arr(body.product_items).filter(isRecord);
  const summary = items
    .map((item) => `${String(item.quantity ?? 1)} × ${String(item.product_retailer_id ?? '?')} @ ${String(item.item_price ?? '?')} ${String(item.currency ?? '')}`.trim())
    .join(', ');
  return { type: 'text', text: str(body.text) ?? `Order: ${summary || 'no items'}`, meta: { order: body } };
}

function unsupportedFromErrors(errors: unknown): InboundPart {
  const error = arr(errors).find(isRecord);
  if (error === undefined) return unsupported('unsupported message type');
  const data = isRecord(error.error_data) ? error.error_data : {};
  const part: InboundPart = { type: 'unsupported', reason: str(error.message) ?? str(error.title) ?? str(data.details) ?? 'unsupported message type' };
  const meta: JsonObject = {};
  if (typeof error.code === 'number' || typeof error.code === 'string') meta.code = String(error.code);
  if (str(data.details) !== undefined) meta.details = data.details;
  if (Object.keys(meta).length > 0) part.meta = meta;
  return part;
}
