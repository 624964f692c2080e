/**
 * New WeChat identities are looked up on the platform after their first push; the UnionID it
 * returns is merge evidence, so one person following two official accounts becomes one contact.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simulateInbound } from '../../src/channels/wechat/sandbox.ts';
import type { WebhookRequestSpec } from '../../src/core/adapter.ts';
import { startTestDaemon, type TestDaemon } from '../support/daemon.ts';
import { waitFor } from '../support/services.ts';
import { testAccount } from '../channels/wechat/helpers.ts';

const first = testAccount({ id: 'wx-first', settings: { appId: 'wx0123456789abcdef' } });
const second = testAccount({ id: 'wx-second', settings: { appId: 'wx1111111111111111' } });

function yaml(account: typeof first): string {
  const { appId, appSecret, token, encodingAesKey, mode } = account.settings;
  return [`id: ${account.id}`, 'channel: wechat', `appId: ${appId}`, `appSecret: ${appSecret}`, `token: ${token}`, `encodingAesKey: ${encodingAesKey}`, `mode: ${mode}`].join('\n') + '\n';
}

describe('WeChat UnionID merge', () => {
  let t: TestDaemon;
  // As `omnibus simulate` does: the fake learns the user wrote (WeChat itself would know), then the push.
  const post = async (spec: WebhookRequestSpec) => {
    await fetch(`${t.daemon.url}/sandbox/wechat/_omnibus/observe`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(spec) });
    return fetch(`${t.daemon.url}${spec.path}`, { method: spec.method, headers: spec.headers, body: spec.body as string });
  };
  beforeAll(async () => {
    t = await startTestDaemon({ accounts: { 'wx-first.yaml': yaml(first), 'wx-second.yaml': yaml(second) } });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('merges the identities of one person on two official accounts', async () => {
    // The sandbox derives the UnionID from the user id, so the same `from` is the same person.
    expect((await post(simulateInbound(first, { from: 'oSamePerson', text: 'hi on one', timestamp: t.clock.now() }))).status).toBe(200);
    expect((await post(simulateInbound(second, { from: 'oSamePerson', text: 'hi on two', timestamp: t.clock.now() }))).status).toBe(200);
    const contacts = await waitFor(
      async () => {
        const rows = await t.sql!`select distinct contact_id from identities where external_id = 'oSamePerson'`;
        return rows.length === 1 ? rows : null;
      },
      { timeoutMs: 20_000, intervalMs: 100 },
    );
    expect(contacts).toHaveLength(1);
    const evidence = await t.sql!`select evidence from identities where external_id = 'oSamePerson'`;
    for (const row of evidence) expect(JSON.stringify(row.evidence)).toContain('wechat_unionid');
  });
});
