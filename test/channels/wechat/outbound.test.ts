/**
 * Sending through the adapter against the fake: part mapping, WeChat's media limits, the error
 * mapping to contract codes, and the shared access token (one refresher, no invalidation wars).
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createFake } from '../../../src/channels/wechat/sandbox.ts';
import type { OutboundMedia, OutboundMessage, OutboundPart, SharedState } from '../../../src/core/adapter.ts';
import { ManualClock } from '../../../src/core/clock.ts';
import { OmniError } from '../../../src/core/errors.ts';
import { memorySharedState, type RecordingHttpClient } from '../../conformance/fakes.ts';
import { APP_ID, BYTES, NOW, SECRETS, createAdapter, fakeHttpClient, testAccount } from './helpers.ts';

const API_BASE = 'http://fake.test/sandbox/wechat';
const account = testAccount({ apiBase: API_BASE });
const signal = new AbortController().signal;

function setup(shared: SharedState = memorySharedState()) {
  const clock = new ManualClock(NOW);
  const fake = createFake({ accounts: [account], clock, basePath: '/sandbox/wechat' });
  const http = fakeHttpClient(fake, 'fake.test');
  const adapter = createAdapter(account, { http, clock, shared });
  return { fake, clock, http, adapter, shared };
}

let counter = 0;
function media(ext: keyof typeof BYTES, size?: number): OutboundMedia {
  // A large file keeps its magic number and is zero-filled behind it.
  const bytes = size === undefined ? BYTES[ext] : new Uint8Array(size);
  if (size !== undefined) bytes.set(BYTES[ext]);
  const mime = { jpg: 'image/jpeg', png: 'image/png', gif: 'image/gif', amr: 'audio/amr', mp3: 'audio/mpeg', mp4: 'video/mp4', pdf: 'application/pdf' }[ext];
  return { id: `med_${++counter}`, bytes, mime, ext, size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
}

function message(parts: OutboundPart[], overrides: Partial<OutboundMessage> = {}): OutboundMessage {
  return { messageId: `msg_${++counter}`, idempotencyKey: `key-${counter}`, to: { externalId: 'oUser', conversationExternalId: 'oUser' }, parts, ...overrides };
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

const calls = (http: RecordingHttpClient, path: string) => http.requests.filter((request) => new URL(request.url).pathname.endsWith(path)).length;

describe('part mapping', () => {
  it('text becomes a text message; the result names the message by the daemon id', async () => {
    const { fake, adapter } = setup();
    fake.noteInbound(APP_ID, 'oUser', 'message');
    const outbound = message([{ type: 'text', text: 'Hi 你好' }]);
    expect(await adapter.send!(outbound, signal)).toEqual({ externalId: `cs:${outbound.messageId}`, raw: { messages: 1 } });
    expect(fake.sentMessages()).toMatchObject([{ appId: APP_ID, openId: 'oUser', msgtype: 'text', body: { touser: 'oUser', msgtype: 'text', text: { content: 'Hi 你好' } } }]);
  });

  it('media is uploaded as temporary media first; a caption follows as text', async () => {
    const { fake, http, adapter } = setup();
    fake.noteInbound(APP_ID, 'oUser', 'message');
    await adapter.send!(message([{ type: 'image', media: media('jpg'), caption: 'your receipt' }]), signal);
    expect(http.requests.find((request) => request.url.includes('/media/upload'))!.url).toContain('type=image');
    const sent = fake.sentMessages();
    expect(sent.map((item) => item.msgtype)).toEqual(['image', 'text']);
    expect(sent[0]!.body).toEqual({ touser: 'oUser', msgtype: 'image', image: { media_id: expect.stringMatching(/^[A-Za-z0-9_-]{64}$/) } });
    expect(sent[1]!.body).toMatchObject({ text: { content: 'your receipt' } });
  });

  it('voice and audio become voice (AMR, MP3); video carries title and description, no thumbnail', async () => {
    const { fake, adapter } = setup();
    fake.noteInbound(APP_ID, 'oUser', 'message');
    await adapter.send!(message([{ type: 'voice', media: media('amr') }, { type: 'audio', media: media('mp3') }]), signal);
    await adapter.send!(message([{ type: 'video', media: media('mp4'), caption: 'how to', filename: 'guide.mp4' }]), signal);
    expect(fake.sentMessages().map((item) => item.msgtype)).toEqual(['voice', 'voice', 'video']);
    expect(fake.sentMessages()[2]!.body.video).toEqual({ media_id: expect.any(String), title: 'guide.mp4', description: 'how to' });
  });

  it('buttons and lists become a customer-service menu (msgmenu)', async () => {
    const { fake, adapter } = setup();
    fake.noteInbound(APP_ID, 'oUser', 'message');
    await adapter.send!(message([{ type: 'buttons', header: 'Survey', text: 'Were you satisfied?', footer: 'Thanks', buttons: [{ id: '101', title: 'Yes' }, { id: '102', title: 'No' }] }]), signal);
    expect(fake.sentMessages()[0]!.body).toEqual({
      touser: 'oUser',
      msgtype: 'msgmenu',
      msgmenu: { head_content: 'Survey\nWere you satisfied?', list: [{ id: '101', content: 'Yes' }, { id: '102', content: 'No' }], tail_content: 'Thanks' },
    });
  });

  it('refuses what WeChat cannot carry before any request: files, locations, reactions, templates', async () => {
    const { http, adapter } = setup();
    const cases: Array<[OutboundMessage, string]> = [
      [message([{ type: 'file', media: media('pdf'), filename: 'invoice.pdf' }]), 'attachment_type_not_allowed'],
      [message([{ type: 'location', latitude: 1, longitude: 2 }]), 'invalid_request'],
      [message([{ type: 'reaction', emoji: '👍', targetExternalId: '1' }]), 'invalid_request'],
      [message([], { template: { name: 't', language: 'zh_CN', params: {} } }), 'template_not_supported'],
      [message([{ type: 'text', text: '' }]), 'invalid_request'],
    ];
    for (const [outbound, code] of cases) expect((await failure(() => adapter.send!(outbound, signal))).code).toBe(code);
    expect(http.requests).toEqual([]);
  });

  it("enforces WeChat's own media limits before uploading (image 2 MB, voice AMR/MP3, video MP4)", async () => {
    const { http, adapter } = setup();
    expect((await failure(() => adapter.send!(message([{ type: 'image', media: media('jpg', 2_000_001) }]), signal))).code).toBe('attachment_too_large');
    expect((await failure(() => adapter.send!(message([{ type: 'voice', media: media('gif') }]), signal))).code).toBe('attachment_type_not_allowed');
    expect((await failure(() => adapter.send!(message([{ type: 'video', media: media('mp3') }]), signal))).code).toBe('attachment_type_not_allowed');
    expect((await failure(() => adapter.send!(message([{ type: 'video', media: media('mp4', 10_000_001) }]), signal))).code).toBe('attachment_too_large');
    expect(http.requests).toEqual([]);
  });
});

describe('error mapping', () => {
  it('no window → session_expired with nothing allowed; quota used up → quota_exceeded; stranger → recipient_unreachable', async () => {
    const { fake, adapter, clock } = setup();
    fake.noteInbound(APP_ID, 'oUser', 'message', new Date(NOW.getTime() - 48 * 3_600_000));
    const expired = await failure(() => adapter.send!(message([{ type: 'text', text: 'late' }]), signal));
    expect(expired).toMatchObject({ code: 'session_expired', details: { platformCode: 45015, allowed: [], expiredAt: null } });
    fake.noteInbound(APP_ID, 'oUser', 'message', clock.now());
    for (let i = 0; i < 5; i++) await adapter.send!(message([{ type: 'text', text: `m${i}` }]), signal);
    expect(await failure(() => adapter.send!(message([{ type: 'text', text: 'sixth' }]), signal))).toMatchObject({ code: 'quota_exceeded', details: { platformCode: 45047 } });
    const stranger = await failure(() => adapter.send!(message([{ type: 'text', text: 'x' }], { to: { externalId: 'oNobody', conversationExternalId: 'oNobody' } }), signal));
    expect(stranger.code).toBe('recipient_unreachable');
  });

  it('actionable messages for personal-subject accounts, the IP allow-list, rate limits and blocks', async () => {
    const { fake, adapter } = setup();
    fake.noteInbound(APP_ID, 'oUser', 'message');
    await adapter.checkCredentials();
    const next = async (errcode: number) => {
      fake.failNext(errcode);
      return failure(() => adapter.send!(message([{ type: 'text', text: 'x' }]), signal));
    };
    expect(await next(48001)).toMatchObject({ code: 'channel_rejected', message: expect.stringContaining('personal-subject'), details: { platformCode: 48001 } });
    expect(await next(40164)).toMatchObject({ code: 'channel_rejected', message: expect.stringContaining('IP allow-list'), details: { hint: 'ip_allow_list' } });
    expect(await next(45011)).toMatchObject({ code: 'rate_limited', retryAfterSeconds: 60 });
    const daily = await next(45009);
    expect(daily.code).toBe('rate_limited');
    expect(daily.retryAfterSeconds).toBe(6 * 3600); // 10:00 UTC is 18:00 in China
    expect((await next(43019)).code).toBe('recipient_unreachable');
    expect((await next(-1)).retryable).toBe(true);
  });

  it('checkCredentials names the field at fault, or the IP allow-list', async () => {
    const wrongSecret = createAdapter(testAccount({ apiBase: API_BASE, settings: { appSecret: 'wrong' } }), { http: setup().http });
    expect(await failure(() => wrongSecret.checkCredentials())).toMatchObject({ code: 'channel_rejected', details: { field: 'appSecret', platformCode: 40125 } });
    const { fake, http } = setup();
    const wrongApp = createAdapter(testAccount({ apiBase: API_BASE, settings: { appId: 'wx9999999999999999' } }), { http });
    expect(await failure(() => wrongApp.checkCredentials())).toMatchObject({ code: 'channel_rejected', details: { field: 'appId', platformCode: 40013 } });
    const ok = createAdapter(account, { http });
    fake.failNext(40164, { on: 'token' });
    expect((await failure(() => ok.checkCredentials())).details).toMatchObject({ hint: 'ip_allow_list' });
    await ok.checkCredentials();
  });
});

describe('the shared access token', () => {
  it('is fetched once and shared by every replica', async () => {
    const shared = memorySharedState();
    const { fake, http, clock } = setup(shared);
    fake.noteInbound(APP_ID, 'oUser', 'message');
    const replicas = [0, 1, 2].map(() => createAdapter(account, { http, clock, shared }));
    await Promise.all(replicas.map((replica, i) => replica.send!(message([{ type: 'text', text: `r${i}` }]), signal)));
    expect(calls(http, '/cgi-bin/stable_token')).toBe(1);
    expect(fake.sentMessages()).toHaveLength(3);
  });

  it('after a rejection (token replaced elsewhere) it is refreshed once, without forcing, and the send retried', async () => {
    const { fake, http, adapter } = setup();
    fake.noteInbound(APP_ID, 'oUser', 'message');
    await adapter.send!(message([{ type: 'text', text: 'one' }]), signal);
    // Someone else forces a refresh: the adapter's cached token dies at once.
    await fake.fetch(new Request(`${API_BASE}/cgi-bin/stable_token`, { method: 'POST', body: JSON.stringify({ grant_type: 'client_credential', appid: APP_ID, secret: SECRETS.appSecret, force_refresh: true }) }));
    await adapter.send!(message([{ type: 'text', text: 'two' }]), signal);
    expect(fake.sentMessages()).toHaveLength(2);
    const tokenCalls = http.requests.filter((request) => request.url.endsWith('/cgi-bin/stable_token'));
    expect(tokenCalls).toHaveLength(2);
    expect(fake.tokensIssued(APP_ID)).toBe(2);
  });

  it('forces a refresh only when WeChat keeps handing out the refused token, and never twice in 30 s', async () => {
    const { fake, adapter, clock } = setup();
    fake.noteInbound(APP_ID, 'oUser', 'message');
    await adapter.checkCredentials();
    fake.failNext(40001);
    fake.failNext(40001);
    // Refused, the normal fetch returns the same token, one forced refresh, refused again: give up (retryable).
    const first = await failure(() => adapter.send!(message([{ type: 'text', text: 'x' }]), signal));
    expect(first.retryable).toBe(true);
    expect(fake.tokensIssued(APP_ID)).toBe(2);
    fake.failNext(40001);
    const second = await failure(() => adapter.send!(message([{ type: 'text', text: 'y' }]), signal));
    expect(second).toMatchObject({ code: 'channel_unavailable', message: expect.stringContaining('forced refresh') });
    expect(fake.tokensIssued(APP_ID)).toBe(2);
    clock.advance(30_000);
    await adapter.send!(message([{ type: 'text', text: 'z' }]), signal);
    expect(fake.sentMessages()).toHaveLength(1);
  });
});

describe('messages split in several', () => {
  it('a retry after a failure in the middle does not repeat what already went out', async () => {
    const { fake, adapter, clock } = setup();
    fake.noteInbound(APP_ID, 'oUser', 'message');
    for (let i = 0; i < 3; i++) await adapter.send!(message([{ type: 'text', text: `earlier ${i}` }]), signal);
    const outbound = message([{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }, { type: 'text', text: 'c' }]);
    const error = await failure(() => adapter.send!(outbound, signal));
    expect(error).toMatchObject({ code: 'quota_exceeded', details: { messagesSent: 2, messagesTotal: 3 } });
    fake.noteInbound(APP_ID, 'oUser', 'message', clock.now());
    await adapter.send!(outbound, signal);
    expect(fake.sentMessages().map((item) => (item.body.text as { content: string }).content)).toEqual(['earlier 0', 'earlier 1', 'earlier 2', 'a', 'b', 'c']);
  });
});
