/**
 * Inbound media download, Meta's two steps (reference 1.5): look the media id up for a
 * five-minute URL, then GET that URL with the same bearer token. The token only ever goes to
 * the API host and Meta's own media hosts; a URL anywhere else is refused before any request.
 */
import type { FetchedMedia } from '../../core/adapter.ts';
import { OmniError } from '../../core/errors.ts';
import type { HttpResponse } from '../../core/http-client.ts';
import type { Logger } from '../../core/logger.ts';
import type { InboundMediaRef } from '../../core/model.ts';
import type { GraphClient, MediaLocation } from './client.ts';

/** Meta's media CDN domains; a leading dot matches subdomains (`lookaside.fbsbx.com`). */
export const META_MEDIA_HOSTS = ['.fbcdn.net', '.fbsbx.com', '.whatsapp.net', '.facebook.com'] as const;

/** Media ids are numeric on Meta; letters, `_` and `-` are allowed for fakes, dots only inside. */
const MEDIA_ID = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,255}$/;

/** What a download needs beyond the media reference. */
export interface FetchMediaOptions {
  graph: GraphClient;
  phoneNumberId: string;
  /** Media larger than this is refused before and while downloading. */
  maxBytes: number;
  logger: Logger;
}

/** Streams one inbound media object; on a 404 of the (expired) URL, looks it up once more. */
export async function fetchWhatsAppMedia(ref: InboundMediaRef, options: FetchMediaOptions, signal: AbortSignal): Promise<FetchedMedia> {
  const { graph, phoneNumberId, maxBytes, logger } = options;
  if (!MEDIA_ID.test(ref.ref)) throw new OmniError('attachment_unreachable', 'not a WhatsApp media id', { details: { reason: 'invalid_media_ref' } });
  const trustedHosts = [graph.apiHost, ...META_MEDIA_HOSTS];

  let location = await graph.lookupMedia(ref.ref, phoneNumberId, signal);
  let response = await download(location, options, trustedHosts, signal);
  if (response.status === 404) {
    // The URL lives five minutes; a retry or a slow queue outlives it, the media id does not.
    logger.debug({ mediaId: ref.ref }, 'whatsapp media url expired, looking it up again');
    // Only the status mattered; reading the small body frees the connection, and its failure changes nothing.
    await response.text().catch(() => undefined);
    location = await graph.lookupMedia(ref.ref, phoneNumberId, signal);
    response = await download(location, options, trustedHosts, signal);
  }
  if (response.status < 200 || response.status > 299) throw await graph.rejection(response, 'media');

  const fetched: FetchedMedia = { body: response.stream() };
  const mime = location.mimeType ?? response.headers.get('content-type') ?? undefined;
  if (mime !== undefined) fetched.declaredMime = mime;
  const size = location.size ?? headerSize(response);
  if (size !== undefined) fetched.declaredSize = size;
  if (size !== undefined && size > maxBytes) {
    throw new OmniError('attachment_too_large', 'WhatsApp media exceeds the inbound size limit', { details: { size, maxBytes } });
  }
  return fetched;
}

async function download(location: MediaLocation, options: FetchMediaOptions, trustedHosts: string[], signal: AbortSignal): Promise<HttpResponse> {
  const { graph, maxBytes, logger } = options;
  if (location.size !== undefined && location.size > maxBytes) {
    throw new OmniError('attachment_too_large', 'WhatsApp media exceeds the inbound size limit', { details: { size: location.size, maxBytes } });
  }
  const host = trustedMediaHost(location.url, graph.apiHost, graph.apiProtocol, trustedHosts);
  if (host === undefined) {
    // The host is logged (never the URL: its query is a signed grant); it says who to investigate.
    logger.warn({ host: URL.canParse(location.url) ? new URL(location.url).hostname : 'invalid' }, 'whatsapp media url on an untrusted host refused');
    throw new OmniError('attachment_unreachable', 'WhatsApp media URL is not on a Meta host', { details: { reason: 'untrusted_media_host' } });
  }
  return graph.download(location.url, trustedHosts, maxBytes, signal);
}

/**
 * The URL's host when it may receive the token: https on a trusted host, or the API base's own
 * scheme and host (a local sandbox on http). Otherwise undefined.
 */
export function trustedMediaHost(url: string, apiHost: string, apiProtocol: string, trustedHosts: ReadonlyArray<string>): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  const host = parsed.hostname.toLowerCase();
  if (parsed.username !== '' || parsed.password !== '') return undefined;
  const schemeOk = parsed.protocol === 'https:' || (host === apiHost && parsed.protocol === apiProtocol);
  return schemeOk && trustedHosts.some((entry) => hostMatches(host, entry)) ? host : undefined;
}

/** `example.com` matches itself; `.example.com` matches its subdomains only. */
export function hostMatches(host: string, entry: string): boolean {
  const pattern = entry.toLowerCase();
  return pattern.startsWith('.') ? host.endsWith(pattern) && host.length > pattern.length : host === pattern;
}

function headerSize(response: HttpResponse): number | undefined {
  const size = Number(response.headers.get('content-length') ?? Number.NaN);
  return Number.isSafeInteger(size) && size >= 0 ? size : undefined;
}
