/**
 * Inbound media download through `GET /cgi-bin/media/get` and its quirks:
 * errors come back as JSON with HTTP 200, sometimes labelled `text/plain`, so the body is
 * sniffed before it is trusted as bytes; videos come back as JSON `{"video_url": …}` whose URL
 * is fetched in turn, without the token. Media ids expire after 3 days (40007).
 */
import type { FetchedMedia } from '../../core/adapter.ts';
import { OmniError } from '../../core/errors.ts';
import type { HttpResponse } from '../../core/http-client.ts';
import type { Logger } from '../../core/logger.ts';
import type { InboundMediaRef } from '../../core/model.ts';
import { TOKEN_ERRCODES, errcodeError, httpStatusError } from './errcodes.ts';
import { parseObject, transportFailure, type WeChatClient } from './client.ts';

/** Media ids are opaque; WeChat's are base64url-like, 64 characters. Anything odd is refused. */
const MEDIA_ID = /^[A-Za-z0-9_-]{1,256}$/;
/** A JSON answer (error or video_url) is small; a body that starts like JSON and is larger is bytes. */
const JSON_SNIFF_BYTES = 64 * 1024;

/** What a download needs beyond the media reference. */
export interface FetchMediaOptions {
  client: WeChatClient;
  maxBytes: number;
  logger: Logger;
  now(): Date;
}

/** Streams one inbound media object; a refused token is replaced once. */
export async function fetchWeChatMedia(ref: InboundMediaRef, options: FetchMediaOptions, signal: AbortSignal): Promise<FetchedMedia> {
  if (!MEDIA_ID.test(ref.ref)) throw new OmniError('attachment_unreachable', 'not a WeChat media id', { details: { reason: 'invalid_media_ref' } });
  const { client } = options;
  let token = await client.tokens.current(signal);
  for (let attempt = 0; ; attempt++) {
    const response = await client.getMedia(ref.ref, token, options.maxBytes, signal);
    const outcome = await sniff(response, options);
    if (outcome.kind === 'bytes') return outcome.media;
    if (outcome.kind === 'video') return download(outcome.url, options, signal);
    if (attempt === 0 && TOKEN_ERRCODES.has(outcome.errcode)) {
      token = await client.tokens.replace(token, signal);
      continue;
    }
    throw errcodeError({ errcode: outcome.errcode, errmsg: outcome.errmsg }, 'media', options.now());
  }
}

type Sniffed =
  | { kind: 'bytes'; media: FetchedMedia }
  | { kind: 'video'; url: string }
  | { kind: 'error'; errcode: number; errmsg?: string };

/** Decides what a `media/get` answer is: bytes, a video URL, or an errcode dressed as HTTP 200. */
async function sniff(response: HttpResponse, options: FetchMediaOptions): Promise<Sniffed> {
  if (response.status < 200 || response.status > 299) {
    await response.text().catch(() => undefined);
    throw httpStatusError(response.status, 'media');
  }
  const iterator = response.stream()[Symbol.asyncIterator]();
  const head: Uint8Array[] = [];
  let headBytes = 0;
  let done = false;
  try {
    // Read just enough to tell: the first chunk, and more only while it still looks like JSON.
    for (;;) {
      const next = await iterator.next();
      if (next.done) {
        done = true;
        break;
      }
      head.push(next.value);
      headBytes += next.value.byteLength;
      if (!looksLikeJson(head[0]!) || headBytes > JSON_SNIFF_BYTES) break;
    }
  } catch (error) {
    throw transportFailure(error, 'media');
  }
  if (done && head.length > 0 && looksLikeJson(head[0]!)) {
    const body = parseObject(new TextDecoder().decode(Buffer.concat(head)));
    if (body !== undefined) {
      if (typeof body.video_url === 'string' && body.video_url !== '') return { kind: 'video', url: body.video_url };
      const errcode = Number(body.errcode);
      if (Number.isInteger(errcode) && errcode !== 0) return { kind: 'error', errcode, ...(typeof body.errmsg === 'string' ? { errmsg: body.errmsg } : {}) };
      throw new OmniError('attachment_unreachable', 'WeChat media answer is JSON without media');
    }
  }
  if (headBytes === 0) throw new OmniError('attachment_unreachable', 'WeChat media answer is empty');
  return { kind: 'bytes', media: fetched(response, replay(head, done ? undefined : iterator), options) };
}

/** GETs a video's `video_url` and streams it. */
async function download(url: string, options: FetchMediaOptions, signal: AbortSignal): Promise<FetchedMedia> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new OmniError('attachment_unreachable', 'WeChat video_url is not a URL');
  }
  if ((parsed.protocol !== 'https:' && parsed.protocol !== 'http:') || parsed.username !== '' || parsed.password !== '') {
    throw new OmniError('attachment_unreachable', 'WeChat video_url has an unexpected scheme');
  }
  // The host is logged, never the URL: its query may be a signed grant.
  options.logger.debug({ host: parsed.hostname }, 'wechat video fetched from video_url');
  const response = await options.client.download(parsed.toString(), options.maxBytes, signal);
  if (response.status < 200 || response.status > 299) {
    await response.text().catch(() => undefined);
    throw httpStatusError(response.status, 'media');
  }
  return fetched(response, response.stream(), options);
}

function fetched(response: HttpResponse, body: AsyncIterable<Uint8Array>, options: FetchMediaOptions): FetchedMedia {
  const media: FetchedMedia = { body };
  const mime = response.headers.get('content-type');
  if (mime !== null && mime !== '') media.declaredMime = mime;
  const size = Number(response.headers.get('content-length') ?? Number.NaN);
  if (Number.isSafeInteger(size) && size >= 0) {
    media.declaredSize = size;
    if (size > options.maxBytes) {
      throw new OmniError('attachment_too_large', 'WeChat media exceeds the inbound size limit', { details: { size, maxBytes: options.maxBytes } });
    }
  }
  return media;
}

/** The chunks already read, then the rest of the stream. */
async function* replay(head: Uint8Array[], rest: AsyncIterator<Uint8Array> | undefined): AsyncIterable<Uint8Array> {
  yield* head;
  if (rest === undefined) return;
  try {
    for (;;) {
      const next = await rest.next();
      if (next.done) return;
      yield next.value;
    }
  } catch (error) {
    throw transportFailure(error, 'media');
  }
}

/** JSON objects start with `{` after optional whitespace; no image, voice or video format does. */
function looksLikeJson(chunk: Uint8Array): boolean {
  for (const byte of chunk) {
    if (byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09) continue;
    return byte === 0x7b;
  }
  return false;
}
