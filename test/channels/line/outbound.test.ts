/**
 * Sending through the fake Messaging API: reply while the token is fresh, push otherwise or
 * when LINE refuses the token, the retry key reused by every attempt (409 = already sent, one
 * message), message formats, and each error LINE answers in the contract's terms.
 */
import { describe, expect, it } from 'vitest';
import { createFake, type LineFake } from '../../../src/channels/line/sandbox.ts';
import { retryKeyFor } from '../../../src/channels/line/outbound.ts';
import type { ChannelAdapter, OutboundMessage, OutboundPart, SharedState } from '../../../src/core/adapter.ts';
import { ManualClock } from '../../../src/core/clock.ts';
import { OmniError } from '../../../src/core/errors.ts';
import { HttpClientError } from '../../../src/core/http-client.ts';
import { memorySharedState } from '../../conformance/fakes.ts';
import { BYTES, FAKE_BASE, MEDIA_LINKS, NOW, createAdapter, fakeHttpClient, m4a, testAccount } from './helpers.ts';

const USER = 'U206d25c2ea6bd87c17655609a1c37cb8';
const account = testAccount({ apiBase: FAKE_BASE });
const signal = new AbortController().signal;

function setup(options: { links?: boolean; shared?: SharedState; videoPreviewUrl?: string } = {}) {
  const clock = new ManualClock(NOW);
  const acc = options.videoPreviewUrl ? testAccount({ apiBase: FAKE_BASE, settings: { videoPreviewUrl: options.videoPreviewUrl } }) : account;
  const fake = createFake({ accounts: [acc], clock, basePath: '/sandbox/line' });
  const http = fakeHttpClient(fake);
  const adapter = createAdapter(acc, { http, clock, shared: options.shared ?? memorySharedState(), ...(options.links !== false ? { mediaLinks: MEDIA_LINKS } : {}) });
  return { clock, fake, http, adapter };
}

/** A user writes: the fake hands out a reply token and learns the friend. */
async function userWrites(fake: LineFake, text = 'hello', group?: string) {
  const spec = await fake.deliver(account.id, { from: USER, text, ...(group ? { group } : {}) });
  const event = JSON.parse(spec.body as string).events[0];
  return { token: event.replyToken as string, at: new Date(event.timestamp as number) };
}

function message(parts: OutboundPart[], extra: Partial<OutboundMessage> = {}): OutboundMessage {
  return { messageId: 'msg_1', idempotencyKey: 'idem-1', to: { externalId: USER, conversationExternalId: USER, conversationKind: 'direct' }, parts, ...extra };
}

const text = (value = 'Thanks for writing'): OutboundPart => ({ type: 'text', text: value });
const media = (ext: string, bytes: Uint8Array, mime: string) => ({ id: `media_${ext}`, bytes, mime, ext, size: bytes.length, sha256: 'x' });

async function failure(adapter: ChannelAdapter, outbound: OutboundMessage): Promise<OmniError> {
  try {
    await adapter.send!(outbound, signal);
  } catch (error) {
    expect(error).toBeInstanceOf(OmniError);
    return error as OmniError;
  }
  throw new Error('expected the send to fail');
}

describe('routes', () => {
  it('answers through a fresh reply token: free, no retry key, the token used up', async () => {
    const { fake, adapter, http } = setup();
    const { token, at } = await userWrites(fake);
    const result = await adapter.send!(message([text()], { replyContext: { token, expiresAt: new Date(at.getTime() + 60_000), inboundExternalId: 'x' } }), signal);
    expect(result.route).toBe('reply');
    expect(result.externalId).toMatch(/^\d{18}$/);
    const sent = fake.sentMessages();
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ route: 'reply', to: USER, messages: [{ type: 'text', text: 'Thanks for writing' }] });
    const call = http.requests.find((request) => request.url.endsWith('/v2/bot/message/reply'))!;
    expect(call.headers['x-line-retry-key']).toBeUndefined();
    expect(call.headers.authorization).toBe(`Bearer ${account.settings.channelAccessToken}`);
  });

  it('falls back to push when LINE refuses the token (already used)', async () => {
    const { fake, adapter } = setup();
    const { token, at } = await userWrites(fake);
    const replyContext = { token, expiresAt: new Date(at.getTime() + 60_000), inboundExternalId: 'x' };
    await adapter.send!(message([text('first')], { messageId: 'msg_a', idempotencyKey: 'a', replyContext }), signal);
    const second = await adapter.send!(message([text('second')], { messageId: 'msg_b', idempotencyKey: 'b', replyContext }), signal);
    expect(second.route).toBe('push');
    expect(fake.sentMessages().map((sent) => sent.route)).toEqual(['reply', 'push']);
    expect(fake.sentMessages()[1]!.retryKey).toBe(retryKeyFor(account.id, 'b'));
  });

  it('pushes at once when the reply context is no longer fresh', async () => {
    const { fake, adapter, http } = setup();
    const { token } = await userWrites(fake);
    const result = await adapter.send!(message([text()], { replyContext: { token, expiresAt: new Date(NOW.getTime() + 1_000), inboundExternalId: 'x' } }), signal);
    expect(result.route).toBe('push');
    expect(http.requests.some((request) => request.url.endsWith('/reply'))).toBe(false);
  });

  it('push reuses one retry key for every attempt: a repeat is a 409, answered as success, one message sent', async () => {
    const { fake, adapter } = setup();
    await userWrites(fake);
    const first = await adapter.send!(message([text()]), signal);
    // Another replica (its own adapter, same idempotency key) retries the same command.
    const replica = createAdapter(account, { http: fakeHttpClient(fake), clock: new ManualClock(NOW) });
    const again = await replica.send!(message([text()]), signal);
    expect(again).toMatchObject({ route: 'push', externalId: first.externalId, raw: { alreadyAccepted: true } });
    expect(fake.sentMessages()).toHaveLength(1);
  });

  it('derives the retry key as a UUID from account and idempotency key', () => {
    const key = retryKeyFor('acme-line', 'idem-1');
    expect(key).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(retryKeyFor('acme-line', 'idem-1')).toBe(key);
    expect(retryKeyFor('acme-line', 'idem-2')).not.toBe(key);
    expect(retryKeyFor('other-line', 'idem-1')).not.toBe(key);
  });

  it('a group conversation is pushed to the group id', async () => {
    const { fake, adapter } = setup();
    await userWrites(fake, 'hi all', 'Ca56f94637cc4347f90a25382909b24b9');
    await adapter.send!(message([text()], { to: { externalId: USER, conversationExternalId: 'group:Ca56f94637cc4347f90a25382909b24b9', conversationKind: 'group' } }), signal);
    expect(fake.sentMessages()[0]).toMatchObject({ route: 'push', to: 'Ca56f94637cc4347f90a25382909b24b9', delivered: true });
  });

  it('a reply whose outcome was lost is not pushed again when the retry finds its token used', async () => {
    const clock = new ManualClock(NOW);
    const fake = createFake({ accounts: [account], clock, basePath: '/sandbox/line' });
    const inner = fakeHttpClient(fake);
    let dropNextReply = true;
    const http = {
      async request(url: string, options: Parameters<typeof inner.request>[1]) {
        const response = await inner.request(url, options);
        if (url.endsWith('/reply') && dropNextReply) {
          dropNextReply = false;
          throw new HttpClientError('network', 'connection reset after the request was sent');
        }
        return response;
      },
    };
    const shared = memorySharedState();
    const adapter = createAdapter(account, { http, clock, shared });
    const { token, at } = await userWrites(fake);
    const outbound = message([text()], { replyContext: { token, expiresAt: new Date(at.getTime() + 60_000), inboundExternalId: 'x' } });
    const lost = await failure(adapter, outbound);
    expect(lost.code).toBe('channel_unavailable');
    const retried = await adapter.send!(outbound, signal);
    expect(retried).toMatchObject({ route: 'reply', raw: { uncertain: true } });
    expect(fake.sentMessages()).toHaveLength(1);
  });
});

describe('message formats', () => {
  it('media go by signed link; a caption is one more text message, counted by platformMessageCount', async () => {
    const { fake, adapter } = setup();
    await userWrites(fake);
    const parts: OutboundPart[] = [{ type: 'image', media: media('jpg', BYTES.jpg, 'image/jpeg'), caption: 'our menu' }];
    expect(adapter.platformMessageCount!(parts)).toBe(2);
    await adapter.send!(message(parts), signal);
    const [image, caption] = fake.sentMessages()[0]!.messages;
    expect(image).toMatchObject({ type: 'image', originalContentUrl: expect.stringMatching(/^https:\/\/omnibus\.example\.com\/v1\/media\/media_jpg\?/) });
    expect(image!.previewImageUrl).toBe(image!.originalContentUrl);
    expect(caption).toEqual({ type: 'text', text: 'our menu' });
  });

  it('audio carries the duration read from the m4a; other audio is refused before any call', async () => {
    const { fake, adapter } = setup();
    await userWrites(fake);
    await adapter.send!(message([{ type: 'audio', media: media('m4a', m4a(4321), 'audio/mp4') }]), signal);
    expect(fake.sentMessages()[0]!.messages[0]).toMatchObject({ type: 'audio', duration: 4321 });
    const refused = await failure(adapter, message([{ type: 'audio', media: media('mp3', BYTES.mp3, 'audio/mpeg') }], { idempotencyKey: 'mp3' }));
    expect(refused.code).toBe('attachment_type_not_allowed');
  });

  it('video needs the configured preview image', async () => {
    const withPreview = setup({ videoPreviewUrl: 'https://cdn.example.com/preview.jpg' });
    expect(withPreview.adapter.capabilities.outbound!.parts).toContain('video');
    await userWrites(withPreview.fake);
    await withPreview.adapter.send!(message([{ type: 'video', media: media('mp4', m4a(1000), 'video/mp4') }]), signal);
    expect(withPreview.fake.sentMessages()[0]!.messages[0]).toMatchObject({ type: 'video', previewImageUrl: 'https://cdn.example.com/preview.jpg' });
    const without = setup();
    expect(without.adapter.capabilities.outbound!.parts).not.toContain('video');
    expect((await failure(without.adapter, message([{ type: 'video', media: media('mp4', m4a(1000), 'video/mp4') }]))).details?.field).toBe('videoPreviewUrl');
  });

  it('without public media links, media is neither declared nor sent', async () => {
    const { adapter } = setup({ links: false });
    expect(adapter.capabilities.outbound!.parts).toEqual(['text', 'location', 'buttons']);
    const error = await failure(adapter, message([{ type: 'image', media: media('png', BYTES.png, 'image/png') }]));
    expect(error).toMatchObject({ code: 'attachment_unreachable', details: { field: 'http.publicUrl' } });
  });

  it('buttons are postback quick replies on the last message; a tap comes back as their id', async () => {
    const { fake, adapter } = setup();
    await userWrites(fake);
    const buttons: OutboundPart = { type: 'buttons', text: 'Which size?', buttons: [{ id: 'size:s', title: 'Small' }, { id: 'size:l', title: 'Large and extra large' }] };
    await adapter.send!(message([buttons]), signal);
    expect(fake.sentMessages()[0]!.messages[0]).toEqual({
      type: 'text',
      text: 'Which size?',
      quickReply: {
        items: [
          { type: 'action', action: { type: 'postback', label: 'Small', data: 'size:s', displayText: 'Small' } },
          { type: 'action', action: { type: 'postback', label: 'Large and extra larg', data: 'size:l', displayText: 'Large and extra large' } },
        ],
      },
    });
    const notLast = await failure(adapter, message([buttons, text()], { idempotencyKey: 'x' }));
    expect(notLast.code).toBe('invalid_request');
  });

  it('a location gets the title and address LINE requires', async () => {
    const { fake, adapter } = setup();
    await userWrites(fake);
    await adapter.send!(message([{ type: 'location', latitude: 35.65, longitude: 139.7 }]), signal);
    expect(fake.sentMessages()[0]!.messages[0]).toEqual({ type: 'location', title: 'Location', address: '35.65, 139.7', latitude: 35.65, longitude: 139.7 });
  });

  it('refuses more than five messages, files and templates before calling LINE', async () => {
    const { adapter, http } = setup();
    const six = Array.from({ length: 6 }, () => text());
    expect((await failure(adapter, message(six))).code).toBe('invalid_request');
    expect((await failure(adapter, message([{ type: 'file', media: media('pdf', BYTES.png, 'application/pdf') }]))).code).toBe('attachment_type_not_allowed');
    expect((await failure(adapter, message([text()], { template: { name: 't', language: 'en', params: {} } }))).code).toBe('template_not_supported');
    expect(http.requests).toEqual([]);
  });
});

describe('errors', () => {
  it('429 is rate_limited, with Retry-After when given', async () => {
    const { fake, adapter } = setup();
    fake.failNext('push', 429, 'The API rate limit has been exceeded. Try again later.', { 'retry-after': '3' });
    const error = await failure(adapter, message([text()]));
    expect(error).toMatchObject({ code: 'rate_limited', retryAfterSeconds: 3 });
    expect(error.retryable).toBe(true);
  });

  it('429 "You have reached your monthly limit." is quota_exceeded and not retried', async () => {
    const { fake, adapter } = setup();
    fake.failNext('push', 429, 'You have reached your monthly limit.');
    const error = await failure(adapter, message([text()]));
    expect(error.code).toBe('quota_exceeded');
    expect(error.retryable).toBe(false);
    // The fake's own quota gives the same answer once pushes use it up.
    await userWrites(fake);
    fake.setQuota(account.id, 1, 1);
    expect((await failure(adapter, message([text()], { idempotencyKey: 'other' }))).code).toBe('quota_exceeded');
  });

  it('400 "Failed to send messages" is recipient_unreachable; 401 names the token; 5xx retries', async () => {
    const { fake, adapter } = setup();
    fake.failNext('push', 400, 'Failed to send messages');
    expect((await failure(adapter, message([text()]))).code).toBe('recipient_unreachable');
    fake.failNext('push', 401, 'Authentication failed.');
    expect(await failure(adapter, message([text()]))).toMatchObject({ code: 'channel_rejected', details: { field: 'channelAccessToken' } });
    fake.failNext('push', 500, 'Internal server error');
    expect((await failure(adapter, message([text()]))).retryable).toBe(true);
  });

  it('a refused message object is channel_rejected with what LINE said about it', async () => {
    const { fake, adapter } = setup();
    fake.failNext('push', 400, 'The request body has 1 error(s)');
    const error = await failure(adapter, message([text()]));
    expect(error).toMatchObject({ code: 'channel_rejected', details: { status: 400, platformMessage: 'The request body has 1 error(s)' } });
  });
});

describe('quota, profiles and credentials', () => {
  it('reads the monthly push quota: limit and what pushes used', async () => {
    const { fake, adapter } = setup();
    fake.setQuota(account.id, 1000, 10);
    await userWrites(fake);
    await adapter.send!(message([text(), text()]), signal);
    const reading = await adapter.accountQuota!('monthly_push', signal);
    expect(reading).toMatchObject({ name: 'monthly_push', limit: 1000, used: 12 });
    expect(reading.resetsAt).toEqual(new Date('2026-11-30T15:00:00.000Z'));
    fake.setQuota(account.id, null);
    expect((await adapter.accountQuota!('monthly_push', signal)).limit).toBeNull();
    expect(adapter.capabilities.accountQuotas).toEqual([{ name: 'monthly_push', appliesTo: 'push' }]);
  });

  it('looks up display names; no profile (404) is null, not an error', async () => {
    const { fake, adapter, http } = setup();
    fake.setProfile(account.id, USER, 'Hanako');
    expect(await adapter.lookupIdentity!(USER, signal)).toEqual({ externalId: USER, displayName: 'Hanako' });
    expect(await adapter.lookupIdentity!('U00000000000000000000000000000000', signal)).toBeNull();
    const calls = http.requests.length;
    expect(await adapter.lookupIdentity!('group:Ca56f94637cc4347f90a25382909b24b9', signal)).toBeNull();
    expect(http.requests.length).toBe(calls);
  });

  it('issues one short-lived token for all replicas sharing state, and names the secret when LINE refuses it', async () => {
    const issued = testAccount({ apiBase: FAKE_BASE, settings: { channelAccessToken: undefined, channelId: '1234567890' } });
    const clock = new ManualClock(NOW);
    const fake = createFake({ accounts: [issued], clock, basePath: '/sandbox/line' });
    const shared = memorySharedState();
    const replicas = [1, 2].map(() => createAdapter(issued, { http: fakeHttpClient(fake), clock, shared }));
    await Promise.all(replicas.map((replica) => replica.checkCredentials()));
    await replicas[1]!.checkCredentials();
    expect(fake.tokensIssued()).toBe(1);
    const wrong = testAccount({ apiBase: FAKE_BASE, settings: { channelAccessToken: undefined, channelId: '1234567890', channelSecret: 'wrong-secret-000' } });
    const error = await createAdapter(wrong, { http: fakeHttpClient(fake), clock }).checkCredentials().catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'channel_rejected', details: { field: 'channelSecret' } });
    expect(JSON.stringify((error as OmniError).details)).not.toContain('wrong-secret-000');
  });

  it('an issued token LINE refuses (401) is replaced once, and the send goes through', async () => {
    const issued = testAccount({ apiBase: FAKE_BASE, settings: { channelAccessToken: undefined, channelId: '1234567890' } });
    const clock = new ManualClock(NOW);
    const fake = createFake({ accounts: [issued], clock, basePath: '/sandbox/line' });
    const adapter = createAdapter(issued, { http: fakeHttpClient(fake), clock });
    await fake.deliver(issued.id, { from: USER, text: 'hi' });
    await adapter.send!(message([text('one')], { idempotencyKey: 'one' }), signal);
    fake.failNext('push', 401, 'Authentication failed.');
    const result = await adapter.send!(message([text('two')], { idempotencyKey: 'two' }), signal);
    expect(result.route).toBe('push');
    expect(fake.tokensIssued()).toBe(2);
    expect(fake.sentMessages().map((sent) => sent.messages[0]!.text)).toEqual(['one', 'two']);
  });
});
