/**
 * Inbound media: content from the content host (with LINE's 202 phase polled through
 * `/content/transcoding`), 404/410 as failures with their reason, third-party (external) URLs
 * only through the guarded client without credentials, stickers from the sticker host.
 */
import { describe, expect, it } from 'vitest';
import { createFake } from '../../../src/channels/line/sandbox.ts';
import type { FetchedMedia } from '../../../src/core/adapter.ts';
import { ManualClock } from '../../../src/core/clock.ts';
import { OmniError } from '../../../src/core/errors.ts';
import { scriptedHttpClient } from '../../conformance/fakes.ts';
import { BYTES, FAKE_BASE, NOW, createAdapter, fakeHttpClient, m4a, testAccount } from './helpers.ts';

const signal = new AbortController().signal;
const account = testAccount({ apiBase: FAKE_BASE });

function setup() {
  const fake = createFake({ accounts: [account], clock: new ManualClock(NOW), basePath: '/sandbox/line' });
  const http = fakeHttpClient(fake);
  return { fake, http, adapter: createAdapter(account, { http }) };
}

async function bytesOf(media: FetchedMedia): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of media.body) chunks.push(chunk);
  return new Uint8Array(Buffer.concat(chunks));
}

async function failure(promise: Promise<unknown>): Promise<OmniError> {
  const error = await promise.then(() => undefined, (caught: unknown) => caught);
  expect(error).toBeInstanceOf(OmniError);
  return error as OmniError;
}

describe('fetchMedia', () => {
  it('streams LINE-hosted content by message id, with the bearer token only for LINE', async () => {
    const { fake, http, adapter } = setup();
    const { id } = fake.putMedia(BYTES.jpg, 'image/jpeg');
    const media = await adapter.fetchMedia({ ref: `content:${id}` }, signal);
    expect(media).toMatchObject({ declaredMime: 'image/jpeg', declaredSize: BYTES.jpg.length });
    expect(await bytesOf(media)).toEqual(BYTES.jpg);
    expect(http.requests[0]).toMatchObject({ url: `${FAKE_BASE}/v2/bot/message/${id}/content`, headers: { authorization: `Bearer ${account.settings.channelAccessToken}` } });
  });

  it('polls /content/transcoding while LINE answers 202, then fetches the ready content', async () => {
    const { fake, http, adapter } = setup();
    const audio = m4a(2000);
    const { id } = fake.putMediaTranscoding(audio, 'audio/mp4', 2);
    expect(await bytesOf(await adapter.fetchMedia({ ref: `content:${id}` }, signal))).toEqual(audio);
    const paths = http.requests.map((request) => new URL(request.url).pathname.replace('/sandbox/line', ''));
    expect(paths).toEqual([
      `/v2/bot/message/${id}/content`,
      `/v2/bot/message/${id}/content/transcoding`,
      `/v2/bot/message/${id}/content/transcoding`,
      `/v2/bot/message/${id}/content`,
    ]);
  });

  it('404 and 410 fail as unreachable with their reason, not retried', async () => {
    const { fake, adapter } = setup();
    const missing = await failure(adapter.fetchMedia({ ref: 'content:123456789012345678' }, signal));
    expect(missing).toMatchObject({ code: 'attachment_unreachable', details: { status: 404, reason: 'not_found' } });
    expect(missing.retryable).toBe(false);
    const { id } = fake.putMedia(BYTES.png, 'image/png');
    fake.expireMedia(id);
    expect(await failure(adapter.fetchMedia({ ref: `content:${id}` }, signal))).toMatchObject({ code: 'attachment_unreachable', details: { status: 410, reason: 'gone' } });
  });

  it('transcoding that fails is final', async () => {
    const failed = scriptedHttpClient((url) =>
      url.endsWith('/transcoding') ? new Response('{"status":"failed"}', { status: 200 }) : new Response(null, { status: 202 }),
    );
    expect(await failure(createAdapter(testAccount(), { http: failed }).fetchMedia({ ref: 'content:1' }, signal))).toMatchObject({
      code: 'attachment_unreachable',
      details: { reason: 'transcoding_failed' },
    });
  });

  it('external content goes through the guarded client as an untrusted public URL, without credentials', async () => {
    const http = scriptedHttpClient(() => new Response(BYTES.jpg, { status: 200, headers: { 'content-type': 'image/jpeg' } }));
    const seen: Array<{ trustedHosts?: ReadonlyArray<string>; credentialHeaders?: Record<string, string> }> = [];
    const adapter = createAdapter(testAccount(), {
      http: { request: (url, options = {}) => (seen.push(options), http.request(url, options)) },
    });
    expect(await bytesOf(await adapter.fetchMedia({ ref: 'external:https://example.com/original.jpg' }, signal))).toEqual(BYTES.jpg);
    expect(http.requests.map((request) => request.url)).toEqual(['https://example.com/original.jpg']);
    expect(seen[0]!.trustedHosts).toBeUndefined();
    expect(seen[0]!.credentialHeaders).toBeUndefined();
    expect(http.requests[0]!.headers.authorization).toBeUndefined();
    expect((await failure(adapter.fetchMedia({ ref: 'external:http://example.com/x.jpg' }, signal))).code).toBe('attachment_unreachable');
  });

  it('stickers come from the sticker host; odd refs are refused without a call', async () => {
    const { http, adapter } = setup();
    const sticker = await adapter.fetchMedia({ ref: 'sticker:52002734' }, signal);
    expect((await bytesOf(sticker)).subarray(0, 4)).toEqual(BYTES.png.subarray(0, 4));
    expect(http.requests[0]!.url).toBe(`${FAKE_BASE}/stickershop/v1/sticker/52002734/android/sticker.png`);
    expect(http.requests[0]!.headers.authorization).toBeUndefined();
    for (const ref of ['content:../../etc', 'sticker:x', 'nothing', 'file:/etc/passwd']) {
      expect(await failure(adapter.fetchMedia({ ref }, signal))).toMatchObject({ code: 'attachment_unreachable', details: { reason: 'invalid_media_ref' } });
    }
    expect(http.requests).toHaveLength(1);
  });
});
