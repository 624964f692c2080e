/**
 * The console's door to the `/v1` API: `/console/api/v1/*` is the same request, made with
 * the session's API token inside this process, so the console sends, merges and reads
 * exactly as any client does (validation, idempotency, refusal codes). Reads pass; the few
 * writes the console makes are listed, need a token with `write` (403 otherwise) and the
 * session's CSRF token (403 without it).
 */
import type { Context, Hono } from 'hono';
import type { ConsoleSession } from './sessions.ts';
import { sameSecret } from './sessions.ts';

/** The writes the console may make, by method and path under `/v1`. */
const WRITES: ReadonlyArray<[method: string, path: RegExp]> = [
  ['POST', /^\/messages$/],
  ['POST', /^\/contacts\/[^/]+\/(merge|unmerge)$/],
];

/** The console-level refusal, in the API's error shape. */
export function refuse(c: Context, status: 401 | 403 | 404 | 413, code: string, message: string): Response {
  return c.json({ ok: false, error: { code, message } }, status);
}

/** Whether a write carries the session's CSRF token, from this origin. */
export function csrfOk(c: Context, session: ConsoleSession): boolean {
  const origin = c.req.header('origin');
  if (origin !== undefined && origin !== new URL(c.req.url).origin && origin !== forwardedOrigin(c)) return false;
  const presented = c.req.header('x-csrf-token');
  return presented !== undefined && presented.length > 0 && sameSecret(presented, session.csrf);
}

/** The origin a reverse proxy says the browser used, if it says so. */
function forwardedOrigin(c: Context): string | null {
  const proto = c.req.header('x-forwarded-proto');
  const host = c.req.header('x-forwarded-host') ?? c.req.header('host');
  return proto && host ? `${proto.split(',')[0]!.trim()}://${host}` : null;
}

/** Answers one `/console/api/v1/*` request through the `/v1` app. */
export async function forward(c: Context, app: Hono, session: ConsoleSession): Promise<Response> {
  const url = new URL(c.req.url);
  const path = url.pathname.replace(/^\/console\/api\/v1/, '');
  const method = c.req.method;
  if (method !== 'GET') {
    if (!WRITES.some(([m, pattern]) => m === method && pattern.test(path))) return refuse(c, 404, 'not_found', 'no such console route');
    if (!csrfOk(c, session)) return refuse(c, 403, 'csrf_failed', 'the request lacks this page’s CSRF token; reload the page');
    if (session.readOnly) return refuse(c, 403, 'forbidden', 'this token is read-only: it can look, not send or merge');
  }
  const headers = new Headers({ authorization: `Bearer ${session.token}`, accept: 'application/json' });
  const type = c.req.header('content-type');
  if (type) headers.set('content-type', type);
  const body = method === 'GET' ? undefined : await c.req.arrayBuffer();
  const inner = new Request(`${url.origin}/v1${path}${url.search}`, { method, headers, ...(body ? { body } : {}) });
  const answer = await app.fetch(inner);
  // Only the body, its type and (for media) its disposition go back: nothing else of the inner answer.
  const back = new Headers({ 'content-type': answer.headers.get('content-type') ?? 'application/json' });
  const disposition = answer.headers.get('content-disposition');
  if (disposition) back.set('content-disposition', disposition);
  return new Response(answer.body, { status: answer.status, headers: back });
}
