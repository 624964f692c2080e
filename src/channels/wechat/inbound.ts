/**
 * Turns an authentic (decrypted) WeChat push into events. One push carries
 * one message or one event. Messages open the 48 h window (grant `message`); a follow, a menu
 * click or a QR scan opens the one-minute grant; an unsubscribe asks the core to erase the
 * user. Every value stays a string until it is deliberately converted, and one that is out of
 * range (a CreateTime in year 33658, an id longer than any WeChat issues) makes the push an
 * `invalid` event carrying its bytes, which the core dead-letters instead of failing on it.
 */
import { createHash } from 'node:crypto';
import type { InboundEvent, InboundIdentity, InboundIgnored, InboundMessage } from '../../core/adapter.ts';
import { WebhookPayloadError } from '../../core/errors.ts';
import { invalidItem, isBoundedId, unixSeconds } from '../../core/inbound/edge.ts';
import type { InboundPart } from '../../core/model.ts';
import { XmlRefusedError, gateXml, groupOf, parseXml, textOf, type XmlFields } from './xml.ts';

/** What parsing needs to know about the account. */
export interface ParseOptions {
  /** The account's original id (`gh_…`); pushes to another account are ignored when set. */
  originalId?: string | undefined;
}

/** Menu events that grant the one-minute window (only these three menu kinds do, per WeChat). */
const CLICK_EVENTS = new Set(['click', 'scancode_push', 'scancode_waitmsg']);
const CREATE_TIME = /^[0-9]{1,12}$/;
const DECIMAL = /^-?[0-9]{1,3}(?:\.[0-9]{1,15})?$/;

/** Parses an authentic body; throws WebhookPayloadError when it is not a WeChat push at all. */
export function parsePush(body: Uint8Array, options: ParseOptions = {}): InboundEvent[] {
  let fields: XmlFields;
  try {
    const parsed = parseXml(gateXml(body));
    if (parsed.root !== 'xml') throw new WebhookPayloadError('unexpected_root');
    fields = parsed.fields;
  } catch (error) {
    if (error instanceof XmlRefusedError) throw new WebhookPayloadError(error.reason);
    throw error;
  }
  const msgType = textOf(fields, 'MsgType');
  const from = textOf(fields, 'FromUserName');
  const to = textOf(fields, 'ToUserName');
  const createTime = textOf(fields, 'CreateTime');
  if (msgType === undefined || from === undefined || from === '' || createTime === undefined || !CREATE_TIME.test(createTime)) {
    return [ignored('malformed_push')];
  }
  if (options.originalId !== undefined && to !== options.originalId) return [ignored('to_user_mismatch')];
  const rawMsgId = textOf(fields, 'MsgId');
  const itemKey = rawMsgId !== undefined && /^[0-9]{1,20}$/.test(rawMsgId) ? rawMsgId : undefined;
  if (!isBoundedId(from)) return [invalidItem('id_too_long', body)];
  const timestamp = unixSeconds(createTime);
  if (timestamp === undefined) return [invalidItem('bad_timestamp', body, itemKey)];
  const sender: InboundIdentity = { externalId: from };
  const raw = fields;
  if (msgType === 'event') return parseEvent(fields, { from, createTime, timestamp, sender, raw });

  const msgId = textOf(fields, 'MsgId');
  if (msgId === undefined || !/^[0-9]{1,20}$/.test(msgId)) return [ignored('malformed_message')];
  const message: InboundMessage = {
    kind: 'message',
    // MsgId is a 64-bit integer: compared and stored as its digits, never as a Number.
    dedupeKey: msgId,
    externalId: msgId,
    conversation: { externalId: from, kind: 'direct' },
    sender,
    timestamp,
    parts: [messagePart(msgType, fields)],
    sessionGrant: 'message',
    raw,
  };
  return [message];
}

/** The single part of a message push, by MsgType; unknown types are kept as `unsupported`. */
function messagePart(msgType: string, fields: XmlFields): InboundPart {
  const text = (name: string) => textOf(fields, name);
  switch (msgType) {
    case 'text': {
      const content = text('Content') ?? '';
      // A tap on a customer-service menu (msgmenu) comes back as text carrying the item's id.
      const menuId = text('bizmsgmenuid');
      if (menuId !== undefined && menuId !== '') return { type: 'reply', id: menuId, title: content };
      const meta = pick(fields, { MsgDataId: 'msgDataId', Idx: 'idx' });
      return meta === undefined ? { type: 'text', text: content } : { type: 'text', text: content, meta };
    }
    case 'image':
      return media('image', fields, undefined);
    case 'voice': {
      const format = text('Format');
      const declaredMime = format === undefined ? undefined : voiceMime(format);
      const meta = pick(fields, { Format: 'format', Recognition: 'recognition' });
      return media('voice', fields, declaredMime, meta);
    }
    case 'video':
    case 'shortvideo':
      return media('video', fields, undefined, { ...pick(fields, { ThumbMediaId: 'thumbMediaId' }), ...(msgType === 'shortvideo' ? { shortVideo: true } : {}) });
    case 'location': {
      const latitude = decimal(text('Location_X'));
      const longitude = decimal(text('Location_Y'));
      if (latitude === undefined || longitude === undefined || Math.abs(latitude) > 90 || Math.abs(longitude) > 180) {
        return { type: 'unsupported', reason: 'malformed_location' };
      }
      const label = text('Label');
      const meta = pick(fields, { Scale: 'scale' });
      return {
        type: 'location',
        latitude,
        longitude,
        ...(label !== undefined && label !== '' ? { name: label } : {}),
        ...(meta !== undefined ? { meta } : {}),
      };
    }
    case 'link': {
      // A shared article or page: a text part a helpdesk can show (title and URL), details in meta.
      const title = text('Title') ?? '';
      const url = text('Url') ?? '';
      const description = text('Description') ?? '';
      return { type: 'text', text: [title, url].filter((line) => line !== '').join('\n'), meta: { link: { title, description, url } } };
    }
    default:
      return { type: 'unsupported', reason: `msgtype:${label(msgType)}` };
  }
}

function media(type: 'image' | 'voice' | 'video', fields: XmlFields, declaredMime: string | undefined, meta?: Record<string, unknown>): InboundPart {
  const mediaId = textOf(fields, 'MediaId');
  if (mediaId === undefined || mediaId === '') return { type: 'unsupported', reason: `${type}_without_media_id` };
  return {
    type,
    media: { ref: mediaId, ...(declaredMime !== undefined ? { declaredMime } : {}) },
    ...(meta !== undefined && Object.keys(meta).length > 0 ? { meta } : {}),
  };
}

interface EventFacts {
  from: string;
  createTime: string;
  timestamp: Date;
  sender: InboundIdentity;
  raw: XmlFields;
}

/**
 * Events have no MsgId; their key is FromUserName + CreateTime + Event + EventKey, since
 * CreateTime only has one-second resolution.
 */
function parseEvent(fields: XmlFields, facts: EventFacts): InboundEvent[] {
  const event = textOf(fields, 'Event');
  if (event === undefined || event === '') return [ignored('malformed_event')];
  const eventKey = textOf(fields, 'EventKey') ?? '';
  const kind = event.toLowerCase();
  const dedupeKey = boundedKey(`event:${facts.from}:${facts.createTime}:${kind}:${eventKey}`);
  const base = { dedupeKey, externalId: dedupeKey, conversation: { externalId: facts.from, kind: 'direct' as const }, sender: facts.sender, timestamp: facts.timestamp, raw: facts.raw };
  const ticket = textOf(fields, 'Ticket');

  switch (kind) {
    case 'subscribe': {
      const scene = eventKey.startsWith('qrscene_') ? eventKey.slice('qrscene_'.length) : undefined;
      const referral = scene !== undefined ? { source: 'qr_scene', scene, ...(ticket !== undefined ? { ticket } : {}) } : undefined;
      // Two facts: the identity is reachable again, and the follow opens its one-minute grant.
      return [
        { kind: 'identity', dedupeKey: `${dedupeKey}:identity`, identity: facts.sender, change: 'reachable', timestamp: facts.timestamp, raw: facts.raw },
        eventMessage(base, 'follow', { type: 'unsupported', reason: 'event:subscribe', meta: { event: 'subscribe', ...referral } }, referral),
      ];
    }
    case 'unsubscribe':
      // WeChat requires deleting the user's data on unsubscribe; the core erases the identity.
      return [{ kind: 'identity', dedupeKey, identity: facts.sender, change: 'erase', timestamp: facts.timestamp, raw: facts.raw }];
    case 'scan': {
      const referral = { source: 'qr_scene', scene: eventKey, ...(ticket !== undefined ? { ticket } : {}) };
      return [eventMessage(base, 'scan', { type: 'unsupported', reason: 'event:scan', meta: { event: 'scan', ...referral } }, referral)];
    }
    default:
      if (CLICK_EVENTS.has(kind)) {
        const scan = groupOf(fields, 'ScanCodeInfo');
        const scanResult = scan === undefined ? undefined : textOf(scan, 'ScanResult');
        const meta: Record<string, unknown> = { event: kind };
        if (scan !== undefined) meta.scanType = textOf(scan, 'ScanType') ?? '';
        if (scanResult !== undefined) meta.scanResult = scanResult;
        // A menu button is a postback choice: its key is the id, the scan result (if any) the title.
        return [eventMessage(base, 'click', { type: 'reply', id: eventKey || kind, title: scanResult ?? eventKey, meta })];
      }
      // VIEW (a menu link), LOCATION reports and the rest carry nothing a conversation needs, and
      // location reports would put a user's position in the timeline without them writing.
      return [ignored(`event:${label(kind)}`)];
  }
}

function eventMessage(
  base: Omit<InboundMessage, 'kind' | 'parts' | 'sessionGrant'>,
  grant: 'follow' | 'click' | 'scan',
  part: InboundPart,
  referral?: Record<string, unknown>,
): InboundMessage {
  return { kind: 'message', ...base, parts: [part], sessionGrant: grant, ...(referral !== undefined ? { referral } : {}) };
}

/** Keys stay short enough for ids and subjects; a long EventKey (a URL) is hashed instead. */
function boundedKey(key: string): string {
  return key.length <= 200 ? key : `event:${createHash('sha256').update(key).digest('hex')}`;
}

/** User voice is AMR (8 kHz) or Speex; anything else is left for byte detection. */
function voiceMime(format: string): string | undefined {
  switch (format.trim().toLowerCase()) {
    case 'amr':
      return 'audio/amr';
    case 'speex':
      return 'audio/speex';
    case 'mp3':
      return 'audio/mpeg';
    default:
      return undefined;
  }
}

/** Text fields renamed into a meta object; undefined when none is present. */
function pick(fields: XmlFields, names: Readonly<Record<string, string>>): Record<string, unknown> | undefined {
  const meta: Record<string, unknown> = {};
  for (const [name, key] of Object.entries(names)) {
    const value = textOf(fields, name);
    if (value !== undefined) meta[key] = value;
  }
  return Object.keys(meta).length > 0 ? meta : undefined;
}

function decimal(value: string | undefined): number | undefined {
  if (value === undefined || !DECIMAL.test(value.trim())) return undefined;
  return Number(value.trim());
}

/** A bounded, printable label for metrics (platform values are untrusted). */
function label(value: string): string {
  const clean = value.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 40);
  return clean === '' ? 'unknown' : clean;
}

function ignored(reason: string): InboundIgnored {
  return { kind: 'ignored', reason };
}
