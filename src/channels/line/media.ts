/**
 * Inbound media (reference A5). Content LINE hosts comes from the content host's
 * `/v2/bot/message/{id}/content`; a large video or audio answers 202 while LINE prepares it,
 * so `/content/transcoding` is polled until it succeeds (or fails for good). 404 and 410 (the
 * user unsent it, or it expired) fail with that reason. Content another provider hosts
 * (`external:` refs) is a third party's URL: fetched only through the core's guarded client,
 * public hosts only, without any credential. Stickers come from LINE's public sticker CDN.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { FetchedMedia } from '../../core/adapter.ts';
import { OmniError } from '../../core/errors.ts';
import type { HttpClient, HttpResponse } from '../../core/http-client.ts';
import type { Logger } from '../../core/logger.ts';
import type { InboundMediaRef } from '../../core/model.ts';
import { lineError, readError } from './api-errors.ts';
import { transportFailure, type LineClient } from './client.ts';
import { MESSAGE_ID } from './inbound-parts.ts';

/** LINE's public sticker images (not part of the Messaging API; the only source there is). */
export const STICKER_CDN = 'https://stickershop.line-scdn.net';

/** What a download needs beyond the reference. */
export interface FetchMediaOptions {
  client: LineClient;
  http: HttpClient;
  maxBytes: number;
  logger: Logger;
  /** Where sticker images come from; `trusted` when it is an operator's override (sandbox). */
  stickers: { base: string; trusted: boolean };
  now(): Date;
  /** Waits between transcoding polls; the last one repeats. */
  pollDelaysMs?: ReadonlyArray<number>;
}

const POLL_DELAYS_MS = [250, 500, 1000, 2000, 4000, 4000, 4000, 4000, 4000, 4000];
const TIMEOUT_MS = 120_000;

/** Streams one inbound media object. */
export async function fetchLineMedia(ref: InboundMediaRef, options: FetchMediaOptions, signal: AbortSignal): Promise<FetchedMedia> {
  const colon = ref.ref.indexOf(':');
  const kind = colon === -1 ? '' : ref.ref.slice(0, colon);
  const value = ref.ref.slice(colon + 1);
  switch (kind) {
    case 'content':
      if (!MESSAGE_ID.test(value)) break;
      return fetchContent(value, options, signal);
    case 'external':
      return fetchExternal(value, options, signal);
    case 'sticker':
      if (!/^\d{1,20}$/.test(value)) break;
      return fetchSticker(value, options, signal);
    default:
      break;
  }
  throw new OmniError('attachment_unreachable', 'not a LINE media reference', { details: { reason: 'invalid_media_ref' } });
}

async function fetchContent(messageId: string, options: FetchMediaOptions, signal: AbortSignal): Promise<FetchedMedia> {
  const path = `/v2/bot/message/${encodeURIComponent(messageId)}/content`;
  const delays = options.pollDelaysMs ?? POLL_DELAYS_MS;
  for (let poll = 0; ; poll++) {
    const response = await options.client.call(path, { host: 'data', purpose: 'media', signal, maxBytes: options.maxBytes, timeoutMs: TIMEOUT_MS });
    if (response.status === 200) return fetched(response, options.maxBytes);
    if (response.status !== 202) throw lineError(await readError(response), 'media', options.client.tokens.field, options.now());
    await response.text().catch(() => undefined);
    // 202: LINE is still preparing the video or audio. Ask how it is going, then wait.
    for (;;) {
      const status = await transcoding(path, options, signal);
      if (status === 'succeeded') break;
      if (status === 'failed') {
        throw new OmniError('attachment_unreachable', 'LINE could not prepare this video or audio', { details: { reason: 'transcoding_failed' } });
      }
      if (poll >= delays.length) {
        throw new OmniError('channel_unavailable', 'LINE is still preparing this video or audio; retry later', { details: { reason: 'transcoding' } });
      }
      await sleep(delays[Math.min(poll, delays.length - 1)]!, undefined, { signal });
      poll++;
    }
  }
}

async function transcoding(path: string, options: FetchMediaOptions, signal: AbortSignal): Promise<string> {
  const body = await options.client.json(`${path}/transcoding`, { host: 'data', purpose: 'media', signal });
  return typeof body.status === 'string' ? body.status : 'processing';
}

async function fetchExternal(url: string, options: FetchMediaOptions, signal: AbortSignal): Promise<FetchedMedia> {
  if (!URL.canParse(url) || new URL(url).protocol !== 'https:') {
    throw new OmniError('attachment_unreachable', 'external LINE content must be an https URL', { details: { reason: 'invalid_media_ref' } });
  }
  // The host is logged, never the URL: it came from a message and may hold a grant.
  options.logger.debug({ host: new URL(url).hostname }, 'line external content fetched');
  return download(url, options, signal, undefined);
}

async function fetchSticker(stickerId: string, options: FetchMediaOptions, signal: AbortSignal): Promise<FetchedMedia> {
  const { base, trusted } = options.stickers;
  const url = `${base}/stickershop/v1/sticker/${stickerId}/android/sticker.png`;
  return download(url, options, signal, trusted ? [new URL(base).hostname.toLowerCase()] : undefined);
}

/** A GET without credentials; `trustedHosts` undefined = public addresses only (the SSRF guard). */
async function download(url: string, options: FetchMediaOptions, signal: AbortSignal, trustedHosts: string[] | undefined): Promise<FetchedMedia> {
  let response: HttpResponse;
  try {
    response = await options.http.request(url, { method: 'GET', maxBytes: options.maxBytes, timeoutMs: TIMEOUT_MS, signal, ...(trustedHosts ? { trustedHosts } : {}) });
  } catch (error) {
    throw transportFailure(error, 'media');
  }
  if (response.status !== 200) {
    await response.text().catch(() => undefined);
    if (response.status >= 500) throw new OmniError('channel_unavailable', 'the media host failed; retry later', { details: { status: response.status } });
    throw new OmniError('attachment_unreachable', 'the media host refused the download', { details: { status: response.status, reason: response.status === 404 ? 'not_found' : 'refused' } });
  }
  return fetched(response, options.maxBytes);
}

function fetched(response: HttpResponse, maxBytes: number): FetchedMedia {
  const body = response.stream();
  const media: FetchedMedia = {
    body: (async function* () {
      try {
        yield* body;
      } catch (error) {
        throw transportFailure(error, 'media');
      }
    })(),
  };
  const mime = response.headers.get('content-type');
  if (mime !== null && mime !== '') media.declaredMime = mime;
  const size = Number(response.headers.get('content-length') ?? Number.NaN);
  if (Number.isSafeInteger(size) && size >= 0) {
    if (size > maxBytes) throw new OmniError('attachment_too_large', 'LINE media exceeds the inbound size limit', { details: { size, maxBytes } });
    media.declaredSize = size;
  }
  return media;
}
