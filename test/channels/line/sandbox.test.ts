/**
 * The LINE sandbox: simulated webhooks are signed batches exactly as LINE sends them (text,
 * file, postback, group), the fake learns reply tokens by observing them (single use, one
 * minute), push honours friends, and the fake speaks LINE's error formats.
 */
import { describe, expect, it } from 'vitest';
import { createFake, simulateInbound } from '../../../src/channels/line/sandbox.ts';
import { ManualClock } from '../../../src/core/clock.ts';
import { BYTES, FAKE_BASE, NOW, createAdapter, testAccount, toRequest } from './helpers.ts';

const account = testAccount({ apiBase: FAKE_BASE });
const USER = 'U-sandbox-1';

function fakeAt(clock = new ManualClock(NOW)) {
  return { clock, fake: createFake({ accounts: [account], clock, basePath: '/sandbox/line' }) };
}

const api = (path: string, init: RequestInit & { token?: string } = {}) =>
  new Request(`${FAKE_BASE}${path}`, {
    ...init,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${init.token ?? account.settings.channelAccessToken}`, ...(init.headers as Record<string, string>) },
  });

describe('simulateInbound', () => {
  it('builds a signed batch the adapter verifies and parses: text and a file as two events, in order', async () => {
    const { fake } = fakeAt();
    const file = fake.putMedia(BYTES.png, 'image/png', 'menu.png');
    const spec = simulateInbound(account, { from: USER, text: 'hello', media: { id: file.id, mime: 'image/png' }, timestamp: NOW });
    expect(spec).toMatchObject({ method: 'POST', path: '/webhooks/line/acme-line' });
    const adapter = createAdapter(account);
    const events = adapter.parse(await adapter.verify(toRequest(spec)));
    expect(events.map((event) => event.kind === 'message' && event.parts[0]!.type)).toEqual(['text', 'image']);
    const [text, image] = events as Array<Extract<(typeof events)[number], { kind: 'message' }>>;
    expect(text!.replyContext?.token).toMatch(/^[0-9a-f]{32}$/);
    expect(text!.dedupeKey).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(image!.parts[0]).toMatchObject({ media: { ref: `content:${file.id}` } });
    expect(image!.externalId).toBe(file.id);
  });

  it('callback → a postback (reply part); group → a group source', async () => {
    const spec = simulateInbound(account, { from: USER, callback: 'size:l', group: 'Cgroup1', timestamp: NOW });
    const adapter = createAdapter(account);
    const [event] = adapter.parse(await adapter.verify(toRequest(spec)));
    expect(event).toMatchObject({
      kind: 'message',
      conversation: { externalId: 'group:Cgroup1', kind: 'group' },
      sender: { externalId: USER },
      parts: [{ type: 'reply', id: 'size:l', title: 'size:l' }],
    });
  });

  it('refuses an empty simulation or a missing sender', () => {
    expect(() => simulateInbound(account, { from: USER })).toThrow(/text, a file or a callback/);
    expect(() => simulateInbound(account, { from: ' ', text: 'x' })).toThrow(/--from/);
  });
});

describe('the fake Messaging API', () => {
  it('reply tokens are single use and expire after a minute', async () => {
    const { clock, fake } = fakeAt();
    const tokenOf = async () => JSON.parse((await fake.deliver(account.id, { from: USER, text: 'hi' })).body as string).events[0].replyToken as string;
    const reply = (replyToken: string) => fake.fetch(api('/v2/bot/message/reply', { method: 'POST', body: JSON.stringify({ replyToken, messages: [{ type: 'text', text: 'ok' }] }) }));
    const first = await tokenOf();
    expect((await reply(first)).status).toBe(200);
    const again = await reply(first);
    expect(again.status).toBe(400);
    expect(await again.json()).toEqual({ message: 'Invalid reply token' });
    const late = await tokenOf();
    clock.advance(61_000);
    expect((await reply(late)).status).toBe(400);
    expect(fake.sentMessages()).toHaveLength(1);
  });

  it('a reply with a retry key is a 400, as on LINE', async () => {
    const { fake } = fakeAt();
    const token = JSON.parse((await fake.deliver(account.id, { from: USER, text: 'hi' })).body as string).events[0].replyToken;
    const response = await fake.fetch(
      api('/v2/bot/message/reply', { method: 'POST', headers: { 'x-line-retry-key': '123e4567-e89b-52d3-a456-426614174000' }, body: JSON.stringify({ replyToken: token, messages: [{ type: 'text', text: 'ok' }] }) }),
    );
    expect(response.status).toBe(400);
  });

  it('push to someone who is not a friend is answered 200 and not delivered; a retry key answers 409 the second time', async () => {
    const { fake } = fakeAt();
    const push = (to: string, key: string) =>
      fake.fetch(api('/v2/bot/message/push', { method: 'POST', headers: { 'x-line-retry-key': key }, body: JSON.stringify({ to, messages: [{ type: 'text', text: 'news' }] }) }));
    expect((await push('Ustranger', '123e4567-e89b-52d3-a456-426614174000')).status).toBe(200);
    expect(fake.sentMessages()[0]!.delivered).toBe(false);
    const second = await push('Ustranger', '123e4567-e89b-52d3-a456-426614174000');
    expect(second.status).toBe(409);
    expect(second.headers.get('x-line-accepted-request-id')).toMatch(/^[0-9a-f]{32}$/);
    expect(fake.sentMessages()).toHaveLength(1);
    expect((await push('Ustranger', 'not-a-uuid')).status).toBe(400);
  });

  it('observes webhooks posted from another process through /_omnibus/observe', async () => {
    const { fake } = fakeAt();
    const spec = simulateInbound(account, { from: USER, text: 'hi', timestamp: NOW });
    const response = await fake.fetch(new Request(`${FAKE_BASE}/_omnibus/observe`, { method: 'POST', body: JSON.stringify(spec) }));
    expect(await response.json()).toEqual({ ok: true, replyTokens: 1, friends: [USER] });
    const forged = await fake.fetch(new Request(`${FAKE_BASE}/_omnibus/observe`, { method: 'POST', body: JSON.stringify({ ...spec, headers: { 'x-line-signature': 'AAAA' } }) }));
    expect(forged.status).toBe(400);
  });

  it('answers an unknown token with LINE\'s 401 and unknown routes with 404', async () => {
    const { fake } = fakeAt();
    expect((await fake.fetch(api('/v2/bot/info', { token: 'nope' }))).status).toBe(401);
    expect((await fake.fetch(api('/v2/bot/info'))).status).toBe(200);
    expect((await fake.fetch(api('/v2/bot/nothing'))).status).toBe(404);
  });
});
