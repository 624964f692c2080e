/**
 * Webhooks exactly as LINE sends them: a JSON batch `{ destination, events }`, signed with the
 * channel secret in `X-Line-Signature`, each event with a ULID `webhookEventId`, a reply token,
 * `mode` and `deliveryContext`. `simulateInbound` is pure: the fake learns the reply tokens and
 * friends when it observes the webhook (`sandbox-observe.ts`).
 */
import { randomBytes } from 'node:crypto';
import type { SimulateInput, WebhookRequestSpec } from '../../core/adapter.ts';
import { OmniError } from '../../core/errors.ts';
import { botUserId } from './sandbox-api.ts';
import type { LineAccount } from './sandbox-state.ts';
import { newMessageId } from './sandbox-state.ts';
import { lineSignature } from './verify.ts';

/** One webhook event object (the fields common to all, plus the event's own). */
export type LineEvent = Record<string, unknown>;

/** The signed POST of a batch of events. */
export function buildWebhook(account: LineAccount, events: LineEvent[]): WebhookRequestSpec {
  const secret = account.settings?.channelSecret;
  if (typeof secret !== 'string' || secret === '') {
    throw new OmniError('invalid_request', `account ${account.id}: settings.channelSecret is required to simulate a webhook`, { details: { field: 'settings.channelSecret' } });
  }
  const body = JSON.stringify({ destination: botUserId(account), events });
  return {
    method: 'POST',
    path: `/webhooks/line/${encodeURIComponent(account.id)}`,
    headers: { 'content-type': 'application/json; charset=utf-8', 'x-line-signature': lineSignature(secret, body) },
    body,
  };
}

/** The common fields of an event from `from` (in `group`, when given) at `at`. */
export function eventBase(type: string, input: { from: string; group?: string; at?: Date; replyable?: boolean }): LineEvent {
  const at = input.at ?? new Date();
  const source = input.group !== undefined ? { type: 'group', groupId: input.group, userId: input.from } : { type: 'user', userId: input.from };
  return {
    type,
    mode: 'active',
    timestamp: at.getTime(),
    source,
    webhookEventId: ulid(at),
    deliveryContext: { isRedelivery: false },
    ...(input.replyable !== false ? { replyToken: randomBytes(16).toString('hex') } : {}),
  };
}

/**
 * What LINE sends when a user writes: a text message, a media message (the media must be in
 * the fake: its id is the message id content is fetched by), or a postback for `callback`.
 * Text and a file together arrive as two events in one POST, as LINE sends them.
 */
export function simulateInbound(account: LineAccount, input: SimulateInput): WebhookRequestSpec {
  const from = input.from.trim();
  if (from === '') throw new OmniError('invalid_request', 'simulate: --from (the LINE user id) is required', { details: { field: 'from' } });
  const at = input.timestamp ?? new Date();
  const who = { from, at, ...(input.group !== undefined && input.group !== '' ? { group: input.group } : {}) };
  const events: LineEvent[] = [];
  if (input.callback !== undefined && input.callback !== '') events.push({ ...eventBase('postback', who), postback: { data: input.callback } });
  if (input.text !== undefined && input.text !== '') {
    events.push({ ...eventBase('message', who), message: { id: newMessageId(), type: 'text', text: input.text, quoteToken: randomBytes(24).toString('base64url') } });
  }
  if (input.media !== undefined) events.push({ ...eventBase('message', who), message: mediaMessage(input.media) });
  if (events.length === 0) throw new OmniError('invalid_request', 'simulate: give a text, a file or a callback', { details: { field: 'text' } });
  return buildWebhook(account, events);
}

/** A follow (or unblock), unfollow, join or leave event, for tests and the fake's `deliverEvent`. */
export function lifecycleEvent(type: 'follow' | 'unfollow' | 'join' | 'leave', input: { from: string; group?: string; at?: Date; isUnblocked?: boolean }): LineEvent {
  if (type === 'join' || type === 'leave') {
    const event = eventBase(type, { from: input.from, group: input.group ?? input.from, replyable: type === 'join', ...(input.at ? { at: input.at } : {}) });
    return { ...event, source: { type: 'group', groupId: input.group ?? input.from } };
  }
  const event = eventBase(type, { from: input.from, replyable: type === 'follow', ...(input.at ? { at: input.at } : {}) });
  return type === 'follow' ? { ...event, follow: { isUnblocked: input.isUnblocked ?? false } } : event;
}

function mediaMessage(media: NonNullable<SimulateInput['media']>): Record<string, unknown> {
  const mime = media.mime.split(';')[0]!.trim().toLowerCase();
  const provider = { contentProvider: { type: 'line' } };
  if (mime.startsWith('image/')) return { id: media.id, type: 'image', ...provider, quoteToken: randomBytes(24).toString('base64url') };
  if (mime.startsWith('video/')) return { id: media.id, type: 'video', duration: 1000, ...provider, quoteToken: randomBytes(24).toString('base64url') };
  if (mime.startsWith('audio/')) return { id: media.id, type: 'audio', duration: 1000, ...provider };
  return { id: media.id, type: 'file', fileName: media.filename ?? 'file' };
}

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** A ULID: 48 bits of milliseconds, 80 random bits, Crockford base32. */
export function ulid(at: Date): string {
  let time = at.getTime();
  let head = '';
  for (let i = 0; i < 10; i++) {
    head = CROCKFORD[time % 32]! + head;
    time = Math.floor(time / 32);
  }
  const random = randomBytes(16);
  let tail = '';
  for (let i = 0; i < 16; i++) tail += CROCKFORD[random[i]! % 32];
  return head + tail;
}
