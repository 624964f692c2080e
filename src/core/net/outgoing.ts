/**
 * Building the outgoing side of a request: body bytes and header sets. Bodies are buffered, not
 * streamed, so a 307/308 redirect can send them again.
 */
import type { HttpRequestOptions } from './http-types.ts';
import { ACCEPT_ENCODING } from './capped-body.ts';

/** The request body as bytes plus the content-type it implies. */
export async function encodeBody(body: HttpRequestOptions['body']): Promise<{ body: Uint8Array | undefined; contentType: string | undefined }> {
  if (body === undefined) return { body: undefined, contentType: undefined };
  if (typeof body === 'string') return { body: Buffer.from(body, 'utf8'), contentType: 'text/plain; charset=utf-8' };
  if (body instanceof Uint8Array) return { body, contentType: undefined };
  // Response serialises FormData into multipart with a boundary; buffered so redirects can resend it.
  const encoded = new Response(body);
  return { body: new Uint8Array(await encoded.arrayBuffer()), contentType: encoded.headers.get('content-type') ?? undefined };
}

/** Lowercased request headers with the client's defaults; the caller cannot set Host or Content-Length. */
export function baseHeaders(
  callerHeaders: Record<string, string> | undefined,
  userAgent: string,
  contentType: string | undefined,
): Record<string, string> {
  const headers: Record<string, string> = { 'user-agent': userAgent, 'accept-encoding': ACCEPT_ENCODING };
  if (contentType !== undefined) headers['content-type'] = contentType;
  Object.assign(headers, lowercaseKeys(callerHeaders));
  // A multipart boundary chosen by the encoder must win over a caller's generic content-type.
  if (contentType?.startsWith('multipart/form-data')) headers['content-type'] = contentType;
  delete headers['host'];
  delete headers['content-length'];
  return headers;
}

/** Headers for a redirect that turned the request into a GET. */
export function withoutBodyHeaders(headers: Record<string, string>): Record<string, string> {
  const { 'content-type': _type, 'content-length': _length, ...rest } = headers;
  return rest;
}

/** Header names are case-insensitive; compare and override them lowercased. */
export function lowercaseKeys(headers: Record<string, string> | undefined): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) result[name.toLowerCase()] = value;
  return result;
}
