/**
 * The Graph media endpoints (upload, lookup, delete, download) over the kit's media store.
 * Download URLs copy Meta's lookaside shape (`?mid=&ext=<expiry>&hash=`) and expire five
 * minutes after the lookup, on the fake's clock.
 */
import type { Context, Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { MediaStore, bytesAnswer, fakeUrl, textAnswer, type StoredMedia } from '../../sandbox/index.ts';
import type { Clock } from '../../core/clock.ts';
import {
  authenticate,
  graphJson,
  invalidParameter,
  invalidToken,
  numericId,
  unknownObject,
  whatsappError,
  type FakeState,
  type Principal,
} from './sandbox-graph.ts';

/** How long a lookup's download URL stays valid (Meta: 5 minutes). */
export const MEDIA_URL_TTL_MS = 5 * 60_000;
/** How long uploaded media lives (Meta: 30 days). */
export const UPLOAD_RETENTION_MS = 30 * 24 * 3_600_000;
/** How long media received from a customer lives (Meta: 7 days). */
export const INBOUND_RETENTION_MS = 7 * 24 * 3_600_000;
/** Where the download route lives, relative to the fake's base path (Meta's lookaside path). */
export const DOWNLOAD_PATH = '/whatsapp_business/attachments/';

// Meta's list of supported types and their limits (protocol reference §1.5). Stickers get the
// animated limit because the fake does not parse WebP to tell static from animated.
const KIB = 1024;
const MIB = 1024 * KIB;
const SUPPORTED_MEDIA: Readonly<Record<string, number>> = {
  'audio/aac': 16 * MIB,
  'audio/amr': 16 * MIB,
  'audio/mpeg': 16 * MIB,
  'audio/mp4': 16 * MIB,
  'audio/ogg': 16 * MIB,
  'text/plain': 100 * MIB,
  'application/pdf': 100 * MIB,
  'application/msword': 100 * MIB,
  'application/vnd.ms-excel': 100 * MIB,
  'application/vnd.ms-powerpoint': 100 * MIB,
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document': 100 * MIB,
  'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet': 100 * MIB,
  'application/vnd.openxmlformats-officedocument.presentationml.presentation': 100 * MIB,
  'image/jpeg': 5 * MIB,
  'image/png': 5 * MIB,
  'image/webp': 500 * KIB,
  'video/3gpp': 16 * MIB,
  'video/mp4': 16 * MIB,
};
const MAX_UPLOAD_BYTES = 100 * MIB;

/** The fake's media store: Meta-looking numeric ids on the fake's clock. */
export function createMediaStore(clock: Clock): MediaStore {
  return new MediaStore({ clock, newId: numericId });
}

/** The query of a fresh download URL: `mid`, `ext` (expiry, Unix seconds) and `hash`. */
function downloadQuery(store: MediaStore, media: StoredMedia): URLSearchParams {
  const link = store.signedLink(media, MEDIA_URL_TTL_MS);
  // Meta's lookaside hashes look like `AT…`; the prefix is cosmetic.
  return new URLSearchParams({ mid: link.id, ext: link.expires, hash: `AT${link.signature}` });
}

/** Check a download URL's query: the object when valid, or why not. */
function openDownload(store: MediaStore, query: URLSearchParams): StoredMedia | 'expired' | 'invalid' {
  const hash = query.get('hash') ?? '';
  if (!hash.startsWith('AT')) return 'invalid';
  return store.openSignedLink({ id: query.get('mid') ?? '', expires: query.get('ext') ?? '', signature: hash.slice(2) });
}

/** Whether `principal` may read or delete `media`. */
function mayAccess(principal: Principal, media: StoredMedia): boolean {
  return media.owner === null || principal.phoneNumberIds.has(media.owner);
}

/** Find media for a Graph call, honouring the optional `phone_number_id` filter Meta documents. */
function resolveMedia(c: Context, principal: Principal, state: FakeState, id: string): StoredMedia | Response {
  const media = state.media.get(id);
  const filter = c.req.query('phone_number_id');
  const filtered = filter !== undefined && (!principal.phoneNumberIds.has(filter) || (media?.owner ?? filter) !== filter);
  if (media === undefined || !mayAccess(principal, media) || filtered) return unknownObject(c.req.method, id);
  return media;
}

/** `GET /{version}/{media-id}`: metadata and a fresh download URL. */
export function lookupMedia(c: Context, state: FakeState, id: string): Response {
  const principal = authenticate(state, c.req.raw);
  if (principal === null) return invalidToken();
  const media = resolveMedia(c, principal, state, id);
  if (media instanceof Response) return media;
  const url = fakeUrl(c.req.raw, state.basePath, DOWNLOAD_PATH);
  url.search = downloadQuery(state.media, media).toString();
  return graphJson({
    messaging_product: 'whatsapp',
    url: url.toString(),
    mime_type: media.mime,
    sha256: media.sha256,
    file_size: String(media.bytes.byteLength),
    id: media.id,
  });
}

/** Register the media routes on an app whose base path is already set. */
export function registerMediaRoutes(app: Hono, state: FakeState, versionPattern: string): void {
  const uploadLimit = bodyLimit({
    maxSize: MAX_UPLOAD_BYTES + MIB,
    onError: () => whatsappError(413, 131053, 'Media upload error', `File is larger than ${MAX_UPLOAD_BYTES} bytes.`),
  });

  app.post(`/${versionPattern}/:id/media`, uploadLimit, async (c) => {
    const principal = authenticate(state, c.req.raw);
    if (principal === null) return invalidToken();
    const phoneNumberId = c.req.param('id');
    if (!principal.phoneNumberIds.has(phoneNumberId)) return unknownObject('POST', phoneNumberId);
    let form: Record<string, string | File>;
    try {
      form = await c.req.parseBody();
    } catch {
      // An unreadable multipart body is the client's fault; Graph then sees no parameters at all.
      return invalidParameter('The parameter messaging_product is required.');
    }
    const product = form['messaging_product'];
    if (typeof product !== 'string' || product === '') return invalidParameter('The parameter messaging_product is required.');
    if (product.toLowerCase() !== 'whatsapp') {
      return invalidParameter(`Param messaging_product must be one of {WHATSAPP} - got "${product}".`);
    }
    const file = form['file'];
    if (typeof file === 'string' || file === undefined) return invalidParameter('The parameter file is required.');
    const declared = typeof form['type'] === 'string' && form['type'] !== '' ? form['type'] : file.type;
    const mime = declared.trim().toLowerCase();
    const limit = SUPPORTED_MEDIA[mime.split(';')[0]!.trim()];
    if (limit === undefined) {
      return whatsappError(400, 131053, 'Media upload error', `Unsupported file type '${mime || 'unknown'}'.`);
    }
    const bytes = new Uint8Array(await file.arrayBuffer());
    if (bytes.byteLength === 0) return whatsappError(400, 131053, 'Media upload error', 'The uploaded file is empty.');
    if (bytes.byteLength > limit) {
      return whatsappError(400, 131053, 'Media upload error', `File of type '${mime}' is larger than ${limit} bytes.`);
    }
    const filename = file.name !== '' && file.name !== 'blob' ? file.name : undefined;
    const media = state.media.put(bytes, mime, { filename, owner: phoneNumberId, retentionMs: UPLOAD_RETENTION_MS });
    return graphJson({ id: media.id });
  });

  app.delete(`/${versionPattern}/:id`, (c) => {
    const principal = authenticate(state, c.req.raw);
    if (principal === null) return invalidToken();
    const media = resolveMedia(c, principal, state, c.req.param('id'));
    if (media instanceof Response) return media;
    state.media.delete(media.id);
    return graphJson({ success: true });
  });

  // Meta's lookaside host wants the same bearer header as Graph; a query token is not enough.
  app.on('GET', [DOWNLOAD_PATH, DOWNLOAD_PATH.slice(0, -1)], (c) => {
    const principal = authenticate(state, c.req.raw, true);
    if (principal === null) return invalidToken();
    const media = openDownload(state.media, new URL(c.req.url).searchParams);
    if (media === 'invalid' || media === 'expired' || !mayAccess(principal, media)) {
      return textAnswer(media === 'expired' ? 'URL signature expired' : 'Not Found', 404);
    }
    return bytesAnswer(media.bytes, media.mime);
  });
}
