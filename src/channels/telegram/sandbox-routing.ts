/**
 * How a request to the fake Bot API is routed: `{base}/bot<token>/<method>` with its
 * parameters (query string, JSON, urlencoded or multipart, as Telegram accepts them),
 * `{base}/file/bot<token>/<file_path>` downloads (the routes themselves are the kit's app, in
 * `sandbox.ts`). Request decoding only; what each method does lives in `sandbox-bot-api.ts`.
 */
import type { FakeFile } from './sandbox-media.ts';

/** Where a request goes. */
export type Route =
  | { kind: 'method'; token: string; method: string }
  | { kind: 'file'; token: string; path: string }
  | { kind: 'unknown' };

/** Decoded parameters: text values, JSON values, and uploaded files by field name. */
export interface DecodedParams {
  values: Record<string, unknown>;
  files: Record<string, File>;
  /** The uploaded files once the fake stored them. */
  uploaded?: Record<string, FakeFile>;
}

/** Finds the route of a request path under `basePath`. */
export function routeOf(pathname: string, basePath: string): Route {
  if (basePath !== '' && !pathname.startsWith(`${basePath}/`)) return { kind: 'unknown' };
  const rest = pathname.slice(basePath.length);
  const file = /^\/file\/bot([^/]+)\/(.+)$/.exec(rest);
  if (file !== null) return { kind: 'file', token: safeDecode(file[1]!), path: file[2]!.split('/').map(safeDecode).join('/') };
  const method = /^\/bot([^/]+)\/([A-Za-z]+)$/.exec(rest);
  if (method !== null) return { kind: 'method', token: safeDecode(method[1]!), method: method[2]! };
  return { kind: 'unknown' };
}

/** Reads a Bot API request's parameters the ways Telegram accepts them. */
export async function decodeParams(request: Request): Promise<DecodedParams> {
  const values: Record<string, unknown> = {};
  const files: Record<string, File> = {};
  for (const [name, value] of new URL(request.url).searchParams) values[name] = value;
  if (request.method !== 'POST') return { values, files };
  const type = (request.headers.get('content-type') ?? '').toLowerCase();
  if (type.startsWith('application/json')) {
    const body: unknown = JSON.parse(await request.text());
    if (typeof body === 'object' && body !== null && !Array.isArray(body)) Object.assign(values, body);
  } else if (type.startsWith('multipart/form-data') || type.startsWith('application/x-www-form-urlencoded')) {
    const form = await request.formData();
    for (const [name, value] of form.entries()) {
      if (typeof value === 'string') values[name] = value;
      else files[name] = value;
    }
  }
  return { values, files };
}

/** A parameter that Telegram takes as JSON-serialised text in forms (reply_markup, allowed_updates, ...). */
export function jsonParam(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
