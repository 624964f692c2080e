/**
 * Sending through the customer-service API (`/cgi-bin/message/custom/send`). One
 * WeChat message carries one thing, so a part becomes one message, and a caption the media type
 * cannot hold becomes a text message after it. All media is uploaded first (temporary media,
 * under WeChat's own type and size limits), so a refused file sends nothing at all.
 */
import type { OutboundMedia, OutboundMessage, OutboundPart, SendResult, SharedState } from '../../core/adapter.ts';
import { OmniError } from '../../core/errors.ts';
import { WECHAT_MAX_BYTES, WECHAT_THUMB_MAX_BYTES } from './config.ts';
import type { WeChatClient } from './client.ts';

/** WeChat's temporary media kinds. */
export type UploadType = 'image' | 'voice' | 'video' | 'thumb';

/** Extensions WeChat takes per upload type (PNG/JPEG/JPG/GIF, AMR/MP3, MP4, JPG). */
export const UPLOAD_EXTENSIONS: Readonly<Record<UploadType, ReadonlyArray<string>>> = {
  image: ['jpg', 'jpeg', 'png', 'gif'],
  voice: ['amr', 'mp3'],
  video: ['mp4'],
  thumb: ['jpg', 'jpeg'],
};

/** Size limits per upload type, in bytes. */
export const UPLOAD_MAX_BYTES: Readonly<Record<UploadType, number>> = {
  image: WECHAT_MAX_BYTES.image,
  voice: WECHAT_MAX_BYTES.voice,
  video: WECHAT_MAX_BYTES.video,
  thumb: WECHAT_THUMB_MAX_BYTES,
};

/** msgmenu limits: at most 10 items, ids ≤ 64 bytes, item text ≤ 128 bytes (customer-service docs). */
const MENU_MAX_ITEMS = 10;

/** One customer-service message before its media is uploaded. */
type Planned =
  | { msgtype: 'text'; text: string }
  | { msgtype: 'msgmenu'; head: string; items: Array<{ id: string; content: string }>; tail: string }
  | { msgtype: 'image' | 'voice'; media: OutboundMedia }
  | { msgtype: 'video'; media: OutboundMedia; title?: string; description?: string };

/** What sending needs besides the message. */
export interface SendOptions {
  client: WeChatClient;
  /** Records which messages of a multi-message send went out, so a retry does not repeat them. */
  shared: SharedState;
}

/** How long a send's progress note is kept: far beyond any retry of that send. */
const SEND_PROGRESS_TTL_MS = 7 * 24 * 3600 * 1000;

/** Sends one outbound message; throws OmniError with the contract code of the first failure. */
export async function sendMessage(message: OutboundMessage, options: SendOptions, signal: AbortSignal): Promise<SendResult> {
  if (message.template !== undefined) {
    throw new OmniError('template_not_supported', 'WeChat customer-service messages have no templates');
  }
  const planned = message.parts.flatMap(plan);
  if (planned.length === 0) throw new OmniError('invalid_request', 'nothing to send');
  const progressKey = `sent:${message.messageId}`;
  // WeChat has no idempotency key: for a message split into several, remember how far a previous
  // attempt got, so a retry after a failure in the middle does not repeat (and re-bill) the start.
  const progress = planned.length > 1 ? await options.shared.get(progressKey) : null;
  let done = progress === null ? 0 : Math.min(Number(progress.value) || 0, planned.length);
  let revision = progress?.revision ?? 0;

  const uploaded = new Map<OutboundMedia, string>();
  for (const item of planned.slice(done)) {
    if ('media' in item && !uploaded.has(item.media)) uploaded.set(item.media, await upload(options.client, item.media, uploadType(item.msgtype), signal));
  }
  for (const item of planned.slice(done)) {
    try {
      await options.client.call('/cgi-bin/message/custom/send', {
        method: 'POST',
        json: body(message.to.externalId, item, uploaded),
        purpose: 'send',
        signal,
      });
    } catch (error) {
      if (error instanceof OmniError && done > 0) {
        throw new OmniError(error.code, error.message, { details: { ...error.details, messagesSent: done, messagesTotal: planned.length }, cause: error });
      }
      throw error;
    }
    done++;
    if (planned.length > 1 && (await options.shared.put(progressKey, String(done), revision, { ttlMs: SEND_PROGRESS_TTL_MS }))) revision++;
  }
  // Customer-service sends return no message id; the daemon's own id names the message.
  return { externalId: `cs:${message.messageId}`, raw: { messages: planned.length } };
}

/** Uploads temporary media (`/cgi-bin/media/upload?type=`) after checking WeChat's own limits. */
export async function upload(client: WeChatClient, media: OutboundMedia, type: UploadType, signal?: AbortSignal): Promise<string> {
  if (!UPLOAD_EXTENSIONS[type].includes(media.ext)) {
    throw new OmniError('attachment_type_not_allowed', `WeChat ${type} messages take ${UPLOAD_EXTENSIONS[type].join(', ')}, not ${media.ext}`, {
      details: { ext: media.ext, allowed: UPLOAD_EXTENSIONS[type] },
    });
  }
  if (media.size > UPLOAD_MAX_BYTES[type]) {
    throw new OmniError('attachment_too_large', `WeChat ${type} media may be at most ${UPLOAD_MAX_BYTES[type]} bytes`, {
      details: { size: media.size, maxBytes: UPLOAD_MAX_BYTES[type] },
    });
  }
  const form = new FormData();
  // A generated name: WeChat reads the extension, and a user's file name never reaches it.
  form.append('media', new Blob([media.bytes], { type: media.mime }), `${media.id}.${media.ext === 'jpeg' ? 'jpg' : media.ext}`);
  const answer = await client.call('/cgi-bin/media/upload', { method: 'POST', query: { type }, form, purpose: 'upload', signal, timeoutMs: 120_000 });
  // Thumbnails come back as `thumb_media_id`, everything else as `media_id`.
  const mediaId = answer.media_id ?? answer.thumb_media_id;
  if (typeof mediaId !== 'string' || mediaId === '') throw new OmniError('channel_unavailable', 'WeChat media upload answered without a media id');
  return mediaId;
}

/** The customer-service messages one part becomes. */
function plan(part: OutboundPart): Planned[] {
  switch (part.type) {
    case 'text':
      if (part.text.length === 0) throw new OmniError('invalid_request', 'a text part must not be empty');
      return [{ msgtype: 'text', text: part.text }];
    case 'image':
    case 'sticker':
      return withCaption({ msgtype: 'image', media: part.media }, part.caption);
    case 'voice':
    case 'audio':
      return withCaption({ msgtype: 'voice', media: part.media }, part.caption);
    case 'video':
      // Video messages carry a title and a description; no thumbnail is needed for them.
      return [
        {
          msgtype: 'video',
          media: part.media,
          ...(part.filename !== undefined ? { title: part.filename } : {}),
          ...(part.caption !== undefined && part.caption !== '' ? { description: part.caption } : {}),
        },
      ];
    case 'file':
      throw new OmniError('attachment_type_not_allowed', 'WeChat customer-service messages cannot carry files; send a link as text instead', {
        details: { partType: 'file' },
      });
    case 'buttons':
      return [menu([part.header, part.text].filter(nonEmpty).join('\n'), part.buttons.map((b) => ({ id: b.id, content: b.title })), part.footer)];
    case 'list':
      return [
        menu(
          [part.header, part.text].filter(nonEmpty).join('\n'),
          part.sections.flatMap((section) => section.rows.map((row) => ({ id: row.id, content: row.title }))),
          part.footer,
        ),
      ];
    case 'location':
    case 'reaction':
      throw new OmniError('invalid_request', `WeChat customer-service messages have no ${part.type} type`, { details: { partType: part.type } });
  }
}

function menu(head: string, items: Array<{ id: string; content: string }>, tail: string | undefined): Planned {
  if (items.length === 0 || items.length > MENU_MAX_ITEMS) {
    throw new OmniError('invalid_request', `WeChat menu messages take 1 to ${MENU_MAX_ITEMS} choices`, { details: { choices: items.length } });
  }
  return { msgtype: 'msgmenu', head, items, tail: tail ?? '' };
}

function withCaption(media: Planned, caption: string | undefined): Planned[] {
  return caption !== undefined && caption !== '' ? [media, { msgtype: 'text', text: caption }] : [media];
}

function uploadType(msgtype: Planned['msgtype']): UploadType {
  return msgtype === 'voice' ? 'voice' : msgtype === 'video' ? 'video' : 'image';
}

/** The JSON body of `/cgi-bin/message/custom/send` for one planned message. */
function body(openId: string, item: Planned, uploaded: ReadonlyMap<OutboundMedia, string>): Record<string, unknown> {
  const mediaId = (media: OutboundMedia) => uploaded.get(media)!;
  switch (item.msgtype) {
    case 'text':
      return { touser: openId, msgtype: 'text', text: { content: item.text } };
    case 'msgmenu':
      return { touser: openId, msgtype: 'msgmenu', msgmenu: { head_content: item.head, list: item.items, tail_content: item.tail } };
    case 'image':
    case 'voice':
      return { touser: openId, msgtype: item.msgtype, [item.msgtype]: { media_id: mediaId(item.media) } };
    case 'video':
      return {
        touser: openId,
        msgtype: 'video',
        video: { media_id: mediaId(item.media), ...(item.title !== undefined ? { title: item.title } : {}), ...(item.description !== undefined ? { description: item.description } : {}) },
      };
  }
}

function nonEmpty(value: string | undefined): value is string {
  return value !== undefined && value !== '';
}
