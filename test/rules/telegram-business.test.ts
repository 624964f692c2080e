/**
 * Session kinds through a real daemon: a Telegram Business chat runs on a 24 h reply window
 * (its `session.kinds.business` rule) although the bot's own private chats have none. A customer
 * message opens the window with `session.opened`, a send inside it carries the chat's
 * `business_connection_id` to the fake, and one after the clock passed the window is refused
 * with `session_expired`; a plain private chat is never held back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simulateInbound, type TelegramFake } from '../../src/channels/telegram/sandbox.ts';
import type { WebhookRequestSpec } from '../../src/core/adapter.ts';
import type { ManualClock } from '../../src/core/clock.ts';
import { API_TOKEN, startTestDaemon, type TestDaemon } from '../support/daemon.ts';
import { waitFor } from '../support/services.ts';
import { SECRETS, testAccount } from '../channels/telegram/helpers.ts';

const HOUR = 3600_000;
const CONNECTION = 'BizConn-0001';
const account = testAccount({ id: 'acme-telegram' });
const YAML = ['id: acme-telegram', 'channel: telegram', `botToken: "${SECRETS.botToken}"`, `secretToken: ${SECRETS.secretToken}`, 'mode: webhook'].join('\n') + '\n';

describe('telegram business chats have a 24 h window', () => {
  let t: TestDaemon;
  const clock = () => t.clock as ManualClock;
  const fake = () => t.daemon.fakes.get('telegram') as TelegramFake;
  const post = (spec: WebhookRequestSpec) => fetch(`${t.daemon.url}${spec.path}`, { method: spec.method, headers: spec.headers, body: spec.body as string });
  const send = async (key: string, to: string, text: string) => {
    const response = await fetch(`${t.daemon.url}/v1/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ idempotencyKey: key, account: 'acme-telegram', to: { externalId: to }, parts: [{ type: 'text', text }] }),
    });
    return { status: response.status, json: (await response.json()) as any };
  };
  /** A customer's message in the business owner's private chat, as Telegram relays it to the bot. */
  const businessMessage = (from: string, text: string) => {
    const spec = simulateInbound(account, { from, text, timestamp: clock().now() });
    const update = JSON.parse(spec.body as string);
    const { message, ...rest } = update;
    return { ...spec, body: JSON.stringify({ ...rest, business_message: { ...message, business_connection_id: CONNECTION } }) };
  };
  const recorded = (externalId: string) =>
    waitFor(async () => (await t.sql!`select id from messages where direction = 'in' and conversation_id in (select id from conversations where external_id = ${externalId})`).length > 0, {
      timeoutMs: 20_000,
      intervalMs: 100,
      description: `an inbound message in ${externalId}`,
    });

  beforeAll(async () => {
    t = await startTestDaemon({ accounts: { 'acme-telegram.yaml': YAML } });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('opens a window on a customer message, sends through the connection inside it, refuses after it', async () => {
    const customer = '7200000001';
    const conversation = `business:${CONNECTION}:${customer}`;
    const spec = businessMessage(customer, 'is the shop open?');
    fake().observe(spec);
    expect((await post(spec)).status).toBe(200);
    await recorded(conversation);
    const [row] = await t.sql!`select session_kind, via from conversations where external_id = ${conversation}`;
    expect(row).toMatchObject({ session_kind: 'business', via: CONNECTION });

    const opened = await waitFor(
      async () => (await t.events(`${t.prefix}.v1.evt.session.opened.telegram.acme-telegram`, { timeoutMs: 500 }))[0]?.data,
      { timeoutMs: 20_000, intervalMs: 200, description: 'session.opened' },
    );
    expect(opened).toMatchObject({ state: 'opened', window: '24h' });
    expect(new Date(opened.expiresAt).getTime() - new Date(opened.openedAt).getTime()).toBe(24 * HOUR);

    const inside = await send('biz-inside', customer, 'Yes, until six.');
    expect(inside.status).toBeLessThan(300);
    const sent = await waitFor(() => fake().sentMessages('acme-telegram').find((call) => call.params.text === 'Yes, until six.'), {
      timeoutMs: 20_000,
      intervalMs: 100,
      description: 'sendMessage at the fake',
    });
    expect(sent.params).toMatchObject({ chat_id: Number(customer), business_connection_id: CONNECTION });

    clock().advance(24 * HOUR + 1000);
    const after = await send('biz-after', customer, 'Still there?');
    expect(after.json.error).toMatchObject({ code: 'session_expired', details: { expiredAt: opened.expiresAt, allowed: [] } });
    expect(fake().sentMessages('acme-telegram').some((call) => call.params.text === 'Still there?')).toBe(false);
  });

  it('a private chat with the bot has no window: a send days after the last message goes out', async () => {
    const customer = '7200000002';
    const spec = simulateInbound(account, { from: customer, text: 'hi bot', timestamp: clock().now() });
    fake().observe(spec);
    expect((await post(spec)).status).toBe(200);
    await recorded(customer);
    const [row] = await t.sql!`select session_kind, via from conversations where external_id = ${customer}`;
    expect(row).toMatchObject({ session_kind: null, via: null });
    const windows = await t.sql!`select id from session_windows where conversation_id in (select id from conversations where external_id = ${customer})`;
    expect(windows).toHaveLength(0);

    clock().advance(72 * HOUR);
    const later = await send('private-later', customer, 'A reminder.');
    expect(later.status).toBeLessThan(300);
    const sent = await waitFor(() => fake().sentMessages('acme-telegram').find((call) => call.params.text === 'A reminder.'), {
      timeoutMs: 20_000,
      intervalMs: 100,
      description: 'sendMessage at the fake',
    });
    expect(sent.params.business_connection_id).toBeUndefined();
  });
});
