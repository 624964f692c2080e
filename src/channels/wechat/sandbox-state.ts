/**
 * What the fake WeChat API keeps between calls: the accounts it serves, access tokens with
 * WeChat's invalidation rules, and per-user customer-service windows with their quotas. Routes
 * (`sandbox-api.ts`, `sandbox-media.ts`) only take a `FakeState`.
 */
import { randomBytes } from 'node:crypto';
import type { AccountConfig } from '../../core/config/types.ts';
import type { Clock } from '../../core/clock.ts';
import type { WeChatSettings } from './config.ts';
import type { FakeMediaStore } from './sandbox-media.ts';

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
  accounts: Map<string, WeChatAccount>;
  clock: Clock;
  basePath: string;
  tokens: FakeTokens;
  sessions: FakeSessions;
  media: FakeMediaStore;
  sent: SentMessage[];
  /** Errcodes the next calls answer with (tests steer the fake with `failNext`), per kind of call. */
  failures: { api: InjectedError[]; token: InjectedError[] };
}

/** Index accounts by AppID, skipping any without one so a bad reload cannot crash a route. */
export function indexAccounts(accounts: ReadonlyArray<WeChatAccount>): Map<string, WeChatAccount> {
  const byAppId = new Map<string, WeChatAccount>();
  for (const account of accounts) {
    const appId = account.settings?.appId;
    if (typeof appId === 'string' && appId !== '') byAppId.set(appId, account);
  }
  return byAppId;
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
  return new Response(JSON.stringify({ errcode, errmsg: `${errmsg} rid: ${rid}` }), { status: 200, headers: { 'content-type': contentType } });
}

/** A WeChat JSON success answer. */
export function wechatJson(body: unknown): Response {
  return new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json; encoding=utf-8' } });
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

interface Allowance {
  until: number;
  remaining: number;
}

interface UserRecord {
  subscribed: boolean;
  subscribedAt: number;
  message?: Allowance;
  event?: Allowance;
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

/** Per-user windows: what the user did last, and what the account may still send. */
export class FakeSessions {
  readonly #users = new Map<string, UserRecord>();
  constructor(private readonly rules: SessionRules = WECHAT_SESSION_RULES) {}

  /** Records what a user did; a message renews the 48 h window and its quota. */
  note(appId: string, openId: string, kind: InboundKind, at: number): void {
    const key = `${appId}\u0000${openId}`;
    const user = this.#users.get(key) ?? { subscribed: true, subscribedAt: at };
    switch (kind) {
      case 'unsubscribe':
        this.#users.set(key, { subscribed: false, subscribedAt: user.subscribedAt });
        return;
      case 'message':
        user.subscribed = true;
        user.message = { until: at + this.rules.windowMs, remaining: this.rules.messageQuota };
        break;
      case 'follow':
        user.subscribed = true;
        user.subscribedAt = at;
        user.event = { until: at + this.rules.eventMs, remaining: this.rules.eventQuota };
        break;
      case 'click':
      case 'scan':
        user.event = { until: at + this.rules.eventMs, remaining: this.rules.eventQuota };
        break;
    }
    this.#users.set(key, user);
  }

  /** Spends one message of the user's allowance: 0 when allowed, else the errcode WeChat answers. */
  consume(appId: string, openId: string, now: number): number {
    const user = this.#users.get(`${appId}\u0000${openId}`);
    if (user === undefined) return 40003;
    if (!user.subscribed) return 45015;
    // The short event allowance is spent first: it is gone in a minute anyway.
    const open = [user.event, user.message].filter((allowance): allowance is Allowance => allowance !== undefined && allowance.until > now);
    if (open.length === 0) return 45015;
    const usable = open.find((allowance) => allowance.remaining > 0);
    if (usable === undefined) return 45047;
    usable.remaining--;
    return 0;
  }

  /** What the fake knows of a user, for `user/info`. */
  user(appId: string, openId: string): { subscribed: boolean; subscribedAt: number } | undefined {
    const user = this.#users.get(`${appId}\u0000${openId}`);
    return user === undefined ? undefined : { subscribed: user.subscribed, subscribedAt: user.subscribedAt };
  }
}
