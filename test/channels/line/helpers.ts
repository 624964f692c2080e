/**
 * Shared test material for the LINE adapter: fixtures and signature vectors, a test account,
 * signed webhook requests, and an HttpClient that hands requests to the fake in memory with
 * the credential headers only LINE's own hosts may see.
 */
import { readFileSync, readdirSync } from 'node:fs';
import type { MediaLinks, SandboxFake, SharedState, WebhookRequest, WebhookRequestSpec } from '../../../src/core/adapter.ts';
import { ManualClock, type Clock } from '../../../src/core/clock.ts';
import type { AccountConfig } from '../../../src/core/config/types.ts';
import { HttpClientError, type HttpClient, type HttpRequestOptions } from '../../../src/core/http-client.ts';
import { createLineAdapter, type LineSettings } from '../../../src/channels/line/index.ts';
import { lineSignature } from '../../../src/channels/line/verify.ts';
import { hostAllowed, memorySharedState, refusingHttpClient, silentLogger, toHttpResponse, type RecordingHttpClient } from '../../conformance/fakes.ts';

const FIXTURES = new URL('../../fixtures/line/', import.meta.url);

/** A fixture's exact bytes. */
export function fixtureBytes(name: string): Uint8Array {
  return new Uint8Array(readFileSync(new URL(name, FIXTURES)));
}

/** Every webhook body fixture (JSON files other than the signature vectors), sorted. */
export const BODY_FIXTURES = readdirSync(FIXTURES).filter((name) => name.endsWith('.json') && name !== 'signature-vector.json').sort();

/** The published signature vectors. */
export const VECTORS: Array<{ channelSecret: string; body: string; expectedSignature: string; negativeSignature?: string; bodyFile?: string }> = JSON.parse(
  new TextDecoder().decode(fixtureBytes('signature-vector.json')),
).vectors;

/** The time the conformance suite's ManualClock starts at. */
export const NOW = new Date(Date.UTC(2026, 10, 21, 10, 0, 0));

/** Test secrets: long enough that a leak check finds them anywhere. */
export const SECRETS = {
  channelSecret: '8c570fa6dd201bb328f1c1eac23a96d8',
  channelAccessToken: 'test-long-lived-channel-access-token-0123456789',
} as const;

/** A LINE account as the config loader outputs it. */
export function testAccount(
  overrides: { id?: string; apiBase?: string | null; maxBytes?: number | null; settings?: Partial<LineSettings> } = {},
): AccountConfig<LineSettings> {
  return Object.freeze({
    id: overrides.id ?? 'acme-line',
    channel: 'line',
    enabled: true,
    apiBase: overrides.apiBase === undefined ? null : overrides.apiBase,
    session: { windowMs: null, window: 'none', expiringNoticeMs: 3_600_000 },
    attachments: { allow: ['mp4', 'm4a', 'jpg', 'jpeg', 'png'], maxBytes: overrides.maxBytes ?? null },
    rateLimit: { perSecond: 100, perRecipientPerSecond: null },
    settings: Object.freeze({ dataApiBase: null, videoPreviewUrl: null, ...SECRETS, ...overrides.settings }),
  });
}

/** What an adapter is created with; everything has a test default. */
export interface AdapterDeps {
  http?: HttpClient;
  clock?: Clock;
  shared?: SharedState;
  mediaLinks?: MediaLinks;
}

/** The adapter for `account`, with fakes for everything around it. */
export function createAdapter(account = testAccount(), deps: AdapterDeps = {}) {
  return createLineAdapter({
    account,
    logger: silentLogger(),
    http: deps.http ?? refusingHttpClient(),
    clock: deps.clock ?? new ManualClock(NOW),
    shared: deps.shared ?? memorySharedState(),
    ...(deps.mediaLinks !== undefined ? { mediaLinks: deps.mediaLinks } : {}),
  });
}

/** Signed media links as the daemon would mint them. */
export const MEDIA_LINKS: MediaLinks = { url: async (id, ttl) => `https://omnibus.example.com/v1/media/${id}?expires=${ttl}&signature=${'a'.repeat(64)}` };

const ORIGIN = 'https://omnibus.example.com';

/** A webhook request of `body`, signed with `secret` (the account's by default). */
export function signedRequest(body: Uint8Array | string, secret: string = SECRETS.channelSecret): WebhookRequest {
  const bytes = typeof body === 'string' ? new TextEncoder().encode(body) : body;
  return {
    method: 'POST',
    url: new URL(`${ORIGIN}/webhooks/line/acme-line`),
    headers: new Map([
      ['content-type', 'application/json; charset=utf-8'],
      ['x-line-signature', lineSignature(secret, bytes)],
    ]),
    body: bytes,
  };
}

/** A webhook request as the core hands it to the adapter, from a spec the simulator built. */
export function toRequest(spec: WebhookRequestSpec): WebhookRequest {
  const body = typeof spec.body === 'string' ? new TextEncoder().encode(spec.body) : spec.body;
  return { method: spec.method, url: new URL(`${ORIGIN}${spec.path}`), headers: new Map(Object.entries(spec.headers).map(([k, v]) => [k.toLowerCase(), v])), body };
}

/** One request the in-memory client passed on, with the headers really sent. */
export interface SeenRequest {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: string | undefined;
}

/** An HttpClient over the fake: credential headers only for trusted hosts; untrusted = public hosts, refused here. */
export function fakeHttpClient(fake: Pick<SandboxFake, 'fetch'>): HttpClient & { requests: SeenRequest[] } {
  const requests: SeenRequest[] = [];
  return {
    requests,
    async request(url: string, options: HttpRequestOptions = {}) {
      const target = new URL(url);
      if (options.trustedHosts === undefined) throw new HttpClientError('blocked_address', 'not a public host in tests');
      if (!hostAllowed(target.hostname, options.trustedHosts)) throw new HttpClientError('untrusted_host', 'host not trusted');
      const method = options.method ?? 'GET';
      const headers = { ...options.headers, ...options.credentialHeaders };
      requests.push({ url, method, headers, body: typeof options.body === 'string' ? options.body : undefined });
      const init: RequestInit = { method, headers };
      if (options.body !== undefined) init.body = options.body as RequestInit['body'];
      return toHttpResponse(await fake.fetch(new Request(url, init)), url, options.maxBytes);
    },
  };
}

/** The API base the fake is reached at in unit tests. */
export const FAKE_BASE = 'https://line-fake.test/sandbox/line';

/** Minimal media bytes with the right magic numbers. */
export const BYTES = {
  jpg: Uint8Array.from([0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 0x4a, 0x46, 0x49, 0x46, 0, 1]),
  png: Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0]),
  mp3: Uint8Array.from([0x49, 0x44, 0x33, 3, 0, 0, 0, 0, 0, 0]),
} as const;

/** An M4A of `ms` milliseconds: `ftyp` then `moov/mvhd` (version 0, timescale 1000). */
export function m4a(ms: number): Uint8Array {
  const box = (type: string, payload: Uint8Array) => {
    const out = new Uint8Array(8 + payload.length);
    new DataView(out.buffer).setUint32(0, out.length);
    out.set(new TextEncoder().encode(type), 4);
    out.set(payload, 8);
    return out;
  };
  const mvhd = new Uint8Array(100);
  const view = new DataView(mvhd.buffer);
  view.setUint32(12, 1000);
  view.setUint32(16, ms);
  const ftyp = box('ftyp', new TextEncoder().encode('M4A \u0000\u0000\u0000\u0000M4A mp42isom'));
  const moov = box('moov', box('mvhd', mvhd));
  const out = new Uint8Array(ftyp.length + moov.length);
  out.set(ftyp);
  out.set(moov, ftyp.length);
  return out;
}
