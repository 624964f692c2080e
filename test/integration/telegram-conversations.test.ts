/**
 * Telegram updates that change conversations rather than add to them, through a real daemon
 * and the Bot API fake: a group upgraded to a supergroup moves its conversation to the new
 * chat id (history and later messages together); a Business connection switched off makes its
 * chats' customers unreachable (sends refused `recipient_unreachable`, nothing reaches
 * Telegram) until it is switched on again; a user who blocked the bot and unblocks it is
 * reachable again.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simulateInbound, webhookRequest, type TelegramFake } from '../../src/channels/telegram/sandbox.ts';
import type { WebhookRequestSpec } from '../../src/core/adapter.ts';
import type { ManualClock } from '../../src/core/clock.ts';
import { API_TOKEN, startTestDaemon, type TestDaemon } from '../support/daemon.ts';
import { waitFor } from '../support/services.ts';
import { SECRETS, testAccount } from '../channels/telegram/helpers.ts';

const account = testAccount({ id: 'acme-telegram' });
const YAML = ['id: acme-telegram', 'channel: telegram', `botToken: "${SECRETS.botToken}"`, `secretToken: ${SECRETS.secretToken}`, 'mode: webhook'].join('\n') + '\n';
const CONNECTION = 'BizConn-revoked-01';

describe('telegram conversation changes', () => {
  let t: TestDaemon;
  let updateId = 500_000_000;
  const clock = () => t.clock as ManualClock;
  const fake = () => t.daemon.fakes.get('telegram') as TelegramFake;
  const unix = () => Math.floor(clock().now().getTime() / 1000);
  const post = async (spec: WebhookRequestSpec) => {
    fake().observe(spec);
    const response = await fetch(`${t.daemon.url}${spec.path}`, { method: spec.method, headers: spec.headers, body: spec.body as string });
    expect(response.status).toBe(200);
  };
  const postUpdate = (update: Record<string, unknown>) => post(webhookRequest(account, { update_id: ++updateId, ...update }));
  const send = async (key: string, to: string | { conversationId: string }) => {
    const response = await fetch(`${t.daemon.url}/v1/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ idempotencyKey: key, account: 'acme-telegram', to: typeof to === 'string' ? { externalId: to } : to, parts: [{ type: 'text', text: key }] }),
    });
    return { status: response.status, json: (await response.json()) as any };
  };
  const conversationOf = async (externalId: string) => (await t.sql!`select id, kind from conversations where account = 'acme-telegram' and external_id = ${externalId}`)[0];
  const chatClosed = async (externalId: string) => (await t.sql!`select unreachable_at from conversations where account = 'acme-telegram' and external_id = ${externalId}`)[0]?.unreachable_at ?? null;
  const unreachable = async (externalId: string) => (await t.sql!`select unreachable_at from identities where account = 'acme-telegram' and external_id = ${externalId}`)[0]?.unreachable_at ?? null;

  beforeAll(async () => {
    t = await startTestDaemon({ accounts: { 'acme-telegram.yaml': YAML } });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('a group upgraded to a supergroup keeps one conversation under the new chat id', async () => {
    const member = '7400000001';
    await post(simulateInbound(account, { from: member, group: '-4001', text: 'hello group', timestamp: clock().now() }));
    const before = await waitFor(() => conversationOf('-4001'), { timeoutMs: 20_000, description: 'group conversation' });
    expect(before.kind).toBe('group');
    // Telegram's last message in the old group names the supergroup's id.
    const chat = { id: -4001, type: 'group', title: 'Tiny' };
    const from = { id: Number(member), is_bot: false, first_name: 'Ann' };
    const migration = { message: { message_id: 77, from, chat, date: unix(), migrate_to_chat_id: -1004001 } };
    await postUpdate(migration);
    await postUpdate(migration); // redelivered: changes nothing more
    await waitFor(async () => (await conversationOf('-1004001'))?.id === before.id, { timeoutMs: 20_000, description: 'conversation moved' });
    expect(await conversationOf('-4001')).toBeUndefined();
    await post(simulateInbound(account, { from: member, group: '-1004001', text: 'hello supergroup', timestamp: clock().now() }));
    await waitFor(async () => (await t.sql!`select 1 from messages where conversation_id = ${before.id} and direction = 'in'`).length === 2, { timeoutMs: 20_000, description: 'both messages in one conversation' });
    const events = await t.events(`${t.prefix}.v1.evt.message.in.telegram.acme-telegram`, { atLeast: 2, timeoutMs: 10_000 });
    expect(new Set(events.filter((e) => e.data.parts?.[0]?.text?.startsWith('hello ')).map((e) => e.data.conversationId))).toEqual(new Set([before.id]));
  });

  it('a revoked Business connection makes its chats unreachable until it is enabled again; the customer\'s own chat with the bot stays open', async () => {
    const customer = '7400000002';
    // The same person also writes to the bot directly: that chat does not run through the connection.
    await post(simulateInbound(account, { from: customer, text: 'hello bot', timestamp: clock().now() }));
    const privateChat = await waitFor(() => conversationOf(customer), { timeoutMs: 20_000, description: 'private conversation' });
    clock().advance(1_000);
    const spec = simulateInbound(account, { from: customer, text: 'open today?', timestamp: clock().now() });
    const { message, ...rest } = JSON.parse(spec.body as string);
    await post({ ...spec, body: JSON.stringify({ ...rest, business_message: { ...message, business_connection_id: CONNECTION } }) });
    await waitFor(() => conversationOf(`business:${CONNECTION}:${customer}`), { timeoutMs: 20_000, description: 'business conversation' });
    expect((await send('biz-before', customer)).status).toBe(200);

    const connection = (enabled: boolean) => ({ business_connection: { id: CONNECTION, user: { id: 7400000999, is_bot: false, first_name: 'Owner' }, user_chat_id: 7400000999, date: unix(), can_reply: true, is_enabled: enabled } });
    await postUpdate(connection(false));
    await waitFor(() => chatClosed(`business:${CONNECTION}:${customer}`), { timeoutMs: 20_000, description: 'business chat closed' });
    const business = await conversationOf(`business:${CONNECTION}:${customer}`);
    const refused = await send('biz-revoked', { conversationId: business!.id });
    expect(refused.json.error).toMatchObject({ code: 'recipient_unreachable' });
    // The customer is not gone: their own chat with the bot still takes sends.
    expect(await unreachable(customer)).toBeNull();
    expect(await chatClosed(customer)).toBeNull();
    expect((await send('private-while-revoked', { conversationId: privateChat.id })).status).toBe(200);
    await waitFor(() => fake().sentMessages('acme-telegram').find((call) => call.params.text === 'private-while-revoked' && String(call.params.chat_id) === customer), { timeoutMs: 20_000, description: 'sent to the private chat' });

    clock().advance(1_000);
    await postUpdate(connection(true));
    await waitFor(async () => (await chatClosed(`business:${CONNECTION}:${customer}`)) === null, { timeoutMs: 20_000, description: 'business chat open again' });
    expect((await send('biz-again', customer)).status).toBe(200);
    await waitFor(() => fake().sentMessages('acme-telegram').find((call) => call.params.text === 'biz-again'), { timeoutMs: 20_000, description: 'sent through the connection' });
    expect(fake().sentMessages('acme-telegram').some((call) => call.params.text === 'biz-revoked')).toBe(false);
  });

  it('a user who blocked the bot and unblocks it is reachable again', async () => {
    const user = '7400000003';
    await post(simulateInbound(account, { from: user, text: 'hi', timestamp: clock().now() }));
    await waitFor(() => conversationOf(user), { timeoutMs: 20_000, description: 'private conversation' });
    const member = (status: string, old: string) => ({
      my_chat_member: { chat: { id: Number(user), type: 'private', first_name: 'Bo' }, from: { id: Number(user), is_bot: false, first_name: 'Bo' }, date: unix(), old_chat_member: { status: old, user: {} }, new_chat_member: { status, user: {} } },
    });
    await postUpdate(member('kicked', 'member'));
    await waitFor(() => unreachable(user), { timeoutMs: 20_000, description: 'blocked' });
    expect((await send('blocked-send', user)).json.error).toMatchObject({ code: 'recipient_unreachable' });
    clock().advance(1_000);
    await postUpdate(member('member', 'kicked'));
    await waitFor(async () => (await unreachable(user)) === null, { timeoutMs: 20_000, description: 'unblocked' });
    expect((await send('unblocked-send', user)).status).toBe(200);
  });
});
