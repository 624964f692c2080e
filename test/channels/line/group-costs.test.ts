/**
 * A LINE push to a group counts once per member, through a real daemon and the fake: the
 * adapter asks `/v2/bot/group/{id}/members/count` (the fake answers what it saw of the group),
 * the ledger records messages × members units and the account quota spends the same, as the
 * fake's consumption does; the count is cached and dropped when members join; when LINE does
 * not answer the count the push still goes, counted once with `membersUnknown`; a reply into the
 * group through its free token stays free.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventBase, lifecycleEvent, type LineFake } from '../../../src/channels/line/sandbox.ts';
import { createOutbound } from '../../../src/outbound/index.ts';
import { contactsExtension } from '../../../src/merge/extension.ts';
import { API_TOKEN, startTestDaemon, type TestDaemon } from '../../support/daemon.ts';
import { waitFor } from '../../support/services.ts';
import { FAST } from '../../outbound/helpers.ts';
import { SECRETS } from './helpers.ts';

const yaml = ['id: acme-line', 'channel: line', `channelSecret: ${SECRETS.channelSecret}`, `channelAccessToken: ${SECRETS.channelAccessToken}`].join('\n') + '\n';
const GROUP = `C${'a'.repeat(32)}`;
const QUIET = `C${'b'.repeat(32)}`;
const member = (n: number) => `U${String(n).padStart(32, '0')}`;

describe('LINE group pushes count per member', () => {
  let t: TestDaemon;
  let seq = 0;
  const fake = () => t.daemon.fakes.get('line') as LineFake;
  const send = async (key: string, group: string, texts: string[]) => {
    const response = await fetch(`${t.daemon.url}/v1/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ idempotencyKey: key, account: 'acme-line', to: { externalId: `group:${group}` }, parts: texts.map((text) => ({ type: 'text', text })) }),
    });
    const body = (await response.json()) as { ok: boolean; messageId: string };
    expect(body, JSON.stringify(body)).toMatchObject({ ok: true });
    return body.messageId;
  };
  const sent = async (messageId: string) => {
    let row: { status: string; route: string | null } | undefined;
    await waitFor(async () => {
      [row] = (await t.sql!`select status, route from messages where id = ${messageId}`) as unknown as Array<typeof row>;
      return row !== undefined && row.status !== 'queued' && row.status !== 'sending';
    }, { timeoutMs: 20_000, intervalMs: 50, description: `send ${messageId} settled` });
    return row!;
  };
  const ledger = async (messageId: string) => {
    const rows = await waitFor(async () => {
      const found = await t.sql!`select category, billable, units, note from cost_entries where message_id = ${messageId}`;
      return found.length > 0 ? found : null;
    }, { timeoutMs: 20_000, intervalMs: 50, description: `ledger row of ${messageId}` });
    return rows[0]!;
  };
  /** The fake's `/quota/consumption`, asked as the daemon asks it. */
  const usage = async () => {
    const response = await fetch(`${t.daemon.url}/sandbox/line/v2/bot/message/quota/consumption`, { headers: { authorization: `Bearer ${SECRETS.channelAccessToken}` } });
    return response.json();
  };
  const storedQuota = async () => {
    const [row] = await t.sql!`select value from shared_state where key = 'account-quota:line:acme-line:monthly_push'`;
    return row === undefined ? undefined : (JSON.parse(row.value) as { used: number });
  };
  /** Someone writes in a group; `replyable: false` leaves no reply token, so answers are pushes. */
  const writesIn = async (group: string, from: string, replyable = false) => {
    const id = `82000000000000${String(++seq).padStart(4, '0')}`;
    await fake().deliverEvents('acme-line', [{ ...eventBase('message', { from, group, at: t.clock.now(), replyable }), message: { id, type: 'text', text: 'hi all' } }]);
    await waitFor(async () => (await t.sql!`select 1 from messages where external_id = ${id}`).length > 0, { timeoutMs: 20_000, intervalMs: 50, description: `${from} recorded` });
  };

  beforeAll(async () => {
    t = await startTestDaemon({
      accounts: { 'acme-line.yaml': yaml },
      // Readings an hour apart: what the daemon counts between them is what the test sees.
      extra: { extensions: [createOutbound({ settings: { ...FAST, quotaRefreshMs: 3_600_000 } }), contactsExtension()] },
    });
    fake().setQuota('acme-line', 1000, 100);
    for (const group of [GROUP, QUIET]) {
      // The bot joins (its greeting token left out: the pushes below must be pushes).
      const { replyToken: _greeting, ...join } = lifecycleEvent('join', { from: group, group, at: t.clock.now() });
      await fake().deliverEvents('acme-line', [join]);
    }
    for (let n = 1; n <= 5; n++) await writesIn(GROUP, member(n));
    await writesIn(QUIET, member(9));
    // The sender has read the quota once (100 used) before the first push.
    await waitFor(async () => (await storedQuota())?.used === 100, { timeoutMs: 20_000, intervalMs: 50, description: 'first quota reading' });
  }, 120_000);
  afterAll(async () => {
    await t?.stop();
  });

  it('a push of 2 messages to a 5-member group is 10 units in the ledger and 10 of the quota', { timeout: 60_000 }, async () => {
    expect(fake().memberCount('acme-line', GROUP)).toBe(5);
    const messageId = await send('group-push-1', GROUP, ['Opening hours changed', 'We now open at 9']);
    expect(await sent(messageId)).toMatchObject({ status: 'sent', route: 'push' });
    expect(fake().sentMessages('acme-line').filter((m) => m.to === GROUP && m.route === 'push').at(-1)!.messages).toHaveLength(2);
    expect(await ledger(messageId)).toMatchObject({ category: 'push', billable: true, units: 10, note: { members: 5 } });
    expect(fake().calls('members')).toBe(1);
    // The fake's consumption and the daemon's own count both went up by 10.
    expect(await usage()).toEqual({ totalUsage: 110 });
    await waitFor(async () => (await storedQuota())?.used === 110, { timeoutMs: 20_000, intervalMs: 50, description: 'daemon counted 10' });
  });

  it('the member count is cached, and asked again once a member joins', { timeout: 60_000 }, async () => {
    const calls = fake().calls('members');
    const cached = await send('group-push-2', GROUP, ['One more thing']);
    expect(await ledger(cached)).toMatchObject({ units: 5 });
    expect(fake().calls('members')).toBe(calls);

    const joined = { ...eventBase('memberJoined', { from: member(6), group: GROUP, at: t.clock.now(), replyable: false }), joined: { members: [{ type: 'user', userId: member(6) }] } };
    await fake().deliverEvents('acme-line', [{ ...joined, source: { type: 'group', groupId: GROUP } }]);
    await waitFor(async () => (await t.sql!`select value from shared_state where key = ${`line:acme-line:members:group:${GROUP}`}`)[0]?.value === '', {
      timeoutMs: 20_000, intervalMs: 50, description: 'cached count dropped',
    });
    expect(fake().memberCount('acme-line', GROUP)).toBe(6);
    const after = await send('group-push-3', GROUP, ['Welcome']);
    expect(await ledger(after)).toMatchObject({ units: 6, note: { members: 6 } });
    expect(fake().calls('members')).toBe(calls + 1);
  });

  it('when the count endpoint fails the push still goes, counted once with membersUnknown', { timeout: 60_000 }, async () => {
    // 100 at the start, then 10, 5 and 6 for the three group pushes.
    await waitFor(async () => (await storedQuota())?.used === 121, { timeoutMs: 20_000, intervalMs: 50, description: 'daemon counted 21 more' });
    fake().failNext('members', 500, 'Internal server error');
    const messageId = await send('quiet-push-1', QUIET, ['Hello']);
    expect(await sent(messageId)).toMatchObject({ status: 'sent', route: 'push' });
    expect(await ledger(messageId)).toMatchObject({ category: 'push', billable: true, units: 1, note: { membersUnknown: true } });
    await waitFor(async () => (await storedQuota())?.used === 122, { timeoutMs: 20_000, intervalMs: 50, description: 'counted once' });
  });

  it('a reply into the group through its free token stays free and spends no quota', { timeout: 60_000 }, async () => {
    await writesIn(GROUP, member(2), true);
    const before = await usage();
    expect(before).toEqual({ totalUsage: 122 });
    const messageId = await send('group-reply-1', GROUP, ['Thanks, noted', 'See you']);
    expect(await sent(messageId)).toMatchObject({ status: 'sent', route: 'reply' });
    expect(await ledger(messageId)).toMatchObject({ category: 'reply', billable: false });
    expect(await usage()).toEqual(before);
    expect((await storedQuota())!.used).toBe(122);
  });
});
