/**
 * The LINE sandbox: a fake of the Messaging API (token issue, reply with single-use expiring
 * tokens, push honouring `X-Line-Retry-Key` and counted per recipient, content with its 202
 * phase, profile, group and room member counts, quota and consumption, scriptable failures
 * such as both kinds of 429) and the customer simulator, which builds signed webhook batches
 * exactly as LINE sends them.
 *
 * The real LINE knows which reply tokens it handed out and who is a friend; the fake is shown:
 * `observe(webhook)` (or `POST {basePath}/_omnibus/observe` with the simulator's request, from
 * another process) notes them. `deliver` and `deliverEvents` observe a webhook and post it
 * through `deliverWebhook`.
 *
 * The generic parts (app shell, account index, media store, failure queue, observe route,
 * token comparison, JSON answers) are the sandbox kit's (`src/sandbox/`); the files here hold
 * LINE's wire format and rules only. Routes live in `sandbox-api.ts` (token, info, send,
 * profile, quota) and `sandbox-content.ts` (the data host); another LINE API is one more
 * `register…Routes(app, state)` beside them.
 */
import type { FakeOptions, SandboxDefinition, SandboxFake, SimulateInput, WebhookRequestSpec } from '../../core/adapter.ts';
import { systemClock } from '../../core/clock.ts';
import { AccountIndex, FailureQueue, MediaStore, createFakeApp, registerObserveRoute } from '../../sandbox/index.ts';
import type { LineSettings } from './config.ts';
import { registerApiRoutes } from './sandbox-api.ts';
import { registerSignalRoutes } from './sandbox-signals.ts';
import { registerContentRoutes } from './sandbox-content.ts';
import { observeWebhook, type Observed } from './sandbox-observe.ts';
import {
  CONTENT_RETENTION_MS, chatOf, friendsOf, lineError, memberCount, newMessageId, quotaOf, type CallKind, type FakeState, type LineAccount, type ScriptedAnswer, type SentMessage,
} from './sandbox-state.ts';
import { buildWebhook, simulateInbound, type LineEvent } from './sandbox-webhooks.ts';

export { buildWebhook, eventBase, lifecycleEvent, simulateInbound, ulid } from './sandbox-webhooks.ts';
export type { Observed } from './sandbox-observe.ts';
export type { CallKind, SentMessage } from './sandbox-state.ts';

/** The running fake with the hooks tests use to steer and inspect it. */
export interface LineFake extends SandboxFake<LineSettings> {
  /** Verifies and reads a webhook built for one of the fake's accounts, noting its reply tokens and friends. */
  observe(webhook: WebhookRequestSpec): Observed;
  /** Simulates a user message: observes it and delivers it through `deliverWebhook`. */
  deliver(accountId: string, input: SimulateInput): Promise<WebhookRequestSpec>;
  /** Delivers a batch of event objects (follow, unfollow, join, ...) the same way. */
  deliverEvents(accountId: string, events: LineEvent[]): Promise<WebhookRequestSpec>;
  /** Messages accepted so far (optionally for one account). */
  sentMessages(accountId?: string): SentMessage[];
  /** The next call of that kind answers this status and LINE message (e.g. 429 rate limit or monthly limit). */
  failNext(on: CallKind | 'any', status: number, message: string, headers?: Record<string, string>): void;
  /** Sets the monthly limit (null = none) and, optionally, what was used. */
  setQuota(accountId: string, limit: number | null, used?: number): void;
  /** Sets a group's or room's member count (raw `C…`/`R…` id), over the members the fake saw. */
  setMemberCount(accountId: string, chatId: string, count: number): void;
  /** The member count `/members/count` answers for a group or room; undefined for one never seen. */
  memberCount(accountId: string, chatId: string): number | undefined;
  /** Gives a friend a display name for `/v2/bot/profile`. */
  setProfile(accountId: string, userId: string, displayName: string): void;
  /** Marks media gone (410), as when the user unsent the message. */
  expireMedia(id: string): void;
  /** Stores media whose content answers 202 for `polls` transcoding checks first. */
  putMediaTranscoding(bytes: Uint8Array, mime: string, polls: number): { id: string; sha256: string };
  /** Tokens issued through `/v2/oauth/accessToken`. */
  tokensIssued(): number;
  /** The next push is accepted (and recorded) but answered `ms` late, as when the answer is lost. */
  answerNextPushLate(ms: number): void;
  /** How many calls of a kind reached the fake (answered, refused or scripted). */
  calls(kind: CallKind): number;
}

/** Build the fake Messaging API for the given accounts. */
export function createFake(options: FakeOptions<LineSettings>): LineFake {
  const clock = options.clock ?? systemClock;
  // A fake that throws would take the daemon's sandbox down with it; answer like LINE instead.
  const { app, fetch } = createFakeApp({
    basePath: options.basePath,
    notFound: () => lineError(404, 'Not found'),
    onError: () => lineError(500, 'Internal server error'),
  });
  const state: FakeState = {
    accounts: new AccountIndex<LineSettings>((account) => account.id, options.accounts),
    clock,
    media: new MediaStore({ clock, newId: newMessageId }),
    content: new Map(),
    failures: new FailureQueue<ScriptedAnswer>(),
    issued: new Map(),
    replyTokens: new Map(),
    retryKeys: new Map(),
    friends: new Map(),
    quota: new Map(),
    chats: new Map(),
    sent: [],
    calls: new Map(),
    lateAnswers: [],
  };
  registerApiRoutes(app, state);
  registerSignalRoutes(app, state);
  registerContentRoutes(app, state);
  registerObserveRoute(app, (spec) => {
    const observed = observeWebhook(state, spec);
    return { status: observed.ok ? 200 : 400, body: observed };
  });

  const accountById = (accountId: string): LineAccount => {
    const account = state.accounts.byId(accountId);
    if (account === undefined) throw new Error(`the LINE fake serves no account ${accountId}`);
    return account;
  };
  const post = async (spec: WebhookRequestSpec) => {
    observeWebhook(state, spec);
    await options.deliverWebhook?.(spec);
    return spec;
  };
  /** Content from a simulated user (any channel may fetch it), with `pendingPolls` 202 answers first. */
  const putContent = (bytes: Uint8Array, mime: string, filename: string | undefined, pendingPolls: number) => {
    const media = state.media.put(bytes.slice(), mime, { owner: null, retentionMs: CONTENT_RETENTION_MS, ...(filename !== undefined ? { filename } : {}) });
    state.content.set(media.id, { pendingPolls, gone: false });
    return { id: media.id, sha256: media.sha256 };
  };

  return {
    fetch,
    // LINE prepares large videos and audio before serving them: one 202 first, as it often does.
    putMedia: (bytes, mime, filename) => putContent(bytes, mime, filename, /^(video|audio)\//i.test(mime) ? 1 : 0),
    putMediaTranscoding: (bytes, mime, polls) => putContent(bytes, mime, undefined, polls),
    setAccounts(accounts) {
      state.accounts.set(accounts);
    },
    observe: (webhook) => observeWebhook(state, webhook),
    deliver: (accountId, input) => post(simulateInbound(accountById(accountId), { ...input, timestamp: input.timestamp ?? state.clock.now() })),
    deliverEvents: (accountId, events) => post(buildWebhook(accountById(accountId), events)),
    sentMessages: (accountId) => state.sent.filter((message) => accountId === undefined || message.accountId === accountId),
    failNext(on, status, message, headers) {
      state.failures.script(on, { status, body: { message }, ...(headers !== undefined ? { headers } : {}) });
    },
    setQuota(accountId, limit, used) {
      const quota = quotaOf(state, accountId);
      quota.limit = limit;
      if (used !== undefined) quota.used = used;
    },
    setMemberCount(accountId, chatId, count) {
      chatOf(state, accountId, chatId).count = count;
    },
    memberCount: (accountId, chatId) => memberCount(state, accountId, chatId),
    setProfile(accountId, userId, displayName) {
      friendsOf(state, accountId).set(userId, { displayName });
    },
    expireMedia(id) {
      const phase = state.content.get(id);
      if (phase !== undefined) phase.gone = true;
    },
    tokensIssued: () => state.issued.size,
    calls: (kind) => state.calls.get(kind) ?? 0,
    answerNextPushLate(ms) {
      state.lateAnswers.push(ms);
    },
  };
}

/** The LINE sandbox definition the channel's `index.ts` exposes as `sandbox`. */
export const lineSandbox: SandboxDefinition<LineSettings> = { createFake, simulateInbound };
