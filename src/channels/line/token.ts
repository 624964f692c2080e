/**
 * The channel access token. A long-lived token from the console is used as it is. With
 * `channelId` + `channelSecret`, short-lived tokens (v2 OAuth, 30 days) are issued and shared by
 * every replica through the core's `TokenCache`: one replica at a time refreshes under a
 * compare-and-set lease over `SharedState`, the others wait for its result. LINE keeps at most
 * 30 such tokens per channel and revokes the oldest, so replicas must never each issue their own.
 */
import { TokenCache, type FetchedToken, type SharedState } from '../../core/adapter.ts';
import type { Clock } from '../../core/clock.ts';

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
export type IssuedToken = FetchedToken;

/** Refresh a day before expiry (30-day tokens), or at half the lifetime for short ones. */
const REFRESH_BEFORE_MS = 86_400_000;

/** Short-lived tokens shared across replicas (the core's `TokenCache`). */
export class SharedTokens implements TokenSource {
  readonly field = 'channelSecret' as const;
  readonly #cache: TokenCache;

  constructor(options: { shared: SharedState; clock: Clock; issue(signal?: AbortSignal): Promise<IssuedToken> }) {
    this.#cache = new TokenCache({
      shared: options.shared,
      clock: options.clock,
      platform: 'LINE',
      refreshBeforeMs: REFRESH_BEFORE_MS,
      // A refused token is replaced by a newly issued one (LINE never hands the same one twice).
      fetch: (_request, signal) => options.issue(signal),
    });
  }

  current(signal?: AbortSignal): Promise<string> {
    return this.#cache.current(signal);
  }

  replace(rejected: string, signal?: AbortSignal): Promise<string> {
    return this.#cache.replace(rejected, signal);
  }
}
