/**
 * What the fake Messaging API keeps between calls: the channels it serves, issued tokens, the
 * reply tokens handed out with webhooks (single use, one minute), accepted retry keys, friends
 * and profiles, the monthly quota and every message it accepted. Routes only take a `FakeState`.
 * The generic parts (account index, media store, failure queue, token comparison, JSON answers)
 * are the sandbox kit's; what is here is LINE's.
 */
import { randomBytes, randomInt } from 'node:crypto';
import type { AccountConfig } from '../../core/config/types.ts';
import type { Clock } from '../../core/clock.ts';
import { bearerToken, jsonAnswer, tokenOwners, type AccountIndex, type FailureQueue, type MediaStore } from '../../sandbox/index.ts';
import type { LineSettings } from './config.ts';

/** A LINE channel as the sandbox sees it. */
export type LineAccount = AccountConfig<LineSettings>;

/** The kinds of call a test can script a failure for. */
export type CallKind = 'token' | 'reply' | 'push' | 'content' | 'profile' | 'quota' | 'info' | 'members';

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

/** A scripted answer: LINE's error body with a status (and headers, e.g. Retry-After). */
export interface ScriptedAnswer {
  status: number;
  body: Record<string, unknown>;
  headers?: Record<string, string>;
}

/** LINE's own state of a content object beside its bytes. */
export interface ContentPhase {
  /** Content requests still answered 202 (LINE preparing a video or audio). */
  pendingPolls: number;
  /** Answered 410 from now on (the user unsent the message, or it expired). */
  gone: boolean;
}

/** The mutable state behind one fake. */
export interface FakeState {
  /** The channels served, by account id (LINE names a channel by its token, not by a key in the URL). */
  accounts: AccountIndex<LineSettings>;
  clock: Clock;
  media: MediaStore;
  /** Per media id: the 202 phase and whether it is gone. */
  content: Map<string, ContentPhase>;
  /** Scripted answers per call kind, and under `any` for the next call of any kind. */
  failures: FailureQueue<ScriptedAnswer>;
  /** Issued short-lived tokens → account id. */
  issued: Map<string, { accountId: string; expiresAt: number }>;
  replyTokens: Map<string, IssuedReplyToken>;
  /** `${accountId}\n${retryKey}` → the answer of the accepted push. */
  retryKeys: Map<string, { requestId: string; ids: string[]; at: number }>;
  /** Per account: users, groups and rooms that can be pushed to, with display names. */
  friends: Map<string, Map<string, { displayName?: string }>>;
  /**
   * Per account: the groups and rooms (raw `C…`/`R…` id) with the members the fake saw write or
   * join there, and a count a test set (it wins over what was seen).
   */
  chats: Map<string, Map<string, { members: Set<string>; count?: number }>>;
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

/** LINE keeps content "for a certain period"; the fake keeps it two weeks [A: not documented]. */
export const CONTENT_RETENTION_MS = 14 * 86_400_000;

/** The account a request's bearer token belongs to (a long-lived token from the file, or one the fake issued). */
export function accountByToken(state: FakeState, request: Request): LineAccount | undefined {
  const token = bearerToken(request);
  if (token === undefined) return undefined;
  const issued = state.issued.get(token);
  if (issued !== undefined && issued.expiresAt > state.clock.now().getTime()) return state.accounts.byId(issued.accountId);
  const [owner] = tokenOwners(token, state.accounts.entries(), (account) => account.settings.channelAccessToken);
  return owner === undefined ? undefined : state.accounts.get(owner);
}

/** The scripted answer for this call, if a test scripted one (for its kind, else for any call). */
export function scripted(state: FakeState, kind: CallKind): Response | undefined {
  const answer = state.failures.take(kind) ?? state.failures.take('any');
  return answer === undefined ? undefined : jsonAnswer(answer.body, { status: answer.status, ...(answer.headers !== undefined ? { headers: answer.headers } : {}) });
}

/** The friend list of an account. */
export function friendsOf(state: FakeState, accountId: string): Map<string, { displayName?: string }> {
  let friends = state.friends.get(accountId);
  if (friends === undefined) state.friends.set(accountId, (friends = new Map()));
  return friends;
}

/** The group or room record of an account (created on first sight). */
export function chatOf(state: FakeState, accountId: string, chatId: string): { members: Set<string>; count?: number } {
  let chats = state.chats.get(accountId);
  if (chats === undefined) state.chats.set(accountId, (chats = new Map()));
  let chat = chats.get(chatId);
  if (chat === undefined) chats.set(chatId, (chat = { members: new Set() }));
  return chat;
}

/** The members of a group or room as LINE counts them (the bot excluded); undefined for a chat the fake never saw. */
export function memberCount(state: FakeState, accountId: string, chatId: string): number | undefined {
  const chat = state.chats.get(accountId)?.get(chatId);
  return chat === undefined ? undefined : (chat.count ?? chat.members.size);
}

/** How many recipients a push to `to` reaches: a group's or room's members, else the one user. */
export function recipientsOf(state: FakeState, accountId: string, to: string): number {
  return /^[CR]/.test(to) ? Math.max(1, memberCount(state, accountId, to) ?? 1) : 1;
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
  return jsonAnswer(body, { status, headers: { 'x-line-request-id': randomBytes(16).toString('hex'), ...headers } });
}

/** A message id in LINE's shape (18 digits). */
export function newMessageId(): string {
  return `${randomInt(100_000_000, 999_999_999)}${randomInt(100_000_000, 999_999_999)}`;
}
