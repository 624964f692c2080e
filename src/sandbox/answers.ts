/**
 * Building a fake's answers: JSON and XML bodies with the platform's exact content type and
 * status, and the request bodies a route reads without throwing on bad input. Error *shapes*
 * (Graph's `{ error }`, WeChat's `{ errcode, errmsg }`) are the channel's; these are the bricks.
 */

/** A JSON answer; `contentType` is the platform's own (some add `; charset=UTF-8`, some `; encoding=utf-8`). */
export function jsonAnswer(body: unknown, options: { status?: number; contentType?: string; headers?: Record<string, string> } = {}): Response {
  return new Response(JSON.stringify(body), {
    status: options.status ?? 200,
    headers: { 'content-type': options.contentType ?? 'application/json', ...options.headers },
  });
}

/** An XML answer (WeChat's passive replies, SOAP-ish platforms). */
export function xmlAnswer(xml: string, options: { status?: number; contentType?: string; headers?: Record<string, string> } = {}): Response {
  return new Response(xml, { status: options.status ?? 200, headers: { 'content-type': options.contentType ?? 'application/xml; charset=utf-8', ...options.headers } });
}

/** A plain-text answer (download hosts answer errors this way). */
export function textAnswer(text: string, status: number): Response {
  return new Response(text, { status, headers: { 'content-type': 'text/plain; charset=utf-8' } });
}

/** A media download answer with the stored bytes, mime type and length. */
export function bytesAnswer(bytes: Uint8Array, mime: string, headers: Record<string, string> = {}): Response {
  return new Response(bytes as unknown as ConstructorParameters<typeof Response>[0], {
    status: 200,
    headers: { 'content-type': mime, 'content-length': String(bytes.byteLength), ...headers },
  });
}

/** The request body as a JSON object; undefined for anything else (not JSON, an array, a scalar). */
export async function readJsonObject(request: Request): Promise<Record<string, unknown> | undefined> {
  try {
    const value: unknown = JSON.parse(await request.text());
    return isRecord(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** Whether a value is a plain JSON object. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
