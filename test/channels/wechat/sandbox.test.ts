/**
 * The fake WeChat API behaves like the real one where the adapter depends on it: token
 * invalidation, the 48 h window with its quota and the one-minute grants, media quirks, and
 * simulated pushes that the adapter verifies in every mode.
 */
import { describe, expect, it } from 'vitest';
import { buildPush, createFake, eventXml, simulateInbound, type WeChatFake } from '../../../src/channels/wechat/sandbox.ts';
import { ManualClock } from '../../../src/core/clock.ts';
import { OmniError } from '../../../src/core/errors.ts';
import { APP_ID, BYTES, NOW, SECRETS, createAdapter, testAccount, toRequest } from './helpers.ts';

const BASE = 'http://fake.test/sandbox/wechat';
const account = testAccount();

function setup(): { fake: WeChatFake; clock: ManualClock } {
  const clock = new ManualClock(NOW);
  return { fake: createFake({ accounts: [account], clock, basePath: '/sandbox/wechat' }), clock };
}

async function call(fake: WeChatFake, path: string, init: { method?: string; json?: unknown; body?: RequestInit['body'] } = {}): Promise<{ status: number; type: string; body: any }> {
  const headers = init.json !== undefined ? { 'content-type': 'application/json' } : undefined;
  const response = await fake.fetch(
    new Request(`${BASE}${path}`, { method: init.method ?? (init.json !== undefined || init.body !== undefined ? 'POST' : 'GET'), ...(headers ? { headers } : {}), body: init.json !== undefined ? JSON.stringify(init.json) : init.body }),
  );
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // bytes
  }
  return { status: response.status, type: response.headers.get('content-type') ?? '', body };
}

const stable = (fake: WeChatFake, force = false, secret: string = SECRETS.appSecret) =>
  call(fake, '/cgi-bin/stable_token', { json: { grant_type: 'client_credential', appid: APP_ID, secret, force_refresh: force } });

const send = (fake: WeChatFake, token: string, touser: string, text = 'hi') =>
  call(fake, `/cgi-bin/message/custom/send?access_token=${token}`, { json: { touser, msgtype: 'text', text: { content: text } } });

describe('tokens', () => {
  it('stable_token returns the same token while valid; forcing replaces it and kills the old one at once', async () => {
    const { fake, clock } = setup();
    const first = (await stable(fake)).body;
    expect(first).toEqual({ access_token: expect.any(String), expires_in: 7200 });
    clock.advance(60_000);
    expect((await stable(fake)).body).toEqual({ access_token: first.access_token, expires_in: 7140 });
    fake.noteInbound(APP_ID, 'oUser', 'message');
    expect((await send(fake, first.access_token, 'oUser')).body).toEqual({ errcode: 0, errmsg: 'ok' });
    const forced = (await stable(fake, true)).body;
    expect(forced.access_token).not.toBe(first.access_token);
    expect((await send(fake, first.access_token, 'oUser')).body.errcode).toBe(40001);
    expect((await send(fake, forced.access_token, 'oUser')).body.errcode).toBe(0);
  });

  it('forced refreshes are limited to one per 30 s', async () => {
    const { fake, clock } = setup();
    await stable(fake, true);
    expect((await stable(fake, true)).body.errcode).toBe(45011);
    clock.advance(30_000);
    expect((await stable(fake, true)).body.access_token).toEqual(expect.any(String));
  });

  it('a stable token is renewed 5 minutes before expiry, the old one living until its own end', async () => {
    const { fake, clock } = setup();
    fake.noteInbound(APP_ID, 'oUser', 'message');
    const first = (await stable(fake)).body.access_token;
    clock.advance(7200_000 - 299_000);
    const renewed = (await stable(fake)).body.access_token;
    expect(renewed).not.toBe(first);
    expect((await send(fake, first, 'oUser')).body.errcode).toBe(0);
    clock.advance(300_000);
    expect((await send(fake, first, 'oUser')).body.errcode).toBe(42001);
  });

  it('/cgi-bin/token: each call invalidates the previous token after a 5-minute overlap', async () => {
    const { fake, clock } = setup();
    fake.noteInbound(APP_ID, 'oUser', 'message');
    const get = async () => (await call(fake, `/cgi-bin/token?grant_type=client_credential&appid=${APP_ID}&secret=${SECRETS.appSecret}`)).body.access_token;
    const first = await get();
    const second = await get();
    expect(second).not.toBe(first);
    expect((await send(fake, first, 'oUser')).body.errcode).toBe(0);
    clock.advance(300_001);
    expect((await send(fake, first, 'oUser')).body.errcode).toBe(40001);
    expect((await send(fake, second, 'oUser')).body.errcode).toBe(0);
  });

  it('wrong credentials and missing tokens answer WeChat errcodes with HTTP 200', async () => {
    const { fake } = setup();
    expect((await stable(fake, false, 'wrong')).body.errcode).toBe(40125);
    const unknownApp = await call(fake, '/cgi-bin/stable_token', { json: { grant_type: 'client_credential', appid: 'wx9999999999999999', secret: 'x' } });
    expect(unknownApp).toMatchObject({ status: 200, body: { errcode: 40013, errmsg: expect.stringMatching(/^invalid appid rid: /) } });
    expect((await call(fake, '/cgi-bin/message/custom/send', { json: {} })).body.errcode).toBe(41001);
    expect((await send(fake, 'not-a-token', 'oUser')).body.errcode).toBe(40001);
  });
});

describe('the customer-service window', () => {
  it('allows 5 messages in the 48 h after a user message, then 45047; a new message renews it', async () => {
    const { fake, clock } = setup();
    const token = (await stable(fake)).body.access_token;
    fake.noteInbound(APP_ID, 'oUser', 'message', clock.now());
    for (let i = 0; i < 5; i++) expect((await send(fake, token, 'oUser', `m${i}`)).body.errcode).toBe(0);
    expect((await send(fake, token, 'oUser')).body.errcode).toBe(45047);
    fake.noteInbound(APP_ID, 'oUser', 'message', clock.now());
    expect((await send(fake, token, 'oUser')).body.errcode).toBe(0);
    expect(fake.sentMessages(APP_ID)).toHaveLength(6);
  });

  it('closes after 48 h (45015), and never opens for a user the account has not heard from (40003)', async () => {
    const { fake, clock } = setup();
    fake.noteInbound(APP_ID, 'oUser', 'message', clock.now());
    clock.advance(48 * 3_600_000 - 1);
    const token = (await stable(fake)).body.access_token;
    expect((await send(fake, token, 'oUser')).body.errcode).toBe(0);
    clock.advance(1);
    expect((await send(fake, token, 'oUser')).body.errcode).toBe(45015);
    expect((await send(fake, token, 'oStranger')).body.errcode).toBe(40003);
  });

  it('a follow, click or scan allows 3 messages within one minute', async () => {
    for (const kind of ['follow', 'click', 'scan'] as const) {
      const { fake, clock } = setup();
      const token = (await stable(fake)).body.access_token;
      fake.noteInbound(APP_ID, 'oUser', kind, clock.now());
      for (let i = 0; i < 3; i++) expect((await send(fake, token, 'oUser')).body.errcode, kind).toBe(0);
      expect((await send(fake, token, 'oUser')).body.errcode, kind).toBe(45047);
      fake.noteInbound(APP_ID, 'oUser', kind, clock.now());
      clock.advance(60_000);
      expect((await send(fake, token, 'oUser')).body.errcode, kind).toBe(45015);
    }
  });

  it('after unsubscribe every send is refused with 45015', async () => {
    const { fake } = setup();
    const token = (await stable(fake)).body.access_token;
    fake.noteInbound(APP_ID, 'oUser', 'message');
    fake.noteInbound(APP_ID, 'oUser', 'unsubscribe');
    expect((await send(fake, token, 'oUser')).body.errcode).toBe(45015);
  });

  it('learns of users from another process through /_omnibus/inbound', async () => {
    const { fake } = setup();
    const token = (await stable(fake)).body.access_token;
    expect((await call(fake, '/_omnibus/inbound', { json: { appId: APP_ID, openId: 'oUser', kind: 'message' } })).body).toEqual({ ok: true });
    expect((await send(fake, token, 'oUser')).body.errcode).toBe(0);
    expect((await call(fake, '/_omnibus/inbound', { json: { appId: APP_ID, openId: 'oUser', kind: 'bogus' } })).status).toBe(400);
  });

  it('checks message content: empty text, unknown media, unknown types', async () => {
    const { fake } = setup();
    const token = (await stable(fake)).body.access_token;
    fake.noteInbound(APP_ID, 'oUser', 'message');
    const post = (json: unknown) => call(fake, `/cgi-bin/message/custom/send?access_token=${token}`, { json });
    expect((await post({ touser: 'oUser', msgtype: 'text', text: { content: '' } })).body.errcode).toBe(44004);
    expect((await post({ touser: 'oUser', msgtype: 'image', image: { media_id: 'nope' } })).body.errcode).toBe(40007);
    expect((await post({ touser: 'oUser', msgtype: 'hologram', hologram: {} })).body.errcode).toBe(40008);
    expect((await call(fake, `/cgi-bin/message/custom/send?access_token=${token}`, { body: 'not json' })).body.errcode).toBe(47001);
    fake.failNext(48001);
    expect((await post({ touser: 'oUser', msgtype: 'text', text: { content: 'x' } })).body).toMatchObject({ errcode: 48001, errmsg: expect.stringContaining('api unauthorized') });
  });
});

describe('media', () => {
  const upload = async (fake: WeChatFake, token: string, type: string, bytes: Uint8Array, name: string) => {
    const form = new FormData();
    form.append('media', new Blob([bytes]), name);
    return call(fake, `/cgi-bin/media/upload?access_token=${token}&type=${type}`, { body: form });
  };

  it('upload checks the type by the bytes and the size per type; thumbnails answer thumb_media_id', async () => {
    const { fake } = setup();
    const token = (await stable(fake)).body.access_token;
    expect((await upload(fake, token, 'image', BYTES.png, 'a.png')).body).toEqual({ type: 'image', media_id: expect.stringMatching(/^[A-Za-z0-9_-]{64}$/), created_at: Math.floor(NOW.getTime() / 1000) });
    expect((await upload(fake, token, 'thumb', BYTES.jpg, 'a.jpg')).body).toMatchObject({ type: 'thumb', thumb_media_id: expect.any(String) });
    expect((await upload(fake, token, 'image', BYTES.pdf, 'a.png')).body.errcode).toBe(40005);
    expect((await upload(fake, token, 'voice', BYTES.png, 'a.amr')).body.errcode).toBe(40005);
    expect((await upload(fake, token, 'file', BYTES.pdf, 'a.pdf')).body.errcode).toBe(40004);
    const big = new Uint8Array(2_000_001);
    big.set(BYTES.jpg);
    expect((await upload(fake, token, 'image', big, 'big.jpg')).body.errcode).toBe(40009);
    const thumb = new Uint8Array(64 * 1024 + 1);
    thumb.set(BYTES.jpg);
    expect((await upload(fake, token, 'thumb', thumb, 't.jpg')).body.errcode).toBe(40012);
  });

  it('media/get: bytes with a disposition, JSON errors as text/plain with HTTP 200, videos as video_url', async () => {
    const { fake, clock } = setup();
    const token = (await stable(fake)).body.access_token;
    const image = fake.putMedia(BYTES.jpg, 'image/jpeg');
    const response = await fake.fetch(new Request(`${BASE}/cgi-bin/media/get?access_token=${token}&media_id=${image.id}`));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-disposition')).toBe(`attachment; filename="${image.id}.jpg"`);
    expect(new Uint8Array(await response.arrayBuffer())).toEqual(BYTES.jpg);

    const missing = await call(fake, `/cgi-bin/media/get?access_token=${token}&media_id=nope`);
    expect(missing).toMatchObject({ status: 200, type: 'text/plain', body: { errcode: 40007 } });

    const video = fake.putMedia(BYTES.mp4, 'video/mp4');
    const answer = await call(fake, `/cgi-bin/media/get?access_token=${token}&media_id=${video.id}`);
    expect(answer.body).toEqual({ video_url: expect.stringMatching(/^http:\/\/fake\.test\/sandbox\/wechat\/_media\/video\/[0-9a-f]{32}$/) });
    const bytes = await fake.fetch(new Request(answer.body.video_url));
    expect(new Uint8Array(await bytes.arrayBuffer())).toEqual(BYTES.mp4);

    clock.advance(3 * 86_400_000);
    expect((await call(fake, `/cgi-bin/media/get?access_token=${(await stable(fake)).body.access_token}&media_id=${image.id}`)).body.errcode).toBe(40007);
  });
});

describe('simulated pushes', () => {
  it('are real pushes in the account mode that the adapter verifies and parses', async () => {
    for (const mode of ['safe', 'compat', 'plain'] as const) {
      const modeAccount = testAccount({ settings: { mode } });
      const spec = simulateInbound(modeAccount, { from: 'oUser1', text: 'hello 00123', timestamp: NOW });
      expect(spec.path.startsWith('/webhooks/wechat/acme-wechat?')).toBe(true);
      const query = new URL(`http://x${spec.path}`).searchParams;
      expect(query.get('encrypt_type')).toBe(mode === 'plain' ? null : 'aes');
      expect(String(spec.body).includes('hello 00123')).toBe(mode !== 'safe');
      const adapter = createAdapter(modeAccount);
      const events = adapter.parse(await adapter.verify(toRequest(spec)));
      expect(events, mode).toMatchObject([{ kind: 'message', dedupeKey: expect.stringMatching(/^6\d{18}$/), sender: { externalId: 'oUser1' }, parts: [{ type: 'text', text: 'hello 00123' }] }]);
    }
  });

  it('carry media the fake holds, typed by mime; files, and text with media, are refused', async () => {
    const { fake } = setup();
    const image = fake.putMedia(BYTES.jpg, 'image/jpeg');
    const voice = fake.putMedia(BYTES.amr, 'audio/amr');
    const adapter = createAdapter(account);
    const parts = async (media: { id: string; mime: string }) => adapter.parse(await adapter.verify(toRequest(simulateInbound(account, { from: 'oU', media, timestamp: NOW }))));
    expect(await parts({ id: image.id, mime: 'image/jpeg' })).toMatchObject([{ parts: [{ type: 'image', media: { ref: image.id } }] }]);
    expect(await parts({ id: voice.id, mime: 'audio/amr' })).toMatchObject([{ parts: [{ type: 'voice', media: { ref: voice.id, declaredMime: 'audio/amr' } }] }]);
    expect(() => simulateInbound(account, { from: 'oU', media: { id: 'x', mime: 'application/pdf' } })).toThrow(OmniError);
    expect(() => simulateInbound(account, { from: 'oU', text: 'x', media: { id: image.id, mime: 'image/jpeg' } })).toThrow(/one message at a time/);
    expect(() => simulateInbound(account, { from: ' ', text: 'x' })).toThrow(OmniError);
  });

  it('observe: a simulated push shown to the fake opens the window it would open on WeChat', async () => {
    const { fake, clock } = setup();
    const token = (await stable(fake)).body.access_token;
    const push = simulateInbound(account, { from: 'oSeen', text: 'hi', timestamp: clock.now() });
    expect((await send(fake, token, 'oSeen')).body.errcode).toBe(40003);
    const observed = await call(fake, '/_omnibus/observe', { json: push });
    expect(observed).toMatchObject({ status: 200, body: { ok: true, noted: [{ appId: APP_ID, openId: 'oSeen', kind: 'message' }] } });
    expect((await send(fake, token, 'oSeen')).body.errcode).toBe(0);
    const bye = buildPush(account, eventXml(account, { from: 'oSeen', event: 'unsubscribe', at: clock.now() }), { at: clock.now() });
    expect(fake.observe(bye)).toEqual({ ok: true, noted: [{ appId: APP_ID, openId: 'oSeen', kind: 'unsubscribe' }] });
    expect((await send(fake, token, 'oSeen')).body.errcode).toBe(45015);
  });

  it('observe refuses what the adapter would refuse: tampered, stale, or for another account', async () => {
    const { fake, clock } = setup();
    const push = simulateInbound(account, { from: 'oSeen', text: 'hi', timestamp: clock.now() });
    expect(fake.observe({ ...push, path: push.path.replace(/msg_signature=[0-9a-f]+/, `msg_signature=${'1'.repeat(40)}`) })).toEqual({ ok: false, reason: 'signature_mismatch' });
    expect(fake.observe(simulateInbound(account, { from: 'oSeen', text: 'hi', timestamp: new Date(NOW.getTime() - 3_600_000) }))).toEqual({ ok: false, reason: 'stale_timestamp' });
    expect(fake.observe({ ...push, path: push.path.replace('acme-wechat', 'other') })).toEqual({ ok: false, reason: 'unknown_account' });
    expect((await call(fake, '/_omnibus/observe', { body: 'nope' })).status).toBe(400);
  });

  it('deliver and deliverEvent note the user and post the push through deliverWebhook', async () => {
    const posted: string[] = [];
    const clock = new ManualClock(NOW);
    const fake = createFake({ accounts: [account], clock, deliverWebhook: async (spec) => void posted.push(spec.path) });
    await fake.deliverEvent('acme-wechat', { from: 'oFan', event: 'subscribe', eventKey: 'qrscene_7' });
    await fake.deliver('acme-wechat', { from: 'oFan', text: 'hi' });
    expect(posted).toHaveLength(2);
    const tokenResponse = await fake.fetch(new Request('http://fake.test/cgi-bin/stable_token', { method: 'POST', body: JSON.stringify({ grant_type: 'client_credential', appid: APP_ID, secret: SECRETS.appSecret }) }));
    const token = (await tokenResponse.json()) as { access_token: string };
    const sent = await fake.fetch(new Request(`http://fake.test/cgi-bin/message/custom/send?access_token=${token.access_token}`, { method: 'POST', body: JSON.stringify({ touser: 'oFan', msgtype: 'text', text: { content: 'welcome' } }) }));
    expect(await sent.json()).toEqual({ errcode: 0, errmsg: 'ok' });
  });
});
