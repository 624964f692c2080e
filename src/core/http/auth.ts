/**
 * Bearer-token auth for `/v1/*`: scope `read` for GET, `write` otherwise. A missing or wrong
 * token gets 401 and learns nothing (same answer, constant-time compare).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import type { ApiToken } from '../config/types.ts';

const digest = (value: string) => createHash('sha256').update(value).digest();

/** Middleware checking `Authorization: Bearer <token>` against the configured tokens. */
export function bearerAuth(tokens: () => ReadonlyArray<ApiToken>): MiddlewareHandler {
  return async (c, next) => {
    const header = c.req.header('authorization') ?? '';
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    const needed = c.req.method === 'GET' || c.req.method === 'HEAD' ? 'read' : 'write';
    // Comparing fixed-length digests keeps the compare constant-time whatever the lengths.
    const presented = digest(match?.[1] ?? '');
    const ok = tokens().some((t) => timingSafeEqual(digest(t.token), presented) && t.scopes.includes(needed));
    if (!match || !ok) {
      return c.json({ error: { code: 'unauthorized', message: 'missing or invalid API token' } }, 401, { 'www-authenticate': 'Bearer' });
    }
    await next();
  };
}
