/**
 * After a WeChat unsubscribe erases a person, a tombstone (a keyed hash of the platform id and
 * the time, nothing personal) remains: a send to them answers recipient_unreachable, a late
 * platform retry of what they sent before the unsubscribe is dropped instead of recreating
 * them, and a genuine return (a new follow, new messages) starts a fresh identity.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildPush, eventXml, messageXml } from '../../src/channels/wechat/sandbox.ts';
import type { WebhookRequestSpec } from '../../src/core/adapter.ts';
import { API_TOKEN, startTestDaemon, type TestDaemon } from '../support/daemon.ts';
import { testAccount } from '../channels/wechat/helpers.ts';

const account = testAccount({ id: 'wx-erase', settings: { appId: 'wx0123456789abcdef' } });

describe('erasure tombstones', () => {
  let t: TestDaemon;
  const post = (spec: WebhookRequestSpec) => fetch(`${t.daemon.url}${spec.path}`, { method: spec.method, headers: spec.headers, body: spec.body as string });
  const text = (from: string, msgId: string, at: Date, content: string) =>
    buildPush(account, messageXml(account, { from, msgType: 'text', fields: [['Content', content]], at, msgId }), { at: t.clock.now() });
  const event = (from: string, name: string, at: Date) => buildPush(account, eventXml(account, { from, event: name, at }), { at });
  const send = async (key: string, externalId: string) => {
    const response = await fetch(`${t.daemon.url}/v1/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ idempotencyKey: key, account: account.id, to: { externalId }, parts: [{ type: 'text', text: 'hello again' }] }),
    });
    return (await response.json()) as { ok: boolean; error?: { code: string } };
  };
  const identityCount = async (externalId: string) => (await t.sql!`select count(*)::int as n from identities where external_id = ${externalId}`)[0]!.n as number;
  const messageCount = async (msgId: string) => (await t.sql!`select count(*)::int as n from messages where external_id = ${msgId}`)[0]!.n as number;

  beforeAll(async () => {
    const { appId, appSecret, token, encodingAesKey, mode } = account.settings;
    const yaml = [`id: ${account.id}`, 'channel: wechat', `appId: ${appId}`, `appSecret: ${appSecret}`, `token: ${token}`, `encodingAesKey: ${encodingAesKey}`, `mode: ${mode}`].join('\n') + '\n';
    t = await startTestDaemon({ accounts: { 'wx-erase.yaml': yaml } });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('refuses sends as unreachable, drops late retries, and lets a genuine return start fresh', { timeout: 60_000 }, async () => {
    const start = t.clock.now().getTime();
    const sentBefore = new Date(start - 10_000);
    const unsubscribedAt = new Date(start - 5_000);
    expect((await post(text('oGone', '6100000000000000001', sentBefore, 'before leaving')))).toHaveProperty('status', 200);
    expect(await identityCount('oGone')).toBe(1);
    expect((await send('e1', 'oGone')).ok).toBe(true);

    expect((await post(event('oGone', 'unsubscribe', unsubscribedAt))).status).toBe(200);
    expect(await identityCount('oGone')).toBe(0);
    expect((await send('e2', 'oGone')).error?.code).toBe('recipient_unreachable');
    // Someone the account never met is still unknown.
    expect((await send('e3', 'oNever')).error?.code).toBe('unknown_contact');

    // A retry of a message sent before the unsubscribe, arriving after it: answered, not recorded.
    expect((await post(text('oGone', '6100000000000000002', sentBefore, 'late retry'))).status).toBe(200);
    expect(await messageCount('6100000000000000002')).toBe(0);
    expect(await identityCount('oGone')).toBe(0);
    const metrics = await (await fetch(`${t.daemon.url}/metrics`)).text();
    expect(metrics).toMatch(/omnibus_events_ignored_total\{[^}]*reason="erased"[^}]*\} 1/);

    // The tombstone names no one: the platform id is not stored in it.
    const tombstones = await t.sql!`select channel, account, key from erasure_tombstones`;
    expect(tombstones).toHaveLength(1);
    expect(JSON.stringify(tombstones)).not.toContain('oGone');

    // They come back: a follow and a message after the unsubscribe are a new identity.
    const back = t.clock.now();
    expect((await post(event('oGone', 'subscribe', back))).status).toBe(200);
    expect((await post(text('oGone', '6100000000000000003', back, 'hello again')))).toHaveProperty('status', 200);
    expect(await messageCount('6100000000000000003')).toBe(1);
    expect(await identityCount('oGone')).toBe(1);
    expect((await send('e4', 'oGone')).ok).toBe(true);
  });
});
