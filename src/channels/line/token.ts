/**
 * The channel access token. A long-lived token from the console is used as it is. With
 * `channelId` + `channelSecret`, short-lived tokens (v2 OAuth, 30 days) are issued and shared by
 * every replica through `SharedState`: one replica at a time refreshes under a compare-and-set
 * lease, the others wait for its result. LINE keeps at most 30 such tokens per channel and
 * revokes the oldest, so replicas must never each issue their own.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { SharedState } from '../../core/adapter.ts';
import type { Clock } from '../../core/clock.ts';
import { OmniError } from '../../core/errors.ts';

/** Where `send`, media and profile calls get their bearer token. */
export interface TokenSource {
  /** The config field to name when LINE refuses the credentials. */
  readonly field: 'channelAccessToken' | 'channelSecret';
  current(signal?: AbortSignal): Promise<string>;
  /** LINE refused `rejected` (401): a newer token, or the same one when nothing newer can exist. */
  replace(rejected: string, signal?: AbortSignal): Promise<string>;
}

/** A long-lived token: nothing to refresh. */
export function staticToken(token: string): TokenSource {
  return { field: 'channelAccessToken', current: async () => token, replace: async () => token };
}

/** What `/v2/oauth/accessToken` answered. */
export interface IssuedToken {
  token: string;
  expiresInSeconds: number;
}

/** The SharedState key (the registry namespaces keys by channel and account). */
export const TOKEN_KEY = 'access_token';

interface TokenRecord {
  token?: string;
  refreshAt?: number;
  expiresAt?: number;
  leaseUntil?: number;
}

const LEASE_MS = 15_000;
const WAIT_LIMIT_MS = 10_000;
const POLL_MS = 100;
/** Refresh a day before expiry (30-day tokens), or at half the lifetime for short ones. */
const REFRESH_BEFORE_MS = 86_400_000;

/** Short-lived tokens shared across replicas. */
export class SharedTokens implements TokenSource {
  readonly field = 'channelSecret' as const;
  readonly #shared: SharedState;
  readonly #clock: Clock;
  readonly #issue: (signal?: AbortSignal) => Promise<IssuedToken>;
  #inflight: Promise<string> | null = null;

  constructor(options: { shared: SharedState; clock: Clock; issue(signal?: AbortSignal): Promise<IssuedToken> }) {
    this.#shared = options.shared;
    this.#clock = options.clock;
    this.#issue = options.issue;
  }

  async current(signal?: AbortSignal): Promise<string> {
    const { value } = await this.#read();
    if (usable(value, this.#now())) return value.token!;
    this.#inflight ??= this.#refresh(undefined, signal).finally(() => {
      this.#inflight = null;
    });
    return this.#inflight;
  }

  replace(rejected: string, signal?: AbortSignal): Promise<string> {
    return this.#refresh(rejected, signal);
  }

  async #refresh(rejected: string | undefined, signal: AbortSignal | undefined): Promise<string> {
    const started = Date.now();
    for (;;) {
      signal?.throwIfAborted();
      const { value, revision } = await this.#read();
      const now = this.#now();
      if (usable(value, now) && value.token !== rejected) return value.token!;
      if (value.leaseUntil !== undefined && value.leaseUntil > now) {
        if (Date.now() - started > WAIT_LIMIT_MS) throw new OmniError('channel_unavailable', 'LINE access token is being issued by another replica; retry shortly');
        await sleep(POLL_MS, undefined, signal ? { signal } : undefined);
        continue;
      }
      const leased: TokenRecord = { ...value, leaseUntil: now + LEASE_MS };
      if (!(await this.#shared.put(TOKEN_KEY, JSON.stringify(leased), revision))) continue;
      let issued: IssuedToken;
      try {
        issued = await this.#issue(signal);
      } catch (error) {
        const { leaseUntil: _lease, ...rest } = leased;
        await this.#shared.put(TOKEN_KEY, JSON.stringify(rest), revision + 1).catch(() => false);
        throw error;
      }
      const lifetime = issued.expiresInSeconds * 1000;
      const record: TokenRecord = { token: issued.token, expiresAt: now + lifetime, refreshAt: now + Math.max(lifetime - REFRESH_BEFORE_MS, lifetime / 2) };
      // Losing this write only means another replica broke a stale lease; the token is valid anyway.
      await this.#shared.put(TOKEN_KEY, JSON.stringify(record), revision + 1).catch(() => false);
      return issued.token;
    }
  }

  async #read(): Promise<{ value: TokenRecord; revision: number }> {
    const stored = await this.#shared.get(TOKEN_KEY);
    if (stored === null) return { value: {}, revision: 0 };
    try {
      const value: unknown = JSON.parse(stored.value);
      return { value: typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as TokenRecord) : {}, revision: stored.revision };
    } catch {
      return { value: {}, revision: stored.revision };
    }
  }

  #now(): number {
    return this.#clock.now().getTime();
  }
}

function usable(record: TokenRecord, now: number): boolean {
  return typeof record.token === 'string' && record.token !== '' && typeof record.refreshAt === 'number' && record.refreshAt > now;
}
