/**
 * The access token, shared by every replica through the core's `TokenCache` (a compare-and-set
 * lease over `SharedState`). It comes from `/cgi-bin/stable_token`, whose
 * normal mode returns the same token while it is valid, so replicas never invalidate each other
 * by fetching. A forced refresh (the only call that invalidates the old token) happens only when
 * WeChat rejected a token and a normal fetch returned that same token, and never twice in 30 s.
 */
import { TokenCache, type FetchedToken } from '../../core/adapter.ts';
import type { Clock } from '../../core/clock.ts';
import type { SharedState } from '../../core/adapter.ts';
import { OmniError } from '../../core/errors.ts';

export type { FetchedToken } from '../../core/adapter.ts';

/** WeChat: forced refreshes at least 30 s apart. */
const FORCE_INTERVAL_MS = 30_000;
/** Refresh 5 minutes early, like WeChat itself. */
const REFRESH_BEFORE_MS = 300_000;

/** The cross-replica access token of one WeChat account. */
export function wechatTokens(options: {
  shared: SharedState;
  clock: Clock;
  /** Calls the stable-token endpoint; `force` invalidates the current token at WeChat. */
  fetch(force: boolean, signal?: AbortSignal): Promise<FetchedToken>;
}): TokenCache {
  const now = () => options.clock.now().getTime();
  return new TokenCache({
    shared: options.shared,
    clock: options.clock,
    platform: 'WeChat',
    refreshBeforeMs: REFRESH_BEFORE_MS,
    async fetch({ rejected, memo }, signal) {
      const fetched = await options.fetch(false, signal);
      if (rejected === undefined || fetched.token !== rejected) return fetched;
      // WeChat still hands out the token it just refused: only a forced refresh replaces it.
      const forcedAt = memo.forcedAt;
      if (forcedAt !== undefined && now() - forcedAt < FORCE_INTERVAL_MS) {
        throw new OmniError('channel_unavailable', 'WeChat rejected the access token right after a forced refresh; retry later');
      }
      const forced = now();
      return { ...(await options.fetch(true, signal)), memo: { forcedAt: forced } };
    },
  });
}
