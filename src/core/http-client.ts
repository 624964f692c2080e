/**
 * Outbound HTTP for adapters and the media pipeline, behind one small interface so every
 * request gets the same guards: scheme and host allow-lists, SSRF checks after DNS resolution
 * and after every redirect, a byte cap counted on decoded bytes, and a timeout. Platform
 * credentials are only ever attached by the caller for hosts it names in `trustedHosts`.
 */

import http, { type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import type { Logger } from './logger.ts';
import { OmniError } from './errors.ts';
import { decodersFor, readCappedBody } from './net/capped-body.ts';
import { baseHeaders, encodeBody, lowercaseKeys, withoutBodyHeaders } from './net/outgoing.ts';
import { pinnedLookup, systemLookup, vetHost, type HostLookup, type VettedHop } from './net/host-guard.ts';
import { HttpClientError, type HttpClient, type HttpFailure, type HttpRequestOptions, type HttpResponse } from './net/http-types.ts';

export { HttpClientError, type HttpClient, type HttpFailure, type HttpRequestOptions, type HttpResponse } from './net/http-types.ts';

/** Options of `createHttpClient`; everything has a production default. */
export interface HttpClientOptions {
  /** DNS resolver (default `dns.promises.lookup(host, { all: true })`); tests inject answers. */
  lookup?: HostLookup;
  userAgent?: string;
  logger?: Logger;
}

const DEFAULT_TIMEOUT_MS = 15_000;
const DEFAULT_MAX_BYTES = 10 * 1024 * 1024;
const DEFAULT_MAX_REDIRECTS = 3;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
// Headers that carry the caller's identity: like fetch, never forwarded to another origin.
const ORIGIN_BOUND_HEADERS = ['authorization', 'cookie', 'proxy-authorization'];
// Refusals by the guard itself: worth a warning, as they may be an SSRF attempt.
const GUARD_REASONS: ReadonlySet<HttpFailure> = new Set(['blocked_address', 'blocked_scheme', 'untrusted_host']);

/** The production HttpClient: node:http(s) with the guards described at the top of this file. */
export function createHttpClient(options: HttpClientOptions = {}): HttpClient {
  const lookup = options.lookup ?? systemLookup;
  const userAgent = options.userAgent ?? 'omnibus';
  // Pools are keyed by host name, so a socket opened for a trusted (maybe private) host must never
  // be reused by a request where that name is not trusted: one pool per side of the line.
  const pool = () => ({ http: new http.Agent({ keepAlive: true }), https: new https.Agent({ keepAlive: true }) });
  const agents = { trusted: pool(), checked: pool() };
  return {
    request: (url, requestOptions = {}) => send(url, requestOptions, { lookup, userAgent, agents, logger: options.logger }),
  };
}

interface ClientContext {
  lookup: HostLookup;
  userAgent: string;
  agents: Record<'trusted' | 'checked', { http: http.Agent; https: https.Agent }>;
  logger: Logger | undefined;
}

async function send(rawUrl: string, options: HttpRequestOptions, context: ClientContext): Promise<HttpResponse> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  const maxRedirects = options.maxRedirects ?? DEFAULT_MAX_REDIRECTS;
  let current = parseUrl(rawUrl);
  // One controller for the whole exchange: DNS, every hop, headers and the body.
  const controller = new AbortController();
  const callerSignal = options.signal;
  const timer = setTimeout(() => {
    controller.abort(new HttpClientError('timeout', `request timed out after ${timeoutMs} ms`));
    callerSignal?.removeEventListener('abort', onCallerAbort);
  }, timeoutMs);
  const onCallerAbort = () => {
    controller.abort(new HttpClientError('aborted', 'request aborted by the caller', { cause: callerSignal?.reason }));
  };
  if (callerSignal?.aborted) onCallerAbort();
  else callerSignal?.addEventListener('abort', onCallerAbort, { once: true });
  let finished = false;
  const finish = () => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    callerSignal?.removeEventListener('abort', onCallerAbort);
  };
  const mapError = (error: unknown): Error => {
    if (controller.signal.aborted) return controller.signal.reason as Error;
    if (error instanceof HttpClientError) return error;
    return new HttpClientError('network', `request failed: ${(error as Error)?.message ?? 'unknown error'}`, { cause: error });
  };

  try {
    const origin = current.origin;
    let method = (options.method ?? 'GET').toUpperCase();
    let { body, contentType } = await encodeBody(options.body);
    let headers = baseHeaders(options.headers, context.userAgent, contentType);
    let crossedOrigin = false;
    for (let redirects = 0; ; redirects++) {
      if (current.protocol !== 'http:' && current.protocol !== 'https:') {
        throw new HttpClientError('blocked_scheme', `scheme ${current.protocol} is not allowed`);
      }
      const hop = await vetHost(current, options.trustedHosts, context.lookup, controller.signal);
      if (current.origin !== origin && !crossedOrigin) {
        crossedOrigin = true;
        for (const name of ORIGIN_BOUND_HEADERS) delete headers[name];
      }
      // Credentials go only to the trusted origin the caller named, never to where it redirects.
      const hopHeaders = hop.trusted && !crossedOrigin ? { ...headers, ...lowercaseKeys(options.credentialHeaders) } : headers;
      const response = await exchange(current, hop, method, hopHeaders, body, controller.signal, context.agents);
      const location = response.headers.location;
      if (REDIRECT_STATUSES.has(response.statusCode ?? 0) && location !== undefined) {
        response.destroy(); // a redirect's body is never wanted; don't download it
        if (redirects >= maxRedirects) {
          throw new HttpClientError('too_many_redirects', `more than ${maxRedirects} redirects from ${hop.host}`);
        }
        const next = parseUrl(location, current);
        // 303 always, and 301/302 after POST, become a GET without a body (what browsers do).
        const status = response.statusCode ?? 0;
        if ((status === 303 && method !== 'HEAD') || ((status === 301 || status === 302) && method === 'POST')) {
          method = 'GET';
          body = undefined;
          headers = withoutBodyHeaders(headers);
        }
        context.logger?.debug({ from: hop.host, to: next.hostname, status }, 'following redirect');
        current = next;
        continue;
      }
      const declared = Number(response.headers['content-length']);
      if (method !== 'HEAD' && Number.isFinite(declared) && declared > maxBytes) {
        response.destroy();
        throw new HttpClientError('too_large', `declared body of ${declared} bytes exceeds ${maxBytes}`);
      }
      return wrapResponse(response, current.href, maxBytes, mapError, finish);
    }
  } catch (error) {
    finish();
    const failure = mapError(error);
    if (failure instanceof HttpClientError && GUARD_REASONS.has(failure.reason)) {
      context.logger?.warn({ host: current.hostname, reason: failure.reason }, 'outbound request blocked');
    }
    throw failure;
  }
}

function exchange(
  url: URL,
  hop: VettedHop,
  method: string,
  headers: OutgoingHttpHeaders,
  body: Uint8Array | undefined,
  signal: AbortSignal,
  agents: ClientContext['agents'],
): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const secure = url.protocol === 'https:';
    const request = (secure ? https : http).request(
      {
        hostname: hop.host,
        // The socket connects only to vetted addresses: no second DNS answer can move it (rebinding).
        lookup: pinnedLookup(hop.addresses),
        port: url.port === '' ? (secure ? 443 : 80) : Number(url.port),
        path: `${url.pathname}${url.search}`,
        method,
        headers: { ...headers, host: url.host },
        agent: agents[hop.trusted ? 'trusted' : 'checked'][secure ? 'https' : 'http'],
        signal,
        ...(secure && isIP(hop.host) === 0 ? { servername: hop.host } : {}),
      },
      resolve,
    );
    request.on('error', reject);
    request.end(body);
  });
}

function wrapResponse(
  response: IncomingMessage,
  url: string,
  maxBytes: number,
  mapError: (error: unknown) => Error,
  finish: () => void,
): HttpResponse {
  const headers = new Headers();
  for (const [name, value] of Object.entries(response.headers)) {
    if (Array.isArray(value)) for (const item of value) headers.append(name, item);
    else if (value !== undefined) headers.set(name, value);
  }
  let consumed = false;
  const stream = (): AsyncIterable<Uint8Array> => {
    if (consumed) throw new Error('response body already read');
    consumed = true;
    let decoders;
    try {
      decoders = decodersFor(response.headers['content-encoding']);
    } catch (error) {
      response.destroy();
      finish();
      throw error;
    }
    return readCappedBody(response, decoders, maxBytes, mapError, finish);
  };
  const bytes = async (): Promise<Uint8Array> => {
    const chunks: Uint8Array[] = [];
    for await (const chunk of stream()) chunks.push(chunk);
    return Buffer.concat(chunks);
  };
  const text = async () => new TextDecoder().decode(await bytes());
  return {
    status: response.statusCode ?? 0,
    headers,
    url,
    stream,
    bytes,
    text,
    json: async <T>() => JSON.parse(await text()) as T,
  };
}

function parseUrl(value: string, base?: URL): URL {
  try {
    return new URL(value, base);
  } catch {
    // The URL itself may hold a token (Telegram file URLs), so it is not repeated in the message.
    throw new HttpClientError('invalid_url', base ? 'redirect Location is not a valid URL' : 'not a valid URL');
  }
}

/**
 * Maps a failed platform request to a contract code, the same way for every channel: timeouts
 * and network errors are retryable (`channel_unavailable`); a guard refusal or an oversized
 * body is an attachment problem when fetching media and a rejection otherwise. An abort (the
 * caller's decision) and anything that is not an HttpClientError pass through unchanged.
 */
export function platformTransportFailure(error: unknown, platform: string, purpose: 'media' | string): unknown {
  if (!(error instanceof HttpClientError) || error.reason === 'aborted') return error;
  const details = { reason: error.reason };
  const media = purpose === 'media';
  switch (error.reason) {
    case 'timeout':
    case 'network':
      return new OmniError('channel_unavailable', `${platform} API unreachable`, { details, cause: error });
    case 'too_large':
      return media
        ? new OmniError('attachment_too_large', `${platform} media exceeds the inbound size limit`, { details, cause: error })
        : new OmniError('channel_unavailable', `${platform} API answered with an oversized body`, { details, cause: error });
    default:
      return media
        ? new OmniError('attachment_unreachable', `${platform} media host refused by the HTTP guard`, { details, cause: error })
        : new OmniError('channel_rejected', `${platform} API host refused by the HTTP guard`, { details, cause: error });
  }
}
