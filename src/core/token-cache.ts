/**
 * A platform access token shared by every replica through the adapter's `SharedState`. One
 * replica at a time fetches, under a compare-and-set lease kept in the same record; the others
 * wait for its result instead of fetching their own (platforms cap how many tokens live at once,
 * or invalidate the old one on each fetch). The token is refreshed `refreshBeforeMs` before it
 * expires (never later than half its lifetime), so no replica sends a dying token. When the
 * platform refuses a token, `replace` fetches once per refusal: a replica that finds a newer
 * token already stored uses it.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Clock } from './clock.ts';
import { OmniError } from './errors.ts';

/** The part of `SharedState` the cache uses (compare-and-set on a revision; 0 = absent). */
export interface TokenStore {
  get(key: string): Promise<{ value: string; revision: number } | null>;
  put(key: string, value: string, revision: number): Promise<boolean>;
}

/** A token the platform handed out. `memo` is carried to the next fetch (e.g. when a forced refresh happened). */
export interface FetchedToken {
  token: string;
  expiresInSeconds: number;
  memo?: Readonly<Record<string, number>>;
}

/** What a fetch knows: the token the platform just refused, if any, and the last fetch's memo. */
export interface TokenFetchRequest {
  rejected?: string;
  memo: Readonly<Record<string, number>>;
}

/** Options of a token cache. */
export interface TokenCacheOptions {
  shared: TokenStore;
  clock: Clock;
  /** Asks the platform for a token; network I/O, called by one replica at a time. */
  fetch(request: TokenFetchRequest, signal?: AbortSignal): Promise<FetchedToken>;
  /** The platform's name, for the retryable error when another replica's fetch takes too long. */
  platform: string;
  /** How long before expiry to refresh. */
  refreshBeforeMs: number;
  /** The SharedState key; default `access_token`. */
  key?: string;
  /** How long a fetching replica holds the lease (a crashed one blocks the others this long at most). Default 15 s. */
  leaseMs?: number;
  /** How long a caller waits for another replica's fetch before `channel_unavailable`. Default 10 s. */
  waitLimitMs?: number;
  /** How often a waiting caller looks again. Default 100 ms. */
  pollMs?: number;
}

/** The shared record; never logged. */
interface TokenRecord {
  token?: string;
  /** Use until then; after it a replica refreshes. */
  refreshAt?: number;
  expiresAt?: number;
  memo?: Record<string, number>;
  /** A replica is fetching until then. */
  leaseUntil?: number;
}

/** The SharedState key when none is given. */
export const TOKEN_KEY = 'access_token';

/** The cross-replica access token of one account. */
export class TokenCache {
  readonly #options: TokenCacheOptions;
  readonly #key: string;
  /** One refresh per process at a time; concurrent callers share it. */
  #inflight: Promise<string> | null = null;

  constructor(options: TokenCacheOptions) {
    this.#options = options;
    this.#key = options.key ?? TOKEN_KEY;
  }

  /** A token valid now: the shared one, or a freshly fetched one. */
  async current(signal?: AbortSignal): Promise<string> {
    const { value } = await this.#read();
    if (usable(value, this.#now())) return value.token!;
    this.#inflight ??= this.#refresh(undefined, signal).finally(() => {
      this.#inflight = null;
    });
    return this.#inflight;
  }

  /** The platform refused `rejected`: a newer token (another replica's, or a fresh fetch). */
  replace(rejected: string, signal?: AbortSignal): Promise<string> {
    return this.#refresh(rejected, signal);
  }

  /** Stores a token fetched outside the cache (a credential check), unless a fetch is under way. */
  async store(fetched: FetchedToken): Promise<void> {
    const { value, revision } = await this.#read();
    if (value.leaseUntil !== undefined && value.leaseUntil > this.#now()) return;
    await this.#options.shared.put(this.#key, JSON.stringify(this.#record(fetched, value.memo)), revision);
  }

  async #refresh(rejected: string | undefined, signal: AbortSignal | undefined): Promise<string> {
    const { leaseMs = 15_000, waitLimitMs = 10_000, pollMs = 100 } = this.#options;
    const started = Date.now();
    for (;;) {
      signal?.throwIfAborted();
      const { value, revision } = await this.#read();
      const now = this.#now();
      if (usable(value, now) && value.token !== rejected) return value.token!;
      if (value.leaseUntil !== undefined && value.leaseUntil > now) {
        if (Date.now() - started > waitLimitMs) {
          throw new OmniError('channel_unavailable', `${this.#options.platform} access token is being fetched by another replica; retry shortly`);
        }
        await sleep(pollMs, undefined, signal ? { signal } : undefined);
        continue;
      }
      const leased: TokenRecord = { ...value, leaseUntil: now + leaseMs };
      if (!(await this.#options.shared.put(this.#key, JSON.stringify(leased), revision))) continue;
      return this.#fetchUnderLease(leased, revision + 1, rejected, signal);
    }
  }

  async #fetchUnderLease(leased: TokenRecord, revision: number, rejected: string | undefined, signal: AbortSignal | undefined): Promise<string> {
    let fetched: FetchedToken;
    try {
      fetched = await this.#options.fetch({ ...(rejected !== undefined ? { rejected } : {}), memo: leased.memo ?? {} }, signal);
    } catch (error) {
      const { leaseUntil: _lease, ...rest } = leased;
      await this.#options.shared.put(this.#key, JSON.stringify(rest), revision).catch(() => false);
      throw error;
    }
    // Losing this write only means someone broke a stale lease; the fetched token is valid anyway.
    await this.#options.shared.put(this.#key, JSON.stringify(this.#record(fetched, leased.memo)), revision).catch(() => false);
    return fetched.token;
  }

  #record(fetched: FetchedToken, previousMemo: Record<string, number> | undefined): TokenRecord {
    const now = this.#now();
    const lifetime = fetched.expiresInSeconds * 1000;
    // Early by refreshBeforeMs, but never later than half the lifetime: a token handed out with
    // little time left is not refreshed again at once.
    const refreshAt = now + Math.max(lifetime - this.#options.refreshBeforeMs, lifetime / 2);
    const memo = fetched.memo ?? previousMemo;
    return { token: fetched.token, refreshAt, expiresAt: now + lifetime, ...(memo !== undefined ? { memo: { ...memo } } : {}) };
  }

  async #read(): Promise<{ value: TokenRecord; revision: number }> {
    const stored = await this.#options.shared.get(this.#key);
    if (stored === null) return { value: {}, revision: 0 };
    return { value: parseRecord(stored.value), revision: stored.revision };
  }

  #now(): number {
    return this.#options.clock.now().getTime();
  }
}

function usable(record: TokenRecord, now: number): boolean {
  return typeof record.token === 'string' && record.token !== '' && typeof record.refreshAt === 'number' && record.refreshAt > now;
}

/** A damaged record is treated as empty: the next caller fetches a token and overwrites it. */
function parseRecord(text: string): TokenRecord {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as TokenRecord) : {};
  } catch {
    return {};
  }
}
