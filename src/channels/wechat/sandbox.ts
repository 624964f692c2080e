/**
 * The WeChat sandbox: a fake of the official-account API (stable and classic tokens with
 * WeChat's invalidation rules, customer-service send enforcing the 48 h window, its quota and
 * the one-minute grants, temporary media upload and download, user info) and the customer
 * simulator, which builds real pushes in the account's mode.
 *
 * The real WeChat knows what users did; the fake has to be shown: `observe(push)` (or
 * `POST {basePath}/_omnibus/observe` with the simulator's request, from another process) reads a
 * push as the adapter would and notes it; `noteInbound` (or `POST {basePath}/_omnibus/inbound`)
 * notes an event directly. `deliver` and `deliverEvent` observe a push and post it through
 * `deliverWebhook`.
 *
 * Mounting: routes match full paths, so pass requests unchanged with `basePath`
 * (`/sandbox/wechat` in the daemon); the base path is needed to hand out `video_url`s. The
 * generic parts (app, accounts, media store, windows, failure queue) are the sandbox kit's.
 */
import type { FakeOptions, SandboxDefinition, SandboxFake, SimulateInput, WebhookRequestSpec } from '../../core/adapter.ts';
import { systemClock } from '../../core/clock.ts';
import { FailureQueue, createFakeApp, registerObserveRoute } from '../../sandbox/index.ts';
import type { WeChatSettings } from './config.ts';
import { authorize, registerApiRoutes } from './sandbox-api.ts';
import { registerSignalRoutes } from './sandbox-signals.ts';
import { MEDIA_RETENTION_MS, createMediaStore, mediaTypeOf, registerMediaRoutes } from './sandbox-media.ts';
import { observePush, type Observed } from './sandbox-observe.ts';
import {
  FakeSessions,
  FakeTokens,
  indexAccounts,
  wechatError,
  type FakeState,
  type InboundKind,
  type InjectedError,
  type SentMessage,
  type WeChatAccount,
} from './sandbox-state.ts';
import { buildPush, eventXml, messageXml, newMsgId, originalIdOf, simulateInbound } from './sandbox-webhooks.ts';

export { buildPush, eventXml, messageXml, newMsgId, originalIdOf, simulateInbound };
export type { Observed } from './sandbox-observe.ts';
export type { InboundKind, SentMessage } from './sandbox-state.ts';

/** Options of the WeChat fake: the common ones plus the path prefix it is served under. */
export interface WeChatFakeOptions extends FakeOptions<WeChatSettings> {
  /** Prefix of every route, e.g. `/sandbox/wechat` in the daemon; default '' (served at `/`). */
  basePath?: string;
}

/** The running fake with the hooks tests use to steer and inspect it. */
export interface WeChatFake extends SandboxFake<WeChatSettings> {
  /** Tells the fake what a user did, as WeChat itself would know: opens or renews their allowance. */
  noteInbound(appId: string, openId: string, kind: InboundKind, at?: Date): void;
  /** Reads a push built for one of the fake's accounts and notes what the user did. */
  observe(push: WebhookRequestSpec): Observed;
  /** Simulates a user message: observes it and delivers the push through `deliverWebhook`. */
  deliver(accountId: string, input: SimulateInput): Promise<WebhookRequestSpec>;
  /** Simulates an event (subscribe, SCAN, CLICK, unsubscribe, ...) the same way. */
  deliverEvent(accountId: string, input: { from: string; event: string; eventKey?: string; ticket?: string; at?: Date }): Promise<WebhookRequestSpec>;
  /** Customer-service messages accepted so far (optionally for one AppID). */
  sentMessages(appId?: string): SentMessage[];
  /**
   * The next calls answer this errcode (e.g. 48001, 40164), one per call: calls with an access
   * token by default, or `/cgi-bin/stable_token` calls with `on: 'token'`.
   */
  failNext(errcode: number, options?: { errmsg?: string; on?: 'api' | 'token' }): void;
  /** Tokens issued per AppID (stable and classic together). */
  tokensIssued(appId: string): number;
}

/** Build the fake WeChat API for the given accounts. */
export function createFake(options: WeChatFakeOptions): WeChatFake {
  const clock = options.clock ?? systemClock;
  // A fake that throws would take the daemon's sandbox down with it; answer like WeChat instead.
  const { app, basePath, fetch } = createFakeApp({
    basePath: options.basePath,
    notFound: () => wechatError(48001, 'api unauthorized'),
    onError: () => wechatError(-1, 'system error'),
  });
  const state: FakeState = {
    accounts: indexAccounts(options.accounts),
    clock,
    basePath,
    tokens: new FakeTokens(),
    sessions: new FakeSessions(clock),
    media: createMediaStore(clock),
    sent: [],
    failures: new FailureQueue<InjectedError>(),
  };

  registerApiRoutes(app, state);
  registerSignalRoutes(app, state);
  registerMediaRoutes(app, state, (c) => authorize(state, c));
  registerObserveRoute(app, (spec) => {
    const observed = observePush(state, spec);
    return { status: observed.ok ? 200 : 400, body: observed };
  });

  const accountById = (accountId: string): WeChatAccount => {
    const account = state.accounts.byId(accountId);
    if (account === undefined) throw new Error(`the WeChat fake serves no account ${accountId}`);
    return account;
  };
  const post = async (spec: WebhookRequestSpec) => {
    observePush(state, spec);
    await options.deliverWebhook?.(spec);
    return spec;
  };

  return {
    fetch,
    putMedia(bytes, mime, filename) {
      const media = state.media.put(bytes.slice(), mime, { owner: null, retentionMs: MEDIA_RETENTION_MS, kind: mediaTypeOf(mime), ...(filename !== undefined ? { filename } : {}) });
      return { id: media.id, sha256: media.sha256 };
    },
    setAccounts: (accounts) => state.accounts.set(accounts),
    noteInbound(appId, openId, kind, at) {
      state.sessions.note(appId, openId, kind, (at ?? clock.now()).getTime());
    },
    observe: (push) => observePush(state, push),
    async deliver(accountId, input) {
      return post(simulateInbound(accountById(accountId), { ...input, timestamp: input.timestamp ?? clock.now() }));
    },
    async deliverEvent(accountId, input) {
      const account = accountById(accountId);
      const at = input.at ?? clock.now();
      return post(buildPush(account, eventXml(account, { ...input, at }), { at, openId: input.from }));
    },
    sentMessages: (appId) => state.sent.filter((message) => appId === undefined || message.appId === appId),
    failNext(errcode, failOptions = {}) {
      state.failures.script(failOptions.on ?? 'api', failOptions.errmsg === undefined ? { errcode } : { errcode, errmsg: failOptions.errmsg });
    },
    tokensIssued: (appId) => state.tokens.issuedCount.get(appId) ?? 0,
  };
}

/** The WeChat sandbox definition the channel's `index.ts` exposes as `sandbox`. */
export const wechatSandbox: SandboxDefinition<WeChatSettings> = { createFake, simulateInbound };
