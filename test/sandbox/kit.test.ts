/**
 * The sandbox kit on its own: the app shell, account index, token auth, media store (cap,
 * retention, signed links, access keys), windows with quotas, rate buckets and failure queue,
 * all on a manual clock.
 */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.ts';
import type { AccountConfig } from '../../src/core/config/types.ts';
import {
  AccountIndex, ConversationWindows, FailureQueue, FakeRefusal, MediaStore, RateBuckets, createFakeApp, jsonAnswer, registerObserveRoute,
  requestToken, tokenOwners,
} from '../../src/sandbox/index.ts';

const account = (id: string, settings: Record<string, unknown>) => ({ id, channel: 'x', settings }) as unknown as AccountConfig<Record<string, unknown>>;

describe('createFakeApp', () => {
  const fake = () => {
    const { app, fetch, basePath } = createFakeApp({
      basePath: '/sandbox/x/',
      notFound: (path) => jsonAnswer({ unknown: path }, { status: 404 }),
      onError: () => jsonAnswer({ fault: true }, { status: 500 }),
    });
    app.get('/ok', () => jsonAnswer({ ok: true }));
    app.get('/refuse', () => {
      throw new FakeRefusal(jsonAnswer({ refused: true }, { status: 400 }));
    });
    app.get('/boom', () => {
      throw new Error('bug');
    });
    registerObserveRoute(app, (spec) => ({ status: 200, body: { saw: spec.headers['x-sig'] } }));
    return { fetch, basePath };
  };
  const call = async (path: string, init?: RequestInit) => {
    const response = await fake().fetch(new Request(`http://fake.test${path}`, init));
    return { status: response.status, body: await response.json() };
  };

  it('serves routes under the normalised base path', async () => {
    expect(fake().basePath).toBe('/sandbox/x');
    expect(await call('/sandbox/x/ok')).toEqual({ status: 200, body: { ok: true } });
  });

  it('answers unknown paths relative to the base path, refusals as thrown and faults with the platform shape', async () => {
    expect(await call('/sandbox/x/nope')).toEqual({ status: 404, body: { unknown: '/nope' } });
    expect(await call('/sandbox/x/refuse')).toEqual({ status: 400, body: { refused: true } });
    expect(await call('/sandbox/x/boom')).toEqual({ status: 500, body: { fault: true } });
  });

  it('reads an observed request spec with lower-cased headers, and refuses anything else', async () => {
    const spec = { method: 'POST', path: '/webhooks/x/a', headers: { 'X-Sig': 'abc' }, body: '{}' };
    expect(await call('/sandbox/x/_omnibus/observe', { method: 'POST', body: JSON.stringify(spec) })).toEqual({ status: 200, body: { saw: 'abc' } });
    expect((await call('/sandbox/x/_omnibus/observe', { method: 'POST', body: 'nope' })).status).toBe(400);
    expect((await call('/sandbox/x/_omnibus/observe', { method: 'POST', body: JSON.stringify({ body: 42 }) })).status).toBe(400);
  });
});

describe('AccountIndex and token auth', () => {
  const index = new AccountIndex<Record<string, unknown>>((a) => a.settings.key, [
    account('a', { key: 'K1', token: 'shared-token' }),
    account('b', { key: 'K2', token: 'shared-token' }),
    account('c', { key: '', token: 'x' }),
    { id: 'broken', channel: 'x' } as unknown as AccountConfig<Record<string, unknown>>,
  ]);

  it('indexes by platform key and by account id, skipping accounts without a key', () => {
    expect([...index.entries()].map(([key, a]) => [key, a.id])).toEqual([['K1', 'a'], ['K2', 'b']]);
    expect(index.byId('b')?.settings.key).toBe('K2');
    expect(index.byId('c')).toBeUndefined();
    index.set([account('d', { key: 'K3' })]);
    expect([index.has('K1'), index.has('K3')]).toEqual([false, true]);
    index.set([account('a', { key: 'K1', token: 'shared-token' }), account('b', { key: 'K2', token: 'shared-token' })]);
  });

  it('finds a bearer or query token and every account it owns', () => {
    const request = (headers: Record<string, string>, query = '') => new Request(`http://fake.test/x${query}`, { headers });
    expect(requestToken(request({ authorization: 'Bearer abc' }))).toBe('abc');
    expect(requestToken(request({}, '?access_token=q'), { query: 'access_token' })).toBe('q');
    expect(requestToken(request({}, '?access_token=q'))).toBeUndefined();
    expect(requestToken(request({ authorization: 'Basic abc' }))).toBeUndefined();
    expect(tokenOwners('shared-token', index.entries(), (a) => a.settings.token)).toEqual(new Set(['K1', 'K2']));
    expect(tokenOwners('wrong', index.entries(), (a) => a.settings.token).size).toBe(0);
    expect(tokenOwners(undefined, index.entries(), (a) => a.settings.token).size).toBe(0);
  });
});

describe('MediaStore', () => {
  let next = 0;
  const store = (clock: ManualClock, maxBytes?: number) => new MediaStore({ clock, newId: () => `m${next++}`, ...(maxBytes !== undefined ? { maxBytes } : {}) });
  const bytes = (size: number) => new Uint8Array(size).fill(7);

  it('keeps media for its retention on the fake clock, and lets only its owner (or anyone, for customer media) read it', () => {
    const clock = new ManualClock();
    const media = store(clock);
    const mine = media.put(bytes(3), 'image/png', { owner: 'A', retentionMs: 1_000 });
    const customer = media.put(bytes(3), 'image/png', { owner: null, retentionMs: 5_000, filename: 'cat.png', kind: 'image' });
    expect(mine.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect([media.getFor(mine.id, 'A')?.id, media.getFor(mine.id, 'B'), media.getFor(customer.id, 'B')?.filename]).toEqual([mine.id, undefined, 'cat.png']);
    clock.advance(1_000);
    expect(media.get(mine.id)).toBeUndefined();
    expect(media.byAccessKey(customer.accessKey)?.id).toBe(customer.id);
    expect(media.delete(customer.id)).toBe(true);
    expect([media.byAccessKey(customer.accessKey), media.delete(customer.id), media.storedBytes]).toEqual([undefined, false, 0]);
  });

  it('drops the oldest media past its byte cap', () => {
    const media = store(new ManualClock(), 10);
    const first = media.put(bytes(4), 'a/b', { owner: null, retentionMs: 60_000 });
    const second = media.put(bytes(4), 'a/b', { owner: null, retentionMs: 60_000 });
    const third = media.put(bytes(4), 'a/b', { owner: null, retentionMs: 60_000 });
    expect([media.get(first.id), media.get(second.id)?.id, media.get(third.id)?.id]).toEqual([undefined, second.id, third.id]);
    expect(media.storedBytes).toBe(8);
  });

  it('signs links that expire on the fake clock and refuses tampered ones', () => {
    const clock = new ManualClock();
    const media = store(clock);
    const stored = media.put(bytes(2), 'a/b', { owner: null, retentionMs: 3_600_000 });
    const link = media.signedLink(stored, 300_000);
    expect(media.openSignedLink(link)).toBe(stored);
    expect(media.openSignedLink({ ...link, expires: String(Number(link.expires) + 1) })).toBe('invalid');
    const tampered = `${link.signature.slice(0, -1)}${link.signature.endsWith('x') ? 'y' : 'x'}`;
    expect(media.openSignedLink({ ...link, signature: tampered })).toBe('invalid');
    expect(media.openSignedLink({ id: link.id })).toBe('invalid');
    clock.advance(300_000);
    expect(media.openSignedLink(link)).toBe('expired');
  });
});

describe('ConversationWindows', () => {
  const rules = [
    { name: 'event', durationMs: 60_000, quota: 2 },
    { name: 'message', durationMs: 3_600_000, quota: 1 },
  ];

  it('spends from open grants in rule order, then says exhausted, then closed once they lapse', () => {
    const clock = new ManualClock();
    const windows = new ConversationWindows({ clock, rules });
    expect(windows.spend('A', 'u')).toBe('closed');
    windows.grant('A', 'u', 'message');
    windows.grant('A', 'u', 'event');
    expect([windows.spend('A', 'u'), windows.spend('A', 'u'), windows.spend('A', 'u'), windows.spend('A', 'u')]).toEqual(['ok', 'ok', 'ok', 'exhausted']);
    expect(windows.spend('B', 'u')).toBe('closed');
    clock.advance(3_600_000);
    expect([windows.isOpen('A', 'u'), windows.spend('A', 'u')]).toEqual([false, 'closed']);
  });

  it('never lets an older event shorten a newer grant; close forgets the user', () => {
    const clock = new ManualClock();
    const windows = new ConversationWindows({ clock, rules: [{ name: 'message', durationMs: 1_000, quota: null }] });
    windows.grant('A', 'u', 'message');
    windows.grant('A', 'u', 'message', new Date(clock.now().getTime() - 900));
    clock.advance(500);
    expect(windows.isOpen('A', 'u')).toBe(true);
    expect(windows.spend('A', 'u')).toBe('ok');
    windows.close('A', 'u');
    expect(windows.isOpen('A', 'u')).toBe(false);
    expect(() => windows.grant('A', 'u', 'nope')).toThrow(/no window rule/);
  });
});

describe('RateBuckets and FailureQueue', () => {
  it('allows the rate per key per second and refills on the fake clock', () => {
    const clock = new ManualClock();
    const buckets = new RateBuckets(clock, 2);
    expect([buckets.take('A'), buckets.take('A'), buckets.take('A'), buckets.take('B')]).toEqual([true, true, false, true]);
    clock.advance(500);
    expect([buckets.take('A'), buckets.take('A')]).toEqual([true, false]);
    buckets.setRate(1);
    expect([buckets.take('A'), buckets.take('A')]).toEqual([true, false]);
  });

  it('answers the next N calls of an endpoint as scripted, in order, and no others', () => {
    const failures = new FailureQueue<number>();
    failures.script('send', 429, 2);
    failures.script('send', 500);
    failures.script('token', 40164);
    expect(failures.pending('send')).toBe(3);
    expect([failures.take('send'), failures.take('send'), failures.take('send'), failures.take('send')]).toEqual([429, 429, 500, undefined]);
    expect([failures.take('other'), failures.take('token'), failures.take('token')]).toEqual([undefined, 40164, undefined]);
    failures.script('send', 1);
    failures.clear();
    expect(failures.take('send')).toBeUndefined();
  });
});
