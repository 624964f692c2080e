/**
 * What the fake Messaging API keeps between calls: the channels it serves, issued tokens, the
 * reply tokens handed out with webhooks (single use, one minute), accepted retry keys, friends
 * and profiles, the monthly quota and every message it accepted. Routes only take a `FakeState`.
 */
import { randomBytes, randomInt } from 'node:crypto';
import type { AccountConfig } from '../../core/config/types.ts';
import type { Clock } from '../../core/clock.ts';
import type { LineSettings } from './config.ts';
import type { FailureQueue } from './sandbox-failures.ts';
import type { FakeMediaStore } from './sandbox-media-store.ts';

/** A LINE channel as the sandbox sees it. */
export type LineAccount = AccountConfig<LineSettings>;

/** The kinds of call a test can script a failure for. */
export type CallKind = 'token' | 'reply' | 'push' | 'content' | 'profile' | 'quota' | 'info';

/** A message the fake accepted. */
export interface SentMessage {
  accountId: string;
  route: 'reply' | 'push';
  /** The user, group or room it went to. */
  to: string;
  messages: Array<Record<string, unknown>>;
  retryKey?: string;
  /** False for a push to someone who is not a friend: LINE answers 200 and delivers nothing. */
  delivered: boolean;
  ids: string[];
  at: Date;
}

/** A reply token handed out with a webhook event. */
export interface IssuedReplyToken {
  accountId: string;
  to: string;
  expiresAt: number;
  used: boolean;
}

/** The mutable state behind one fake. */
export interface FakeState {
  accounts: ReadonlyArray<LineAccount>;
  clock: Clock;
  media: FakeMediaStore;
  failures: FailureQueue<CallKind>;
  /** Issued short-lived tokens → account id. */
  issued: Map<string, { accountId: string; expiresAt: number }>;
  replyTokens: Map<string, IssuedReplyToken>;
  /** `${accountId}\n${retryKey}` → the answer of the accepted push. */
  retryKeys: Map<string, { requestId: string; ids: string[]; at: number }>;
  /** Per account: users, groups and rooms that can be pushed to, with display names. */
  friends: Map<string, Map<string, { displayName?: string }>>;
  /** Per account: the monthly limit (null = none) and what pushes used. */
  quota: Map<string, { limit: number | null; used: number }>;
  sent: SentMessage[];
  /** Pushes to accept and then answer this many ms late (an answer the caller gives up on). */
  lateAnswers: number[];
  /** Calls answered so far, per kind (scripted failures included). */
  calls: Map<CallKind, number>;
}

/** LINE accepts retry keys for 24 h. */
export const RETRY_KEY_MS = 86_400_000;
/** The free communication plan's monthly messages; tests change it with `setQuota`. */
export const DEFAULT_MONTHLY_LIMIT = 200;

/** The account a bearer token belongs to (a long-lived token from the file, or one the fake issued). */
export function accountByToken(state: FakeState, header: string | undefined): LineAccount | undefined {
  const token = /^Bearer (.+)$/.exec(header ?? '')?.[1];
  if (token === undefined) return undefined;
  const issued = state.issued.get(token);
  if (issued !== undefined && issued.expiresAt > state.clock.now().getTime()) return state.accounts.find((account) => account.id === issued.accountId);
  return state.accounts.find((account) => account.settings.channelAccessToken === token);
}

/** The friend list of an account. */
export function friendsOf(state: FakeState, accountId: string): Map<string, { displayName?: string }> {
  let friends = state.friends.get(accountId);
  if (friends === undefined) state.friends.set(accountId, (friends = new Map()));
  return friends;
}

/** The quota record of an account. */
export function quotaOf(state: FakeState, accountId: string): { limit: number | null; used: number } {
  let quota = state.quota.get(accountId);
  if (quota === undefined) state.quota.set(accountId, (quota = { limit: DEFAULT_MONTHLY_LIMIT, used: 0 }));
  return quota;
}

/** A LINE error answer. */
export function lineError(status: number, message: string, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}): Response {
  return lineJson({ message, ...extra }, status, headers);
}

/** A LINE JSON answer with a request id, as every LINE response has. */
export function lineJson(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json', 'x-line-request-id': randomBytes(16).toString('hex'), ...headers },
  });
}

/** A message id in LINE's shape (18 digits). */
export function newMessageId(): string {
  return `${randomInt(100_000_000, 999_999_999)}${randomInt(100_000_000, 999_999_999)}`;
}
