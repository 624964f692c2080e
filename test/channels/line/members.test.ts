/**
 * Member counts of LINE groups and rooms, adapter and fake: the fake answers
 * `/v2/bot/{group|room}/{id}/members/count` with the members it saw (404 for a chat it never
 * saw) and counts a push once per member in its consumption; the adapter reports a group push's
 * `quotaUnits` as messages × members and its cost the same; a count that does not come within
 * the timeout leaves the push going, counted once per message with `membersUnknown`.
 */
import { describe, expect, it } from 'vitest';
import { createFake, eventBase } from '../../../src/channels/line/sandbox.ts';
import { MemberCounts, membershipChanges } from '../../../src/channels/line/members.ts';
import { LineClient } from '../../../src/channels/line/client.ts';
import { staticToken } from '../../../src/channels/line/token.ts';
import type { HttpClient } from '../../../src/core/http-client.ts';
import type { OutboundMessage } from '../../../src/core/adapter.ts';
import { ManualClock } from '../../../src/core/clock.ts';
import { memorySharedState, silentLogger } from '../../conformance/fakes.ts';
import { FAKE_BASE, NOW, SECRETS, createAdapter, fakeHttpClient, testAccount } from './helpers.ts';

const account = testAccount({ apiBase: FAKE_BASE });
const GROUP = `C${'1'.repeat(32)}`;
const ROOM = `R${'2'.repeat(32)}`;
const user = (n: number) => `U${String(n).padStart(32, '0')}`;
const signal = new AbortController().signal;

function setup() {
  const clock = new ManualClock(NOW);
  const fake = createFake({ accounts: [account], clock, basePath: '/sandbox/line' });
  const http = fakeHttpClient(fake);
  const shared = memorySharedState();
  const adapter = createAdapter(account, { http, clock, shared });
  return { clock, fake, http, shared, adapter };
}

const groupMessage = (chat: string, parts = 2): OutboundMessage => ({
  messageId: 'msg_group',
  idempotencyKey: `idem-${chat}`,
  to: { externalId: `${chat.startsWith('R') ? 'room' : 'group'}:${chat}`, conversationExternalId: `${chat.startsWith('R') ? 'room' : 'group'}:${chat}`, conversationKind: 'group' },
  parts: Array.from({ length: parts }, (_, index) => ({ type: 'text' as const, text: `part ${index + 1}` })),
});

describe('member counts', () => {
  it('the fake counts the members it saw in a group and a room, and answers 404 for a chat it never saw', async () => {
    const { fake } = setup();
    for (let n = 1; n <= 3; n++) await fake.deliver(account.id, { from: user(n), text: 'hi', group: GROUP });
    const roomEvent = (from: string) => ({ ...eventBase('message', { from }), source: { type: 'room', roomId: ROOM, userId: from }, message: { id: `9${from.slice(-5)}00000000000`, type: 'text', text: 'yo' } });
    await fake.deliverEvents(account.id, [roomEvent(user(7)), roomEvent(user(8))]);
    const ask = (path: string) => fake.fetch(new Request(`${FAKE_BASE}${path}`, { headers: { authorization: `Bearer ${SECRETS.channelAccessToken}` } }));
    expect(await (await ask(`/v2/bot/group/${GROUP}/members/count`)).json()).toEqual({ count: 3 });
    expect(await (await ask(`/v2/bot/room/${ROOM}/members/count`)).json()).toEqual({ count: 2 });
    expect((await ask(`/v2/bot/group/C${'9'.repeat(32)}/members/count`)).status).toBe(404);
    // memberLeft takes one away.
    const left = { ...eventBase('memberLeft', { from: user(3), group: GROUP, replyable: false }), source: { type: 'group', groupId: GROUP }, left: { members: [{ type: 'user', userId: user(3) }] } };
    await fake.deliverEvents(account.id, [left]);
    expect(fake.memberCount(account.id, GROUP)).toBe(2);
  });

  it('a group push reports messages × members as quotaUnits and cost; the fake consumes the same', async () => {
    const { fake, adapter } = setup();
    for (let n = 1; n <= 4; n++) await fake.deliver(account.id, { from: user(n), text: 'hi', group: GROUP });
    fake.setQuota(account.id, 1000, 0);
    const outbound = groupMessage(GROUP, 3);
    const result = await adapter.send!(outbound, signal);
    expect(result).toMatchObject({ route: 'push', quotaUnits: 12 });
    expect(adapter.costOf!(outbound, result)).toEqual({ category: 'push', billable: true, units: 12, note: { members: 4 } });
    expect((await adapter.accountQuota!('monthly_push', signal)).used).toBe(12);
  });

  it('a 1:1 push spends its messages; a reply spends nothing and is free', async () => {
    const { fake, adapter } = setup();
    const spec = await fake.deliver(account.id, { from: user(1), text: 'hi', group: GROUP });
    const token = JSON.parse(spec.body as string).events[0].replyToken as string;
    const reply = { ...groupMessage(GROUP, 2), replyContext: { token, expiresAt: new Date(NOW.getTime() + 60_000), inboundExternalId: 'x' } };
    const replied = await adapter.send!(reply, signal);
    expect(replied.route).toBe('reply');
    expect(replied.quotaUnits).toBeUndefined();
    expect(adapter.costOf!(reply, replied)).toMatchObject({ category: 'reply', billable: false });
    expect((await adapter.accountQuota!('monthly_push', signal)).used).toBe(0);

    await fake.deliver(account.id, { from: user(1), text: 'hi' });
    const direct: OutboundMessage = { messageId: 'm1', idempotencyKey: 'k1', to: { externalId: user(1), conversationExternalId: user(1), conversationKind: 'direct' }, parts: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }] };
    const result = await adapter.send!(direct, signal);
    expect(result.quotaUnits).toBe(2);
    expect(adapter.costOf!(direct, result)).toEqual({ category: 'push', billable: true, units: 2 });
    expect(fake.calls('members')).toBe(0);
  });

  it('a count that does not come in time: the push goes, once per message, noted membersUnknown', async () => {
    const clock = new ManualClock(NOW);
    let asked = 0;
    // LINE's count endpoint hangs until the caller gives up; everything else answers at once.
    const http: HttpClient = {
      async request(url, options = {}) {
        asked++;
        await new Promise((resolve, reject) => {
          options.signal?.addEventListener('abort', () => reject(options.signal!.reason), { once: true });
        });
        throw new Error(`unreachable ${url}`);
      },
    };
    const client = new LineClient({ http, apiBase: FAKE_BASE, dataBase: FAKE_BASE, tokens: staticToken('t'), clock });
    const members = new MemberCounts(client, memorySharedState(), silentLogger(), 50);
    expect(await members.count(`group:${GROUP}`, signal)).toBeNull();
    expect(asked).toBe(1);

    const { fake, adapter } = setup();
    await fake.deliver(account.id, { from: user(1), text: 'hi', group: GROUP });
    fake.failNext('members', 500, 'Internal server error');
    const outbound = groupMessage(GROUP, 2);
    const result = await adapter.send!(outbound, signal);
    expect(result).toMatchObject({ route: 'push', quotaUnits: 2 });
    expect(adapter.costOf!(outbound, result)).toEqual({ category: 'push', billable: true, units: 2, note: { membersUnknown: true } });
    expect(fake.sentMessages().filter((m) => m.to === GROUP)).toHaveLength(1);
  });

  it('membership events name the chats whose cached count is stale', () => {
    const at = new Date(NOW);
    const base = { kind: 'message', externalId: 'x', sender: { externalId: user(1) }, timestamp: at, raw: {}, sessionGrant: null } as const;
    const events = [
      { ...base, conversation: { externalId: `group:${GROUP}`, kind: 'group' }, parts: [{ type: 'unsupported', reason: 'event:memberJoined' }] },
      { ...base, conversation: { externalId: `room:${ROOM}`, kind: 'group' }, parts: [{ type: 'text', text: 'hi' }] },
      { ...base, conversation: { externalId: user(1), kind: 'direct' }, parts: [{ type: 'unsupported', reason: 'event:follow' }] },
    ];
    expect(membershipChanges(events as never)).toEqual([`group:${GROUP}`]);
  });
});
