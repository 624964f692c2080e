/**
 * The access token, shared by every replica through `SharedState` (reference B4, trap 7). It
 * comes from `/cgi-bin/stable_token`, whose normal mode returns the same token while it is
 * valid, so replicas never invalidate each other by fetching. Refreshing still takes a short
 * compare-and-set lease so only one replica calls at a time; the others wait for its result.
 * A forced refresh (the only call that invalidates the old token) happens only when WeChat
 * rejected a token and a normal fetch returned that same token, and never twice in 30 s.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { SharedState } from '../../core/adapter.ts';
import type { Clock } from '../../core/clock.ts';
import { OmniError } from '../../core/errors.ts';

/** The SharedState key (the registry namespaces keys by channel and account). */
export const TOKEN_KEY = 'access_token';

/** What `/cgi-bin/stable_token` answered. */
export interface FetchedToken {
  token: string;
  expiresInSeconds: number;
}

/** The shared record; never logged. */
interface TokenRecord {
  token?: string;
  /** Use until then; after it a replica refreshes (before `expiresAt`, so nobody sends a dying token). */
  refreshAt?: number;
  expiresAt?: number;
  /** When the last forced refresh happened: WeChat allows one per 30 s. */
  forcedAt?: number;
  /** A replica is fetching until then. */
  leaseUntil?: number;
}

/** How long a refreshing replica holds the lease; a crashed one blocks the others this long at most. */
const LEASE_MS = 15_000;
/** WeChat: forced refreshes at least 30 s apart. */
const FORCE_INTERVAL_MS = 30_000;
/** How long a replica waits for another's refresh before giving up (retryable). */
const WAIT_LIMIT_MS = 10_000;
const POLL_MS = 100;

/** Options of the token cache. */
export interface AccessTokensOptions {
  shared: SharedState;
  clock: Clock;
  /** Calls the stable-token endpoint; `force` invalidates the current token at WeChat. */
  fetch(force: boolean, signal?: AbortSignal): Promise<FetchedToken>;
}

/** The cross-replica access token of one account. */
export class AccessTokens {
  readonly #options: AccessTokensOptions;
  /** One refresh per process at a time; concurrent callers share it. */
  #inflight: Promise<string> | null = null;

  constructor(options: AccessTokensOptions) {
    this.#options = options;
  }

  /** A token valid now: the shared one, or a freshly fetched one. */
  async current(signal?: AbortSignal): Promise<string> {
    const record = await this.#read();
    if (usable(record.value, this.#now())) return record.value.token!;
    this.#inflight ??= this.#refresh(undefined, signal).finally(() => {
      this.#inflight = null;
    });
    return this.#inflight;
  }

  /**
   * WeChat refused `rejected` (40001, 42001, 40014): returns a newer token — one another replica
   * already stored, a normal fetch, or as a last resort a forced refresh.
   */
  async replace(rejected: string, signal?: AbortSignal): Promise<string> {
    return this.#refresh(rejected, signal);
  }

  /** Stores a token fetched outside `current` (the credential check), unless another is newer. */
  async store(fetched: FetchedToken): Promise<void> {
    const { value, revision } = await this.#read();
    if (value.leaseUntil !== undefined && value.leaseUntil > this.#now()) return;
    await this.#options.shared.put(TOKEN_KEY, JSON.stringify(this.#record(fetched, value.forcedAt)), revision);
  }

  async #refresh(rejected: string | undefined, signal: AbortSignal | undefined): Promise<string> {
    const started = Date.now();
    for (;;) {
      signal?.throwIfAborted();
      const { value, revision } = await this.#read();
      const now = this.#now();
      if (usable(value, now) && value.token !== rejected) return value.token!;
      if (value.leaseUntil !== undefined && value.leaseUntil > now) {
        if (Date.now() - started > WAIT_LIMIT_MS) {
          throw new OmniError('channel_unavailable', 'WeChat access token is being refreshed by another replica; retry shortly');
        }
        await sleep(POLL_MS, undefined, signal ? { signal } : undefined);
        continue;
      }
      const leased: TokenRecord = { ...value, leaseUntil: now + LEASE_MS };
      if (!(await this.#options.shared.put(TOKEN_KEY, JSON.stringify(leased), revision))) continue;
      return this.#fetchUnderLease(leased, revision + 1, rejected, signal);
    }
  }

  async #fetchUnderLease(leased: TokenRecord, revision: number, rejected: string | undefined, signal: AbortSignal | undefined): Promise<string> {
    const release = () => {
      const { leaseUntil: _lease, ...rest } = leased;
      return this.#options.shared.put(TOKEN_KEY, JSON.stringify(rest), revision).catch(() => false);
    };
    let fetched: FetchedToken;
    let forcedAt = leased.forcedAt;
    try {
      fetched = await this.#options.fetch(false, signal);
      if (rejected !== undefined && fetched.token === rejected) {
        // WeChat still hands out the token it just refused: only a forced refresh replaces it.
        if (forcedAt !== undefined && this.#now() - forcedAt < FORCE_INTERVAL_MS) {
          throw new OmniError('channel_unavailable', 'WeChat rejected the access token right after a forced refresh; retry later');
        }
        forcedAt = this.#now();
        fetched = await this.#options.fetch(true, signal);
      }
    } catch (error) {
      await release();
      throw error;
    }
    // Losing this write only means someone broke a stale lease; the fetched token is valid anyway.
    await this.#options.shared.put(TOKEN_KEY, JSON.stringify(this.#record(fetched, forcedAt)), revision).catch(() => false);
    return fetched.token;
  }

  #record(fetched: FetchedToken, forcedAt: number | undefined): TokenRecord {
    const now = this.#now();
    const lifetime = fetched.expiresInSeconds * 1000;
    // Refresh 5 minutes early like WeChat itself, but never later than half the lifetime, so a
    // token handed out with only 300 s left is not refreshed again at once.
    const refreshAt = now + Math.max(lifetime - 300_000, lifetime / 2);
    return { token: fetched.token, refreshAt, expiresAt: now + lifetime, ...(forcedAt !== undefined ? { forcedAt } : {}) };
  }

  async #read(): Promise<{ value: TokenRecord; revision: number }> {
    const stored = await this.#options.shared.get(TOKEN_KEY);
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
