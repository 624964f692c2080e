/**
 * The LINE sandbox: a fake of the Messaging API (token issue, reply with single-use expiring
 * tokens, push honouring `X-Line-Retry-Key`, content with its 202 phase, profile, quota and
 * consumption, scriptable failures such as both kinds of 429) and the customer simulator,
 * which builds signed webhook batches exactly as LINE sends them.
 *
 * The real LINE knows which reply tokens it handed out and who is a friend; the fake is shown:
 * `observe(webhook)` (or `POST {basePath}/_omnibus/observe` with the simulator's request, from
 * another process) notes them. `deliver` and `deliverEvents` observe a webhook and post it
 * through `deliverWebhook`.
 *
 * Generic parts (media store, failure queue) live in `sandbox-media-store.ts` and
 * `sandbox-failures.ts`, to be replaced by the shared sandbox kit.
 */
import { Hono } from 'hono';
import type { FakeOptions, SandboxDefinition, SandboxFake, SimulateInput, WebhookRequestSpec } from '../../core/adapter.ts';
import { systemClock } from '../../core/clock.ts';
import type { LineSettings } from './config.ts';
import { registerApiRoutes } from './sandbox-api.ts';
import { registerSignalRoutes } from './sandbox-signals.ts';
import { registerContentRoutes } from './sandbox-content.ts';
import { FailureQueue } from './sandbox-failures.ts';
import { FakeMediaStore } from './sandbox-media-store.ts';
import { observeWebhook, type Observed } from './sandbox-observe.ts';
import { friendsOf, lineError, quotaOf, type CallKind, type FakeState, type LineAccount, type SentMessage } from './sandbox-state.ts';
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
  /** Gives a friend a display name for `/v2/bot/profile`. */
  setProfile(accountId: string, userId: string, displayName: string): void;
  /** Marks media gone (410), as when the user unsent the message. */
  expireMedia(id: string): void;
  /** Stores media whose content answers 202 for `polls` transcoding checks first. */
  putMediaTranscoding(bytes: Uint8Array, mime: string, polls: number): { id: string; sha256: string };
  /** Tokens issued through `/v2/oauth/accessToken`. */
  tokensIssued(): number;
}

/** Build the fake Messaging API for the given accounts. */
export function createFake(options: FakeOptions<LineSettings>): LineFake {
  const basePath = normaliseBasePath(options.basePath);
  const state: FakeState = {
    accounts: [...options.accounts],
    clock: options.clock ?? systemClock,
    media: new FakeMediaStore(),
    failures: new FailureQueue<CallKind>(),
    issued: new Map(),
    replyTokens: new Map(),
    retryKeys: new Map(),
    friends: new Map(),
    quota: new Map(),
    sent: [],
  };
  const app = new Hono().basePath(basePath || '/');
  registerApiRoutes(app, state);
  registerSignalRoutes(app, state);
  registerContentRoutes(app, state);
  app.post('/_omnibus/observe', async (c) => {
    let spec: WebhookRequestSpec;
    try {
      spec = (await c.req.json()) as WebhookRequestSpec;
    } catch {
      return c.json({ error: { code: 'invalid_request', message: 'give the simulated request as JSON { method, path, headers, body }' } }, 400);
    }
    const valid = typeof spec?.path === 'string' && typeof spec.body === 'string' && typeof spec.headers === 'object' && spec.headers !== null;
    const observed = valid ? observeWebhook(state, spec) : { ok: false as const, reason: 'invalid_request' };
    return c.json(observed, observed.ok ? 200 : 400);
  });
  app.notFound(() => lineError(404, 'Not found'));
  // A fake that throws would take the daemon's sandbox down with it; answer like LINE instead.
  app.onError(() => lineError(500, 'Internal server error'));

  const accountById = (accountId: string): LineAccount => {
    const account = state.accounts.find((candidate) => candidate.id === accountId);
    if (account === undefined) throw new Error(`the LINE fake serves no account ${accountId}`);
    return account;
  };
  const post = async (spec: WebhookRequestSpec) => {
    observeWebhook(state, spec);
    await options.deliverWebhook?.(spec);
    return spec;
  };

  return {
    fetch: (request) => app.fetch(request),
    putMedia(bytes, mime, filename) {
      // LINE prepares large videos and audio before serving them: one 202 first, as it often does.
      const media = state.media.put(bytes.slice(), mime, filename, /^(video|audio)\//i.test(mime) ? 1 : 0);
      return { id: media.id, sha256: media.sha256 };
    },
    putMediaTranscoding(bytes, mime, polls) {
      const media = state.media.put(bytes.slice(), mime, undefined, polls);
      return { id: media.id, sha256: media.sha256 };
    },
    setAccounts(accounts) {
      state.accounts = [...accounts];
    },
    observe: (webhook) => observeWebhook(state, webhook),
    deliver: (accountId, input) => post(simulateInbound(accountById(accountId), { ...input, timestamp: input.timestamp ?? state.clock.now() })),
    deliverEvents: (accountId, events) => post(buildWebhook(accountById(accountId), events)),
    sentMessages: (accountId) => state.sent.filter((message) => accountId === undefined || message.accountId === accountId),
    failNext(on, status, message, headers) {
      state.failures.push({ on, status, body: { message }, ...(headers !== undefined ? { headers } : {}) });
    },
    setQuota(accountId, limit, used) {
      const quota = quotaOf(state, accountId);
      quota.limit = limit;
      if (used !== undefined) quota.used = used;
    },
    setProfile(accountId, userId, displayName) {
      friendsOf(state, accountId).set(userId, { displayName });
    },
    expireMedia(id) {
      const media = state.media.get(id);
      if (media !== undefined) media.gone = true;
    },
    tokensIssued: () => state.issued.size,
  };
}

/** Strip a trailing slash and make sure of a leading one, so `''`, `/x` and `/x/` all work. */
function normaliseBasePath(basePath: string | undefined): string {
  const trimmed = (basePath ?? '').replace(/\/+$/, '');
  return trimmed === '' ? '' : trimmed.startsWith('/') ? trimmed : `/${trimmed}`;
}


/** The LINE sandbox definition the channel's `index.ts` exposes as `sandbox`. */
export const lineSandbox: SandboxDefinition<LineSettings> = { createFake, simulateInbound };
