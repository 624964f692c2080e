/**
 * Telegram webhook mode through a real daemon (PostgreSQL, NATS, the sandbox Bot API): every
 * real fixture posted with the secret header lands as the right event on NATS, an edit is an
 * edit and never a second new message, a blocked bot marks the identity unreachable, a callback
 * query is answered after recording, and a refused secret stores nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TelegramFake } from '../../src/channels/telegram/sandbox.ts';
import { startTestDaemon, type TestDaemon } from '../support/daemon.ts';
import { waitFor } from '../support/services.ts';
import { countBy, duplicates } from '../support/stream.ts';
import { FIXTURE_NAMES, SECRETS, fixtureBytes } from '../channels/telegram/helpers.ts';

const YAML = ['id: acme-telegram', 'channel: telegram', `botToken: "${SECRETS.botToken}"`, `secretToken: ${SECRETS.secretToken}`, 'mode: webhook'].join('\n') + '\n';

describe('telegram fixtures through the daemon', () => {
  let t: TestDaemon;
  const post = (body: string, secret: string | null = SECRETS.secretToken) =>
    fetch(`${t.daemon.url}/webhooks/telegram/acme-telegram`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(secret === null ? {} : { 'x-telegram-bot-api-secret-token': secret }) },
      body,
    });
  const events = (kind: string, atLeast = 1) => t.events(`${t.prefix}.v1.evt.message.${kind}.telegram.acme-telegram`, { atLeast, timeoutMs: 20_000 });
  const fake = () => t.daemon.fakes.get('telegram') as TelegramFake;

  beforeAll(async () => {
    t = await startTestDaemon({ accounts: { 'acme-telegram.yaml': YAML } });
  }, 120_000);
  afterAll(async () => {
    await t?.stop();
  });

  // Several fixtures reuse chat 1111111 and message 1365; each gets a chat of its own here so
  // each is a message of its own (the edit keeps the text fixture's chat: it edits that message).
  const bodies = FIXTURE_NAMES.map((name, i) => {
    const raw = new TextDecoder().decode(fixtureBytes(name));
    const chat = String(8100000000 + i);
    return { name, body: name === 'edited-message-update.json' ? raw.replaceAll('1111111', String(8100000000 + FIXTURE_NAMES.indexOf('text-message-update.json'))) : raw.replaceAll('1111111', chat) };
  });
  const messageFixtures = bodies.filter(({ name }) => !['edited-message-update.json', 'my-chat-member-bot-blocked-update.json', 'callback-query-update.json'].includes(name));

  it('a missing or wrong secret is 401 and stores nothing', async () => {
    const text = bodies.find((b) => b.name === 'text-message-update.json')!;
    expect((await post(text.body, null)).status).toBe(401);
    expect((await post(text.body, 'wrong-secret-wrong-secret-0000')).status).toBe(401);
    expect(await t.sql!`select 1 from messages`).toHaveLength(0);
  });

  it('every fixture is answered 200 and becomes the right event, once', { timeout: 60_000 }, async () => {
    // The edit comes after the message it edits.
    const ordered = [...bodies.filter((b) => b.name !== 'edited-message-update.json'), bodies.find((b) => b.name === 'edited-message-update.json')!];
    for (const { name, body } of ordered) expect([name, (await post(body)).status]).toEqual([name, 200]);

    const inbound = await events('in', messageFixtures.length + 1);
    expect(duplicates(countBy(inbound, (e) => e.msgId))).toEqual([]);
    for (const { name, body } of messageFixtures) {
      const update = JSON.parse(body);
      const message = update.message ?? update;
      expect([name, inbound.filter((e) => e.data.externalId === `${message.chat.id}:${message.message_id}`).length]).toEqual([name, 1]);
    }
    // The callback press is a message of its own, answered at the fake after recording.
    expect(inbound.filter((e) => e.data.parts.some((p: any) => p.type === 'reply'))).toHaveLength(1);
    await waitFor(() => fake().callbackAnswers('acme-telegram').some((a) => a.callback_query_id === '4382bfdwdsb323b2d9'), { timeoutMs: 20_000, description: 'callback answered' });

    // The edit: message.edited, and no second new message for that key.
    const editedKey = `${8100000000 + FIXTURE_NAMES.indexOf('text-message-update.json')}:1365`;
    const edited = await events('edited');
    expect(edited.map((e) => e.data.externalId ?? e.data.message?.externalId)).toContain(editedKey);
    expect(inbound.filter((e) => e.data.externalId === editedKey)).toHaveLength(1);
    expect(await t.sql!`select 1 from messages where external_id = ${editedKey}`).toHaveLength(1);

    // my_chat_member kicked: the user blocked the bot.
    await waitFor(async () => (await t.sql!`select unreachable_at from identities where channel = 'telegram' and external_id = '0' and unreachable_at is not null`).length === 1, {
      timeoutMs: 20_000,
      description: 'identity unreachable',
    });
  });

  it('a redelivery with a new update_id is one message; an unknown update kind is 200 and ignored', { timeout: 60_000 }, async () => {
    const body = JSON.stringify({ update_id: 77000001, message: { message_id: 9, from: { id: 8199999999, is_bot: false, first_name: 'R' }, chat: { id: 8199999999, type: 'private', first_name: 'R' }, date: 1764000000, text: 'twice' } });
    expect((await post(body)).status).toBe(200);
    expect((await post(body.replace('77000001', '77000002'))).status).toBe(200);
    expect(await t.sql!`select 1 from messages where external_id = '8199999999:9'`).toHaveLength(1);
    expect((await post(JSON.stringify({ update_id: 77000003, brand_new_kind: { id: 1 } }))).status).toBe(200);
    expect((await post(JSON.stringify({ update_id: 77000004, channel_post: { message_id: 1, chat: { id: -1001, type: 'channel' }, date: 1764000000, text: 'x' } }))).status).toBe(200);
    const metrics = await (await fetch(`${t.daemon.url}/metrics`)).text();
    expect(metrics).toMatch(/omnibus_events_ignored_total\{[^}]*account="acme-telegram"[^}]*\} [1-9]/);
    const inbound = await events('in');
    expect(inbound.filter((e) => e.data.externalId === '8199999999:9')).toHaveLength(1);
  });
});
