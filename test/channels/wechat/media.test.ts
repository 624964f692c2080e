/** Inbound media through `media/get` and its quirks, against the fake and against scripted answers. */
import { describe, expect, it } from 'vitest';
import { createFake } from '../../../src/channels/wechat/sandbox.ts';
import type { FetchedMedia } from '../../../src/core/adapter.ts';
import { ManualClock } from '../../../src/core/clock.ts';
import { OmniError } from '../../../src/core/errors.ts';
import { memorySharedState, scriptedHttpClient } from '../../conformance/fakes.ts';
import { APP_ID, BYTES, NOW, SECRETS, createAdapter, fakeHttpClient, testAccount } from './helpers.ts';

const API_BASE = 'http://fake.test/sandbox/wechat';
const account = testAccount({ apiBase: API_BASE });
const signal = new AbortController().signal;

async function collect(media: FetchedMedia): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of media.body) chunks.push(chunk);
  return new Uint8Array(Buffer.concat(chunks));
}

function setup() {
  const clock = new ManualClock(NOW);
  const fake = createFake({ accounts: [account], clock, basePath: '/sandbox/wechat' });
  const http = fakeHttpClient(fake, 'fake.test');
  return { fake, http, clock, adapter: createAdapter(account, { http, clock, shared: memorySharedState() }) };
}

async function failure(call: () => Promise<unknown>): Promise<OmniError> {
  try {
    await call();
  } catch (error) {
    if (error instanceof OmniError) return error;
    throw error;
  }
  throw new Error('expected the call to fail');
}

describe('fetchMedia against the fake', () => {
  it('streams image and voice bytes with their declared type and size', async () => {
    const { fake, adapter } = setup();
    for (const [bytes, mime] of [[BYTES.jpg, 'image/jpeg'], [BYTES.amr, 'audio/amr']] as const) {
      const stored = fake.putMedia(bytes, mime);
      const media = await adapter.fetchMedia({ ref: stored.id }, signal);
      expect(media).toMatchObject({ declaredMime: mime, declaredSize: bytes.length });
      expect(await collect(media)).toEqual(bytes);
    }
  });

  it('follows video_url for videos, without sending the access token there', async () => {
    const { fake, http, adapter } = setup();
    const stored = fake.putMedia(BYTES.mp4, 'video/mp4');
    const media = await adapter.fetchMedia({ ref: stored.id }, signal);
    expect(await collect(media)).toEqual(BYTES.mp4);
    const last = http.requests.at(-1)!;
    expect(last.url).toContain('/_media/video/');
    expect(last.url).not.toContain('access_token');
  });

  it('turns the HTTP 200 text/plain JSON error into attachment_unreachable', async () => {
    const { adapter } = setup();
    expect(await failure(() => adapter.fetchMedia({ ref: 'unknownMediaId' }, signal))).toMatchObject({ code: 'attachment_unreachable', details: { platformCode: 40007 } });
  });

  it('media expires after 3 days', async () => {
    const { fake, adapter, clock } = setup();
    const stored = fake.putMedia(BYTES.png, 'image/png');
    clock.advance(3 * 86_400_000);
    expect((await failure(() => adapter.fetchMedia({ ref: stored.id }, signal))).code).toBe('attachment_unreachable');
  });

  it('replaces a token WeChat refused, once', async () => {
    const { fake, adapter } = setup();
    const stored = fake.putMedia(BYTES.png, 'image/png');
    await adapter.checkCredentials();
    await fake.fetch(new Request(`${API_BASE}/cgi-bin/stable_token`, { method: 'POST', body: JSON.stringify({ grant_type: 'client_credential', appid: APP_ID, secret: SECRETS.appSecret, force_refresh: true }) }));
    expect(await collect(await adapter.fetchMedia({ ref: stored.id }, signal))).toEqual(BYTES.png);
  });

  it('refuses references that are not media ids before any request', async () => {
    const { http, adapter } = setup();
    expect((await failure(() => adapter.fetchMedia({ ref: '../../etc/passwd' }, signal))).code).toBe('attachment_unreachable');
    expect(http.requests).toEqual([]);
  });
});

describe('fetchMedia against scripted answers', () => {
  const tokenAnswer = () => new Response(JSON.stringify({ access_token: 'T', expires_in: 7200 }), { headers: { 'content-type': 'application/json' } });
  const scripted = (mediaAnswer: () => Response) =>
    createAdapter(testAccount(), { http: scriptedHttpClient((url) => (url.includes('stable_token') ? tokenAnswer() : mediaAnswer())) });

  it('a JSON-looking error labelled as an image is still an error', async () => {
    const adapter = scripted(() => new Response('{"errcode":45009,"errmsg":"api freq out of limit"}', { headers: { 'content-type': 'image/jpeg' } }));
    expect((await failure(() => adapter.fetchMedia({ ref: 'm1' }, signal))).code).toBe('rate_limited');
  });

  it('an HTTP 5xx is retryable; an empty body or JSON without media is unreachable', async () => {
    expect((await failure(() => scripted(() => new Response('oops', { status: 502 })).fetchMedia({ ref: 'm1' }, signal))).retryable).toBe(true);
    expect((await failure(() => scripted(() => new Response('')).fetchMedia({ ref: 'm1' }, signal))).code).toBe('attachment_unreachable');
    expect((await failure(() => scripted(() => new Response('{"hello":1}')).fetchMedia({ ref: 'm1' }, signal))).code).toBe('attachment_unreachable');
  });

  it('a declared size over the inbound cap is refused', async () => {
    const adapter = createAdapter(testAccount({ maxBytes: 10 }), {
      http: scriptedHttpClient((url) => (url.includes('stable_token') ? tokenAnswer() : new Response(BYTES.mp4, { headers: { 'content-length': '16' } }))),
    });
    expect((await failure(() => adapter.fetchMedia({ ref: 'm1' }, signal))).code).toBe('attachment_too_large');
  });

  it('a video_url on another host is fetched untrusted (so the HTTP guard vets its address) and without credentials', async () => {
    const adapter = createAdapter(testAccount(), {
      http: scriptedHttpClient((url, options) => {
        if (url.includes('stable_token')) return tokenAnswer();
        if (url.includes('media/get')) return new Response(JSON.stringify({ video_url: 'http://169.254.169.254/latest' }));
        expect(options.trustedHosts).toBeUndefined();
        expect(options.credentialHeaders).toBeUndefined();
        expect(url).not.toContain('access_token');
        return new Response('metadata');
      }),
    });
    const media = await adapter.fetchMedia({ ref: 'm1' }, signal);
    expect(await collect(media)).toEqual(new TextEncoder().encode('metadata'));
  });
});
