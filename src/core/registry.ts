/**
 * The live adapters, one per enabled account. Hot reload swaps entries atomically; a request
 * that already holds an adapter finishes with it, so an edit never drops in-flight work.
 */
import type { Logger } from 'pino';
import type { AdapterContext, ChannelAdapter, ChannelDefinition } from './adapter.ts';
import type { AccountConfig } from './config/types.ts';
import type { Clock } from './clock.ts';
import type { HttpClient } from './http-client.ts';
import type { Db } from './storage/db.ts';
import { createSharedState } from './storage/shared-state.ts';
import { checkInboundMode } from './inbound/poll-loop.ts';
import type { MediaLinkSigner } from './http/media-links.ts';
import { MAX_LINK_SECONDS } from './http/media-links.ts';

/** One account's live adapter with what the core needs beside it. */
export interface AdapterEntry {
  adapter: ChannelAdapter;
  account: AccountConfig;
  definition: ChannelDefinition;
  /** The window as configured, for events (`24h`, `none`). */
  window: string;
}

/** Builds adapters from account configs and keeps the current set. */
export class AdapterRegistry {
  private entries = new Map<string, AdapterEntry>();

  constructor(
    private readonly deps: {
      channels: ReadonlyMap<string, ChannelDefinition>;
      db: Db;
      http: HttpClient;
      clock: Clock;
      logger: Logger;
      /** Signs `/v1/media/{id}` links (shared key across replicas). */
      links?: MediaLinkSigner;
      /** `http.publicUrl`, read at each call so a reload is seen. */
      publicUrl?: () => string | null;
      /** Rewrites an account before use (sandbox mode points apiBase at the built-in fakes). */
      effective(account: AccountConfig): AccountConfig;
    },
  ) {}

  get(account: string): AdapterEntry | undefined {
    return this.entries.get(account);
  }

  all(): AdapterEntry[] {
    return [...this.entries.values()];
  }

  /** Creates the adapter for an account (throws if the channel's factory refuses the config). */
  build(raw: AccountConfig): AdapterEntry {
    const definition = this.deps.channels.get(raw.channel);
    if (!definition) throw new Error(`no channel adapter named ${raw.channel}`);
    const account = this.deps.effective(raw);
    const context: AdapterContext<unknown> = {
      account: account as AccountConfig<unknown>,
      logger: this.deps.logger.child({ channel: account.channel, account: account.id }),
      http: this.deps.http,
      clock: this.deps.clock,
      shared: createSharedState(this.deps.db, `${account.channel}:${account.id}`),
      publicUrl: this.deps.publicUrl?.() ?? null,
    };
    const { links, publicUrl } = this.deps;
    // Only with a public URL: a platform cannot fetch from a daemon it cannot reach.
    if (links && publicUrl?.()) context.mediaLinks = { url: (mediaId, ttlSeconds) => mediaLink(links, publicUrl, mediaId, ttlSeconds) };
    const adapter = definition.create(context);
    // An account that asks to poll on a channel that cannot is a config error, here before it is live.
    checkInboundMode(adapter);
    return { adapter, account, definition, window: account.session.window };
  }

  /** Replaces the whole set (start and reload); returns the entries that went away. */
  replace(accounts: Iterable<AccountConfig>, keep: (id: string) => boolean = () => false): AdapterEntry[] {
    const next = new Map<string, AdapterEntry>();
    for (const account of accounts) {
      if (!account.enabled) continue;
      const existing = this.entries.get(account.id);
      next.set(account.id, existing && keep(account.id) ? existing : this.build(account));
    }
    const gone = [...this.entries.values()].filter((e) => next.get(e.account.id) !== e);
    this.entries = next;
    return gone;
  }
}

/** An absolute, signed, expiring link to stored media; null when the daemon has no public URL. */
async function mediaLink(links: MediaLinkSigner, publicUrl: () => string | null, mediaId: string, ttlSeconds: number): Promise<string | null> {
  const base = publicUrl();
  if (!base) return null;
  const ttl = Math.min(MAX_LINK_SECONDS, Math.max(60, Math.floor(ttlSeconds)));
  const expires = Math.floor(Date.now() / 1000) + ttl;
  const signature = await links.sign(mediaId, expires);
  return `${base.replace(/\/+$/, '')}/v1/media/${encodeURIComponent(mediaId)}?expires=${expires}&signature=${signature}`;
}
