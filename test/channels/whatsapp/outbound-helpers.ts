/**
 * Test material for WhatsApp outbound: an HttpClient that answers in memory (from the fake's
 * `fetch` or a script) and records every request with its parsed body, and outbound messages.
 */
import { createHash } from 'node:crypto';
import type { OutboundMedia, OutboundMessage, OutboundPart } from '../../../src/core/adapter.ts';
import { HttpClientError, type HttpClient, type HttpRequestOptions } from '../../../src/core/http-client.ts';
import { hostAllowed, toHttpResponse } from '../../conformance/fakes.ts';

/** A request as the platform saw it. */
export interface SeenRequest {
  method: string;
  url: URL;
  headers: Headers;
  /** JSON bodies parsed; multipart bodies as their fields (files as `{ name, type, size }`). */
  body: any;
  options: HttpRequestOptions;
  /** A copy of the answer, for tests that read what the platform said. */
  answer?: Response;
}

/** An HttpClient that records requests and answers them with `answer`. */
export interface InMemoryHttpClient extends HttpClient {
  readonly seen: SeenRequest[];
}

/** Answers each request with `answer` (a Response, or an HttpClientError to throw). */
export function inMemoryHttpClient(answer: (request: Request) => Response | HttpClientError | Promise<Response | HttpClientError>): InMemoryHttpClient {
  const seen: SeenRequest[] = [];
  return {
    seen,
    async request(url, options = {}) {
      const target = new URL(url);
      if (!hostAllowed(target.hostname, options.trustedHosts)) throw new HttpClientError('untrusted_host', 'host not trusted');
      const headers = new Headers({ ...options.headers, ...(options.trustedHosts !== undefined ? options.credentialHeaders : {}) });
      const init: RequestInit = { method: options.method ?? 'GET', headers };
      if (options.body !== undefined) init.body = options.body as RequestInit['body'];
      const request = new Request(url, init);
      const entry: SeenRequest = { method: request.method, url: target, headers: request.headers, body: await readBody(options.body), options };
      seen.push(entry);
      const result = await answer(request);
      if (result instanceof HttpClientError) throw result;
      entry.answer = result.clone();
      return toHttpResponse(result, url, options.maxBytes);
    },
  };
}

/** The client talking to a fake (anything with a fetch handler). */
export function fakeHttpClient(fake: { fetch(request: Request): Response | Promise<Response> }): InMemoryHttpClient {
  return inMemoryHttpClient((request) => fake.fetch(request));
}

async function readBody(body: HttpRequestOptions['body']): Promise<unknown> {
  if (body === undefined) return undefined;
  if (typeof body === 'string') return JSON.parse(body);
  if (body instanceof FormData) {
    const fields: Record<string, unknown> = {};
    for (const [name, value] of body.entries()) {
      fields[name] = typeof value === 'string' ? value : { name: value.name, type: value.type, size: value.size };
    }
    return fields;
  }
  return body;
}

/** A JSON Graph answer. */
export function graphAnswer(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });
}

/** A Graph error answer in Meta's shape. */
export function graphErrorAnswer(status: number, code: number, title: string, headers: Record<string, string> = {}, details = title): Response {
  return graphAnswer(status, { error: { message: `(#${code}) ${title}`, type: 'OAuthException', code, error_data: { messaging_product: 'whatsapp', details }, fbtrace_id: 'AbCdEfGhIjK' } }, headers);
}

/** Media bytes as the core hands them over (typed from bytes, hashed). */
export function media(mime: string, ext: string, filename?: string): OutboundMedia {
  const bytes = new TextEncoder().encode(`fake ${ext} bytes`);
  const result: OutboundMedia = { id: `med_${ext}`, bytes, mime, ext, size: bytes.byteLength, sha256: createHash('sha256').update(bytes).digest('hex') };
  if (filename !== undefined) result.filename = filename;
  return result;
}

let counter = 0;

/** An outbound message to `to` with the given parts (and optional extras). */
export function outbound(parts: OutboundPart[], extra: Partial<OutboundMessage> = {}, to = '16315551234'): OutboundMessage {
  counter++;
  return { messageId: `msg_${counter}`, idempotencyKey: `key-${counter}`, to: { externalId: to, conversationExternalId: to }, parts, ...extra };
}

/** An AbortSignal that never fires. */
export const noAbort = new AbortController().signal;
