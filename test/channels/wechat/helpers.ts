/**
 * Shared test material for the WeChat adapter: fixtures and crypto vectors, a test account,
 * pushes built as WeChat builds them, and an HttpClient that talks to the fake in memory.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { ManualClock, type Clock } from '../../../src/core/clock.ts';
import type { AccountConfig } from '../../../src/core/config/types.ts';
import type { SharedState, WebhookRequest, WebhookRequestSpec } from '../../../src/core/adapter.ts';
import { HttpClientError, type HttpClient, type HttpRequestOptions } from '../../../src/core/http-client.ts';
import type { Logger } from '../../../src/core/logger.ts';
import { createWeChatAdapter, type WeChatAdapter, type WeChatSettings } from '../../../src/channels/wechat/index.ts';
import type { SandboxFake } from '../../../src/core/adapter.ts';
import { hostAllowed, memorySharedState, refusingHttpClient, silentLogger, toHttpResponse, type RecordingHttpClient } from '../../conformance/fakes.ts';
import { toWebhookRequest } from '../../support/inbound.ts';

const FIXTURES = new URL('../../fixtures/wechat/', import.meta.url);

/** A fixture's exact text. */
export function fixtureText(name: string): string {
  return readFileSync(new URL(name, FIXTURES), 'utf8');
}

/** Every XML fixture, sorted. */
export const XML_FIXTURES = readdirSync(FIXTURES).filter((name) => name.endsWith('.xml')).sort();

/** Fixtures that are user messages or events in plaintext (not encrypted bodies, not replies). */
export const PUSH_FIXTURES = XML_FIXTURES.filter((name) => !/encrypt|passive-reply|safe-mode/.test(name));

/** The published crypto vectors (`crypto-vector.json`), loosely typed: tests assert on them. */
export const VECTORS: Record<string, any> = Object.fromEntries(
  (JSON.parse(fixtureText('crypto-vector.json')).vectors as Array<{ id: string }>).map((vector) => [vector.id, vector]),
);

/** The time the conformance suite's ManualClock starts at. */
export const NOW = new Date(Date.UTC(2026, 10, 21, 10, 0, 0));

/** Test secrets: long enough that a leak check finds them anywhere. */
export const SECRETS = {
  appSecret: 'test-app-secret-0123456789abcdef',
  token: 'testToken0123456789',
  encodingAesKey: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG',
} as const;

export const APP_ID = 'wx0123456789abcdef';

/** A WeChat account as the config loader outputs it. */
export function testAccount(
  overrides: { id?: string; apiBase?: string | null; maxBytes?: number | null; settings?: Partial<WeChatSettings> } = {},
): AccountConfig<WeChatSettings> {
  return Object.freeze({
    id: overrides.id ?? 'acme-wechat',
    channel: 'wechat',
    enabled: true,
    apiBase: overrides.apiBase === undefined ? null : overrides.apiBase,
    session: { windowMs: 48 * 3_600_000, window: '48h', expiringNoticeMs: 3_600_000 },
    attachments: { allow: ['gif', 'mp4', 'mp3', 'amr', 'jpg', 'jpeg', 'png'], maxBytes: overrides.maxBytes ?? null },
    rateLimit: { perSecond: 20, perRecipientPerSecond: null },
    settings: Object.freeze({ appId: APP_ID, mode: 'safe' as const, messageQuota: 5, eventQuota: 3, ...SECRETS, ...overrides.settings }),
  });
}

/** An account for one crypto vector (its token, key and appid). */
export function vectorAccount(vector: { token: string; encodingAESKey?: string; appid?: string }, mode: WeChatSettings['mode'] = 'safe') {
  return testAccount({
    settings: {
      token: vector.token,
      appId: vector.appid ?? APP_ID,
      ...(vector.encodingAESKey !== undefined ? { encodingAesKey: vector.encodingAESKey } : {}),
      mode,
    },
  });
}

/** What an adapter is created with; everything has a test default. */
export interface AdapterDeps {
  http?: HttpClient;
  clock?: Clock;
  shared?: SharedState;
  logger?: Logger;
}

/** The adapter for `account`, with fakes for everything around it. */
export function createAdapter(account = testAccount(), deps: AdapterDeps = {}): WeChatAdapter {
  return createWeChatAdapter({
    account,
    logger: deps.logger ?? silentLogger(),
    http: deps.http ?? refusingHttpClient(),
    clock: deps.clock ?? new ManualClock(NOW),
    shared: deps.shared ?? memorySharedState(),
  });
}

const ORIGIN = 'https://omnibus.example.com';

/** A webhook request as the core hands it to the adapter, from a spec the simulator built. */
export function toRequest(spec: WebhookRequestSpec): WebhookRequest {
  return toWebhookRequest(spec, ORIGIN);
}

/** A request with a raw query and body (for vectors and hand-made tampering). */
export function rawRequest(query: string, body: string | Uint8Array, method: 'GET' | 'POST' = 'POST'): WebhookRequest {
  return {
    method,
    url: new URL(`${ORIGIN}/webhooks/wechat/acme-wechat?${query}`),
    headers: new Map([['content-type', 'text/xml']]),
    body: typeof body === 'string' ? new TextEncoder().encode(body) : body,
  };
}

/** The same request with query parameters set (or removed with null). */
export function withQuery(request: WebhookRequest, changes: Record<string, string | null>): WebhookRequest {
  const url = new URL(request.url);
  for (const [name, value] of Object.entries(changes)) {
    if (value === null) url.searchParams.delete(name);
    else url.searchParams.set(name, value);
  }
  return { ...request, url };
}

/** An HttpClient that hands requests to the fake in memory; it records the URLs it was asked for. */
export function fakeHttpClient(fake: Pick<SandboxFake, 'fetch'>, host = 'api.weixin.qq.com'): RecordingHttpClient {
  const requests: RecordingHttpClient['requests'] = [];
  return {
    requests,
    async request(url: string, options: HttpRequestOptions = {}) {
      const target = new URL(url);
      if (!hostAllowed(target.hostname, options.trustedHosts)) throw new HttpClientError('untrusted_host', 'host not trusted');
      if (options.trustedHosts === undefined && target.hostname !== host) throw new HttpClientError('blocked_address', 'not a public host');
      const method = options.method ?? 'GET';
      requests.push({ url, method, headers: { ...options.headers } });
      const init: RequestInit = { method, ...(options.headers ? { headers: options.headers } : {}) };
      if (options.body !== undefined) init.body = options.body as RequestInit['body'];
      const response = await fake.fetch(new Request(url, init));
      return toHttpResponse(response, url, options.maxBytes);
    },
  };
}

/** Minimal media bytes with the right magic numbers. */
export const BYTES = {
  jpg: Uint8Array.from([0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 0x4a, 0x46, 0x49, 0x46, 0, 1]),
  png: Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0]),
  gif: new TextEncoder().encode('GIF89a\u0001\u0000\u0001\u0000'),
  amr: new TextEncoder().encode('#!AMR\n\u0000\u0000\u0000\u0000'),
  mp3: Uint8Array.from([0x49, 0x44, 0x33, 3, 0, 0, 0, 0, 0, 0]),
  mp4: Uint8Array.from([0, 0, 0, 0x18, 0x66, 0x74, 0x79, 0x70, 0x6d, 0x70, 0x34, 0x32, 0, 0, 0, 0]),
  pdf: new TextEncoder().encode('%PDF-1.7\n'),
} as const;
