/**
 * What the fake WeChat API keeps between calls: the accounts it serves (by AppID), access
 * tokens with WeChat's invalidation rules, and who follows the account with the
 * customer-service windows and quotas WeChat grants them. Windows, media, accounts and the
 * failure queue are the sandbox kit's; routes (`sandbox-api.ts`, `sandbox-media.ts`) only take
 * a `FakeState`.
 */
import { randomBytes } from 'node:crypto';
import type { AccountConfig } from '../../core/config/types.ts';
import type { Clock } from '../../core/clock.ts';
import { AccountIndex, ConversationWindows, jsonAnswer, type FailureQueue, type MediaStore } from '../../sandbox/index.ts';
import type { WeChatSettings } from './config.ts';

/** A WeChat account as the sandbox sees it. */
export type WeChatAccount = AccountConfig<WeChatSettings>;

/** What a user did, as far as the customer-service rules care. */
export type InboundKind = 'message' | 'follow' | 'click' | 'scan' | 'unsubscribe';

/** A customer-service message the fake accepted. */
export interface SentMessage {
  appId: string;
  openId: string;
  msgtype: string;
  body: Record<string, unknown>;
  at: Date;
}

/** An error a test asked the fake to answer. */
export interface InjectedError {
  errcode: number;
  errmsg?: string;
}

/** The mutable state behind one fake. */
export interface FakeState {
  /** Accounts by AppID, replaced wholesale by `setAccounts`. */
  accounts: AccountIndex<WeChatSettings>;
  clock: Clock;
  basePath: string;
  tokens: FakeTokens;
  sessions: FakeSessions;
  media: MediaStore;
  sent: SentMessage[];
  /**
   * Errcodes the next calls answer with (tests steer the fake with `failNext`): endpoint `api`
   * is every call with an access token, `token` is `/cgi-bin/stable_token`.
   */
  failures: FailureQueue<InjectedError>;
}

/** Index accounts by AppID (accounts without one are skipped). */
export function indexAccounts(accounts: ReadonlyArray<WeChatAccount>): AccountIndex<WeChatSettings> {
  return new AccountIndex<WeChatSettings>((account) => account.settings?.appId, accounts);
}

/** WeChat's error messages for the codes the fake answers. */
export const ERRMSG: Readonly<Record<number, string>> = {
  40001: 'invalid credential, access_token is invalid or not latest',
  40002: 'invalid grant_type',
  40003: 'invalid openid',
  40004: 'invalid media type',
  40005: 'invalid file type',
  40007: 'invalid media_id',
  40008: 'invalid message type',
  40009: 'invalid image size',
  40010: 'invalid voice size',
  40011: 'invalid video size',
  40012: 'invalid thumb size',
  40013: 'invalid appid',
  40164: 'invalid ip, not in whitelist',
  40125: 'invalid appsecret',
  41001: 'access_token missing',
  41006: 'media_id missing',
  42001: 'access_token expired',
  44002: 'empty post data',
  44003: 'empty news data',
  44004: 'empty content',
  41005: 'media data missing',
  45009: 'reach max api daily quota limit',
  45011: 'api minute-quota reach limit, must slower, retry next minute',
  45015: 'response out of time limit or subscription is canceled',
  45047: 'out of response count limit',
  47001: 'data format error',
  48001: 'api unauthorized',
};

/** A WeChat error answer: always HTTP 200 with `{ errcode, errmsg }`, errmsg ending in a request id. */
export function wechatError(errcode: number, errmsg = ERRMSG[errcode] ?? 'system error', contentType = 'application/json; encoding=utf-8'): Response {
  const rid = `${hex(4)}-${hex(4)}-${hex(4)}`;
  return jsonAnswer({ errcode, errmsg: `${errmsg} rid: ${rid}` }, { contentType });
}

/** A WeChat JSON success answer. */
export function wechatJson(body: unknown): Response {
  return jsonAnswer(body, { contentType: 'application/json; encoding=utf-8' });
}

function hex(bytes: number): string {
  return randomBytes(bytes).toString('hex');
}

const TOKEN_LIFETIME_MS = 7_200_000;
/** Stable tokens are renewed this long before they expire; classic tokens overlap this long. */
const RENEW_BEFORE_MS = 300_000;
const FORCE_INTERVAL_MS = 30_000;
const FORCES_PER_DAY = 20;

interface IssuedToken {
  appId: string;
  expiresAt: number;
  /** From then on WeChat answers 40001 ("not latest"): at once when forced, 5 min after a classic renewal. */
  revokedAt?: number;
}

/** Access tokens: `/cgi-bin/stable_token` and `/cgi-bin/token`, isolated from each other. */
export class FakeTokens {
  readonly #issued = new Map<string, IssuedToken>();
  readonly #stable = new Map<string, string>();
  readonly #classic = new Map<string, string>();
  readonly #forces = new Map<string, number[]>();
  /** How many tokens each AppID was issued, for tests. */
  readonly issuedCount = new Map<string, number>();

  /** Stable token: the same token while valid; `force` revokes it (≤ 20 a day, ≥ 30 s apart). */
  stable(appId: string, force: boolean, now: number): { token: string; expiresIn: number } | { errcode: number } {
    const currentId = this.#stable.get(appId);
    const current = currentId === undefined ? undefined : this.#issued.get(currentId);
    if (force) {
      const forces = (this.#forces.get(appId) ?? []).filter((at) => now - at < 86_400_000);
      if (forces.length >= FORCES_PER_DAY) return { errcode: 45009 };
      if (forces.length > 0 && now - forces[forces.length - 1]! < FORCE_INTERVAL_MS) return { errcode: 45011 };
      this.#forces.set(appId, [...forces, now]);
      if (current !== undefined) current.revokedAt = now;
    } else if (current !== undefined && current.revokedAt === undefined && current.expiresAt - now > RENEW_BEFORE_MS) {
      return { token: currentId!, expiresIn: Math.floor((current.expiresAt - now) / 1000) };
    }
    // A normal renewal leaves the old token valid until its own expiry; a forced one does not.
    const token = this.#issue(appId, now);
    this.#stable.set(appId, token);
    return { token, expiresIn: TOKEN_LIFETIME_MS / 1000 };
  }

  /** Classic token: every call issues a new one and the previous stays valid 5 more minutes. */
  classic(appId: string, now: number): { token: string; expiresIn: number } {
    const previousId = this.#classic.get(appId);
    const previous = previousId === undefined ? undefined : this.#issued.get(previousId);
    if (previous !== undefined) previous.revokedAt = Math.min(previous.revokedAt ?? Number.POSITIVE_INFINITY, now + RENEW_BEFORE_MS);
    const token = this.#issue(appId, now);
    this.#classic.set(appId, token);
    return { token, expiresIn: TOKEN_LIFETIME_MS / 1000 };
  }

  /** The AppID a token belongs to, or the errcode WeChat answers for it. */
  check(token: string | undefined, now: number): { appId: string } | { errcode: number } {
    if (token === undefined || token === '') return { errcode: 41001 };
    const issued = this.#issued.get(token);
    if (issued === undefined || (issued.revokedAt !== undefined && issued.revokedAt <= now)) return { errcode: 40001 };
    if (issued.expiresAt <= now) return { errcode: 42001 };
    return { appId: issued.appId };
  }

  #issue(appId: string, now: number): string {
    // Real tokens are long opaque strings; 136 characters of base64url look the part.
    const token = randomBytes(102).toString('base64url');
    this.#issued.set(token, { appId, expiresAt: now + TOKEN_LIFETIME_MS });
    this.issuedCount.set(appId, (this.issuedCount.get(appId) ?? 0) + 1);
    return token;
  }
}

interface Follower {
  subscribed: boolean;
  subscribedAt: number;
}

/** The rules of the fake's customer-service windows. */
export interface SessionRules {
  windowMs: number;
  messageQuota: number;
  eventMs: number;
  eventQuota: number;
}

/** WeChat's current rules: 5 messages in 48 h after a user message, 3 in 1 minute after an event. */
export const WECHAT_SESSION_RULES: SessionRules = { windowMs: 48 * 3_600_000, messageQuota: 5, eventMs: 60_000, eventQuota: 3 };

/** Who follows each account, and the customer-service allowances their actions granted. */
export class FakeSessions {
  readonly #followers = new Map<string, Follower>();
  readonly #windows: ConversationWindows;

  constructor(clock: Clock, rules: SessionRules = WECHAT_SESSION_RULES) {
    // The short event allowance is spent first: it is gone in a minute anyway.
    this.#windows = new ConversationWindows({
      clock,
      rules: [
        { name: 'event', durationMs: rules.eventMs, quota: rules.eventQuota },
        { name: 'message', durationMs: rules.windowMs, quota: rules.messageQuota },
      ],
    });
  }

  /** Records what a user did; a message renews the 48 h window and its quota. */
  note(appId: string, openId: string, kind: InboundKind, at: number): void {
    const key = `${appId}\u0000${openId}`;
    const follower = this.#followers.get(key) ?? { subscribed: true, subscribedAt: at };
    if (kind === 'unsubscribe') {
      this.#followers.set(key, { subscribed: false, subscribedAt: follower.subscribedAt });
      this.#windows.close(appId, openId);
      return;
    }
    follower.subscribed = true;
    if (kind === 'follow') follower.subscribedAt = at;
    this.#followers.set(key, follower);
    this.#windows.grant(appId, openId, kind === 'message' ? 'message' : 'event', new Date(at));
  }

  /** Spends one message of the user's allowance: 0 when allowed, else the errcode WeChat answers. */
  consume(appId: string, openId: string): number {
    const follower = this.#followers.get(`${appId}\u0000${openId}`);
    if (follower === undefined) return 40003;
    if (!follower.subscribed) return 45015;
    const outcome = this.#windows.spend(appId, openId);
    return outcome === 'ok' ? 0 : outcome === 'exhausted' ? 45047 : 45015;
  }

  /** What the fake knows of a user, for `user/info`. */
  user(appId: string, openId: string): { subscribed: boolean; subscribedAt: number } | undefined {
    const follower = this.#followers.get(`${appId}\u0000${openId}`);
    return follower === undefined ? undefined : { ...follower };
  }
}
