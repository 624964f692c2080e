/**
 * Temporary media in the fake WeChat API: `POST /cgi-bin/media/upload?type=` (multipart field
 * `media`) under WeChat's type and size limits, and `GET /cgi-bin/media/get` with its quirks —
 * errors as JSON with HTTP 200 and `text/plain`, videos as JSON `{"video_url"}` pointing at a
 * token-free download route. Media ids expire after 3 days.
 */
import { randomBytes } from 'node:crypto';
import type { Context, Hono } from 'hono';
import type { Clock } from '../../core/clock.ts';
import { MediaStore, bytesAnswer, fakeUrl, textAnswer } from '../../sandbox/index.ts';
import type { FakeState } from './sandbox-state.ts';
import { wechatError, wechatJson } from './sandbox-state.ts';

/** Temporary media lives 3 days on WeChat. */
export const MEDIA_RETENTION_MS = 3 * 86_400_000;

/** Upload types and their limits as the fake enforces them (image at the safe 2 MB). */
const LIMITS: Readonly<Record<string, { maxBytes: number; kinds: ReadonlyArray<Kind>; sizeErrcode: number }>> = {
  image: { maxBytes: 2_000_000, kinds: ['jpg', 'png', 'gif'], sizeErrcode: 40009 },
  voice: { maxBytes: 2_000_000, kinds: ['amr', 'mp3'], sizeErrcode: 40010 },
  video: { maxBytes: 10_000_000, kinds: ['mp4'], sizeErrcode: 40011 },
  thumb: { maxBytes: 64 * 1024, kinds: ['jpg'], sizeErrcode: 40012 },
};

type Kind = 'jpg' | 'png' | 'gif' | 'amr' | 'mp3' | 'mp4' | 'other';

/** WeChat's upload types; the kit's `StoredMedia.kind` holds one. */
export type WeChatMediaType = 'image' | 'voice' | 'video' | 'thumb' | 'file';

/** The fake's media store: 64-character ids as WeChat's, on the fake's clock. */
export function createMediaStore(clock: Clock): MediaStore {
  return new MediaStore({ clock, newId: () => randomBytes(48).toString('base64url') });
}

/** The upload type a simulated user's media has, by its mime type. */
export function mediaTypeOf(mime: string): WeChatMediaType {
  const base = mime.split(';')[0]!.trim().toLowerCase();
  if (base.startsWith('image/')) return 'image';
  if (base.startsWith('audio/')) return 'voice';
  if (base.startsWith('video/')) return 'video';
  return 'file';
}

/** Registers the media routes; `authorize` resolves the access token to an AppID or answers the error. */
export function registerMediaRoutes(app: Hono, state: FakeState, authorize: (c: Context) => string | Response): void {
  app.post('/cgi-bin/media/upload', async (c) => {
    const appId = authorize(c);
    if (appId instanceof Response) return appId;
    const type = c.req.query('type') ?? '';
    const limits = LIMITS[type];
    if (limits === undefined) return wechatError(40004);
    let file: unknown;
    try {
      file = (await c.req.raw.formData()).get('media');
    } catch {
      return wechatError(41005, 'media data missing');
    }
    if (!(file instanceof Blob)) return wechatError(41005, 'media data missing');
    const bytes = new Uint8Array(await file.arrayBuffer());
    if (bytes.length === 0) return wechatError(41005, 'media data missing');
    if (!limits.kinds.includes(sniffKind(bytes))) return wechatError(40005);
    if (bytes.length > limits.maxBytes) return wechatError(limits.sizeErrcode);
    const media = state.media.put(bytes, file.type || 'application/octet-stream', { owner: appId, retentionMs: MEDIA_RETENTION_MS, kind: type });
    const createdAt = Math.floor(media.createdAt / 1000);
    return wechatJson(type === 'thumb' ? { type, thumb_media_id: media.id, created_at: createdAt } : { type, media_id: media.id, created_at: createdAt });
  });

  app.get('/cgi-bin/media/get', (c) => {
    const appId = authorize(c);
    if (appId instanceof Response) return appId;
    const id = c.req.query('media_id');
    if (id === undefined || id === '') return wechatError(41006);
    const media = state.media.getFor(id, appId);
    // WeChat answers unknown media with HTTP 200, a JSON error and (observed) text/plain.
    if (media === undefined) return wechatError(40007, 'invalid media_id', 'text/plain');
    if (media.kind === 'video') return wechatJson({ video_url: fakeUrl(c.req.raw, state.basePath, `/_media/video/${media.accessKey}`).toString() });
    return bytesAnswer(media.bytes, media.mime, { 'content-disposition': `attachment; filename="${media.id}.${extensionOf(media.mime)}"` });
  });

  app.get('/_media/video/:key', (c) => {
    const media = state.media.byAccessKey(c.req.param('key'));
    if (media?.kind !== 'video') return textAnswer('not found', 404);
    return bytesAnswer(media.bytes, media.mime);
  });
}

/** What the bytes are, by their magic numbers (never by the file name). */
export function sniffKind(bytes: Uint8Array): Kind {
  const at = (offset: number, ...values: number[]) => values.every((value, i) => bytes[offset + i] === value);
  if (at(0, 0xff, 0xd8, 0xff)) return 'jpg';
  if (at(0, 0x89, 0x50, 0x4e, 0x47)) return 'png';
  if (at(0, 0x47, 0x49, 0x46, 0x38)) return 'gif';
  if (at(0, 0x23, 0x21, 0x41, 0x4d, 0x52)) return 'amr';
  if (at(0, 0x49, 0x44, 0x33) || (bytes[0] === 0xff && ((bytes[1] ?? 0) & 0xe0) === 0xe0)) return 'mp3';
  if (at(4, 0x66, 0x74, 0x79, 0x70)) return 'mp4';
  return 'other';
}

function extensionOf(mime: string): string {
  const base = mime.split(';')[0]!.trim().toLowerCase();
  const known: Record<string, string> = { 'image/jpeg': 'jpg', 'image/png': 'png', 'image/gif': 'gif', 'audio/amr': 'amr', 'audio/mpeg': 'mp3', 'video/mp4': 'mp4' };
  return known[base] ?? 'bin';
}
