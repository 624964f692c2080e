/**
 * WeChat through a real daemon (PostgreSQL, NATS, the sandbox fake): pushes recorded once and
 * answered as WeChat expects, redeliveries and replays, the follow/unsubscribe (erase) lifecycle, and
 * inbound media fetched from the fake's `media/get`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aesKeyFrom, decryptMessage } from '../../../src/channels/wechat/crypto.ts';
import { buildPush, eventXml, messageXml, simulateInbound, type WeChatFake } from '../../../src/channels/wechat/sandbox.ts';
import type { WebhookRequestSpec } from '../../../src/core/adapter.ts';
import { startTestDaemon, type TestDaemon } from '../../support/daemon.ts';
import { waitFor } from '../../support/services.ts';
import { SECRETS, testAccount } from './helpers.ts';

const safe = testAccount({ id: 'acme-wechat', settings: { appId: 'wx0123456789abcdef' } });
const plain = testAccount({ id: 'plain-wechat', settings: { appId: 'wx1111111111111111', mode: 'plain', encodingAesKey: undefined } });

function yaml(account: typeof safe): string {
  const { appId, appSecret, token, encodingAesKey, mode } = account.settings;
  return [`id: ${account.id}`, 'channel: wechat', `appId: ${appId}`, `appSecret: ${appSecret}`, `token: ${token}`, ...(encodingAesKey ? [`encodingAesKey: ${encodingAesKey}`] : []), `mode: ${mode}`].join('\n') + '\n';
}

describe('wechat through the daemon', () => {
  let t: TestDaemon;
  const post = (spec: WebhookRequestSpec) => fetch(`${t.daemon.url}${spec.path}`, { method: spec.method, headers: spec.headers, body: spec.body as string });
  const now = () => t.clock.now();
  const rows = (externalId: string) => t.sql!`select id, parts from messages where external_id = ${externalId}`;

  beforeAll(async () => {
    t = await startTestDaemon({ accounts: { 'acme-wechat.yaml': yaml(safe), 'plain-wechat.yaml': yaml(plain) } });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('records a safe-mode text once, answers with the encrypted empty reply, publishes the exact MsgId', async () => {
    const msgId = '6054768590064713728';
    const spec = buildPush(safe, messageXml(safe, { from: 'oKerry', msgType: 'text', fields: [['Content', '00123']], at: now(), msgId }), { at: now() });
    const response = await post(spec);
    expect(response.status).toBe(200);
    const reply = await response.text();
    const encrypt = /<Encrypt><!\[CDATA\[([^\]]+)\]\]>/.exec(reply)![1]!;
    expect(decryptMessage(encrypt, aesKeyFrom(SECRETS.encodingAesKey), safe.settings.appId)).toEqual(new Uint8Array());
    expect(await rows(msgId)).toHaveLength(1);
    const [event] = await t.events(`${t.prefix}.v1.evt.message.in.wechat.acme-wechat`, { where: (e) => e.data.externalId === msgId });
    expect(event!.data).toMatchObject({ externalId: msgId, parts: [{ type: 'text', text: '00123' }], contact: { identity: { externalId: 'oKerry' } }, session: { window: '48h' } });
    const [opened] = await t.events(`${t.prefix}.v1.evt.session.opened.wechat.acme-wechat`, { where: (e) => e.data.conversationId === event!.data.conversationId });
    expect(opened!.data.quota).toEqual({ limit: 5, used: 0, remaining: 5 });
  });

  it('answers a burst of identical redeliveries alike and records one message', async () => {
    const spec = simulateInbound(safe, { from: 'oBurst', text: 'again and again', timestamp: now() });
    const statuses = await Promise.all(Array.from({ length: 8 }, () => post(spec).then((response) => response.status)));
    expect(statuses).toEqual(Array(8).fill(200));
    const count = await t.sql!`select count(*)::int as n from messages m join identities i on i.id = m.identity_id where i.external_id = 'oBurst'`;
    expect(count[0]!.n).toBe(1);
  });

  it('refuses a replayed timestamp+nonce carrying another body (plain mode), and records nothing of it', async () => {
    const at = now();
    const original = buildPush(plain, messageXml(plain, { from: 'oPlain', msgType: 'text', fields: [['Content', 'pay 1']], at, msgId: '7000000000000000001' }), { at, nonce: '424242' });
    expect((await post(original)).status).toBe(200);
    expect(await (await post(original)).text()).toBe('success');
    const forged = { ...original, body: String(original.body).replace('pay 1', 'pay 1000').replace('7000000000000000001', '7000000000000000002') };
    expect((await post(forged)).status).toBe(401);
    expect(await rows('7000000000000000002')).toHaveLength(0);
  });

  it('refuses stale pushes, bad signatures and DOCTYPEs', async () => {
    const old = new Date(now().getTime() - 301_000);
    expect((await post(simulateInbound(safe, { from: 'oLate', text: 'x', timestamp: old }))).status).toBe(401);
    const spec = simulateInbound(safe, { from: 'oX', text: 'x', timestamp: now() });
    expect((await post({ ...spec, path: spec.path.replace(/msg_signature=[0-9a-f]+/, `msg_signature=${'0'.repeat(40)}`) })).status).toBe(401);
    const bomb = `<!DOCTYPE x [<!ENTITY a "${'A'.repeat(100_000)}">]><xml>${'&a;'.repeat(1000)}</xml>`;
    expect((await post({ ...spec, body: bomb })).status).toBe(400);
  });

  it('a follow opens the one-minute grant; an unsubscribe erases the identity (test/merge/erase.test.ts has the details)', async () => {
    const follow = buildPush(safe, eventXml(safe, { from: 'oFan', event: 'subscribe', eventKey: 'qrscene_42', ticket: 'T', at: now() }), { at: now() });
    expect((await post(follow)).status).toBe(200);
    await waitFor(async () => (await t.events(`${t.prefix}.v1.evt.session.opened.wechat.acme-wechat`, { timeoutMs: 500 })).some((e) => e.data.quota?.limit === 3), { timeoutMs: 10_000, intervalMs: 100 });
    const later = new Date(now().getTime() + 1000);
    const bye = buildPush(safe, eventXml(safe, { from: 'oFan', event: 'unsubscribe', at: later }), { at: later });
    expect((await post(bye)).status).toBe(200);
    const identity = await t.sql!`select id from identities where channel = 'wechat' and external_id = 'oFan'`;
    expect(identity).toHaveLength(0);
  });

  it('fetches inbound media from the fake through media/get', async () => {
    const fake = t.daemon.fakes.get('wechat') as WeChatFake;
    // A complete 1×1 PNG: the media worker types it from its bytes.
    const png = new Uint8Array(Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c626001000000ffff03000006000557bfabd40000000049454e44ae426082', 'hex'));
    const stored = fake.putMedia(png, 'image/png');
    const spec = simulateInbound(safe, { from: 'oPic', media: { id: stored.id, mime: 'image/png' }, timestamp: now() });
    expect((await post(spec)).status).toBe(200);
    let part: any;
    await waitFor(
      async () => {
        const events = await t.events(`${t.prefix}.v1.evt.message.in.wechat.acme-wechat`, { timeoutMs: 500 });
        part = events.find((e) => e.data.contact.identity.externalId === 'oPic')?.data.parts[0];
        return part !== undefined;
      },
      { timeoutMs: 20_000, intervalMs: 200 },
    );
    expect(part).toMatchObject({ type: 'image', media: { status: 'ready', ext: 'png', mime: 'image/png', size: png.length } });
  });
});
