/**
 * WeChat's 5-per-window quota counts delivered messages: a caption on an image goes out as a
 * second message, so it costs two, and the core refuses what would not fit.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simulateInbound } from '../../src/channels/wechat/sandbox.ts';
import { API_TOKEN, startTestDaemon, type TestDaemon } from '../support/daemon.ts';
import { testAccount } from '../channels/wechat/helpers.ts';

const account = testAccount({ id: 'wx-quota', settings: { appId: 'wx0123456789abcdef' } });
const PNG = '89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c626001000000ffff03000006000557bfabd40000000049454e44ae426082';

describe('WeChat quota by platform message', () => {
  let t: TestDaemon;
  beforeAll(async () => {
    const { appId, appSecret, token, encodingAesKey, mode } = account.settings;
    const yaml = [`id: ${account.id}`, 'channel: wechat', `appId: ${appId}`, `appSecret: ${appSecret}`, `token: ${token}`, `encodingAesKey: ${encodingAesKey}`, `mode: ${mode}`].join('\n') + '\n';
    t = await startTestDaemon({ accounts: { 'wx-quota.yaml': yaml } });
  });
  afterAll(async () => {
    await t?.stop();
  });

  const send = async (key: string, parts: unknown[]) => {
    const response = await fetch(`${t.daemon.url}/v1/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ idempotencyKey: key, account: account.id, to: { externalId: 'oQuota' }, parts }),
    });
    return (await response.json()) as { ok: boolean; error?: { code: string } };
  };

  it('counts a captioned image as two of the five', async () => {
    const spec = simulateInbound(account, { from: 'oQuota', text: 'hello', timestamp: t.clock.now() });
    expect((await fetch(`${t.daemon.url}${spec.path}`, { method: spec.method, headers: spec.headers, body: spec.body as string })).status).toBe(200);
    const image = { type: 'image', caption: 'your receipt', media: { base64: Buffer.from(PNG, 'hex').toString('base64') } };
    const first = await send("q1", [image]);
    expect(first.ok, JSON.stringify(first)).toBe(true);
    expect((await send('q2', [image])).ok).toBe(true);
    // 4 used: a third captioned image (2) does not fit, one text (1) does, then nothing.
    expect((await send('q3', [image])).error?.code).toBe('quota_exceeded');
    expect((await send('q4', [{ type: 'text', text: 'last one' }])).ok).toBe(true);
    expect((await send('q5', [{ type: 'text', text: 'too many' }])).error?.code).toBe('quota_exceeded');
    const [window] = await t.sql!`select quota_used, quota_limit from session_windows order by opened_at desc limit 1`;
    expect(window).toMatchObject({ quota_used: 5, quota_limit: 5 });
  });
});
