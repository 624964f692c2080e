/**
 * Console logins: an API token, entered once, is exchanged for a session cookie. The session
 * lives in PostgreSQL shared state (any replica accepts it) under the SHA-256 of its id, and holds
 * the SHA-256 of the token, never the token: each request finds the configured token again, so
 * a token removed from `api.tokens` ends its sessions, and its scopes are always the current ones.
 * Each session has its own CSRF token, which every write must echo in `X-CSRF-Token`.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { SharedState } from '../core/adapter.ts';
import type { ApiToken } from '../core/config/types.ts';

/** The session cookie (path `/console`). */
export const SESSION_COOKIE = 'omnibus_console';
/** The login form's double-submit cookie. */
export const LOGIN_COOKIE = 'omnibus_console_login';

const sha256 = (value: string) => createHash('sha256').update(value).digest();
const hex = (value: string) => sha256(value).toString('hex');

/** Constant-time equality of two strings of any length. */
export function sameSecret(a: string, b: string): boolean {
  return timingSafeEqual(sha256(a), sha256(b));
}

/** A fresh random secret, URL- and cookie-safe. */
export function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

/** A logged-in console session, as a request sees it. */
export interface ConsoleSession {
  /** The configured API token the session was opened with (used for the `/v1` call, never sent out). */
  token: string;
  readOnly: boolean;
  csrf: string;
  expiresAt: Date;
}

interface StoredSession {
  tokenDigest: string;
  csrf: string;
  expiresAt: string;
}

/** Opens, finds and ends console sessions. */
export class ConsoleSessions {
  constructor(
    private readonly state: SharedState,
    private readonly tokens: () => ReadonlyArray<ApiToken>,
    private readonly ttlMs: () => number,
  ) {}

  /** The configured token matching `presented` (compared in constant time), or null. */
  findToken(presented: string): ApiToken | null {
    const digest = sha256(presented);
    let found: ApiToken | null = null;
    for (const entry of this.tokens()) if (timingSafeEqual(sha256(entry.token), digest)) found ??= entry;
    return found;
  }

  /** Opens a session for a valid token with `read`; returns the cookie value, or null. */
  async open(presented: string, now: Date): Promise<{ id: string; expiresAt: Date } | null> {
    const token = this.findToken(presented);
    if (!token || !token.scopes.includes('read')) return null;
    const id = newSecret();
    const expiresAt = new Date(now.getTime() + this.ttlMs());
    const stored: StoredSession = { tokenDigest: hex(token.token), csrf: newSecret(), expiresAt: expiresAt.toISOString() };
    const created = await this.state.put(this.key(id), JSON.stringify(stored), 0, { ttlMs: this.ttlMs() });
    return created ? { id, expiresAt } : null;
  }

  /** The live session of a cookie value, or null (unknown, expired, or its token is gone). */
  async find(id: string | undefined, now: Date): Promise<ConsoleSession | null> {
    if (!id || !/^[A-Za-z0-9_-]{43}$/.test(id)) return null;
    const row = await this.state.get(this.key(id));
    if (!row) return null;
    let stored: StoredSession;
    try {
      stored = JSON.parse(row.value) as StoredSession;
    } catch {
      return null;
    }
    const expiresAt = new Date(stored.expiresAt);
    if (!stored.tokenDigest || !(expiresAt.getTime() > now.getTime())) return null;
    const token = this.tokens().find((entry) => sameSecret(hex(entry.token), stored.tokenDigest));
    if (!token || !token.scopes.includes('read')) return null;
    return { token: token.token, readOnly: !token.scopes.includes('write'), csrf: stored.csrf, expiresAt };
  }

  /** Ends a session at once (logout). */
  async close(id: string | undefined): Promise<void> {
    if (!id || !/^[A-Za-z0-9_-]{43}$/.test(id)) return;
    const row = await this.state.get(this.key(id));
    if (row) await this.state.put(this.key(id), '{}', row.revision, { ttlMs: 0 });
  }

  private key(id: string): string {
    return `session:${hex(id)}`;
  }
}
