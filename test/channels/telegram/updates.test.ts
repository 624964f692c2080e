/**
 * Polling and webhook setup at the fake Bot API: deleteWebhook before polling, getUpdates with
 * real offsets, the 409 conflicts as a typed error, setWebhook from http.publicUrl, getMe.
 */
import { describe, expect, it } from 'vitest';
import { TelegramPollConflictError } from '../../../src/channels/telegram/index.ts';
import { OmniError } from '../../../src/core/errors.ts';
import { CHAT, signal, withFake } from './outbound-helpers.ts';
import { SECRETS, USER, createAdapter, testAccount } from './helpers.ts';

const polling = { mode: 'polling' as const, pollTimeoutSeconds: 5 };

/** Waits until the fake has a poll waiting: an outcome, not a sleep. */
async function untilPolling(bot: { polling: boolean }): Promise<void> {
  while (!bot.polling) await new Promise((resolve) => setImmediate(resolve));
}

describe('telegram polling', () => {
  it('inboundMode follows the config; preparePolling deletes the webhook', async () => {
    const { adapter, fake } = withFake({ settings: polling });
    expect(adapter.inboundMode).toBe('polling');
    expect(withFake().adapter.inboundMode).toBe('webhook');
    fake.bot('acme-tg').webhook = { url: 'https://old.example/hook' };
    await adapter.preparePolling!(signal());
    expect(fake.bot('acme-tg').webhook).toBeNull();
  });

  it('fetchUpdates parses each update; the next cursor (last update_id + 1) confirms them', async () => {
    const { adapter, fake, http } = withFake({ settings: polling });
    await fake.deliver('acme-tg', { from: CHAT, text: 'first' });
    await fake.deliver('acme-tg', { from: CHAT, text: 'second' });
    const bot = fake.bot('acme-tg');
    const [firstId, secondId] = bot.updates.map((update) => update.update_id);

    const page = await adapter.fetchUpdates!(null, signal());
    expect(page.events.map((event) => (event as any).parts[0].text)).toEqual(['first', 'second']);
    expect(page.nextCursor).toBe(String(secondId! + 1));
    expect(http.seen[0]!.body).toMatchObject({ timeout: 5, allowed_updates: ['message', 'edited_message', 'callback_query', 'my_chat_member'] });
    expect(http.seen[0]!.body.offset).toBeUndefined();
    expect(http.seen[0]!.options.timeoutMs).toBeGreaterThan(5000);

    // Not confirmed yet: a crash before the cursor is stored gets the same updates again.
    expect(bot.updates).toHaveLength(2);
    await fake.deliver('acme-tg', { from: CHAT, text: 'third' });
    const next = await adapter.fetchUpdates!(page.nextCursor, signal());
    expect(http.seen[1]!.body.offset).toBe(secondId! + 1);
    expect(next.events.map((event) => (event as any).parts[0].text)).toEqual(['third']);
    expect(bot.updates.map((update) => update.update_id)).not.toContain(firstId);
  });

  it('an update that is not an object with an update_id is invalid with its own bytes; the cursor still moves', async () => {
    const { adapter, fake } = withFake({ settings: polling });
    const bot = fake.bot('acme-tg');
    bot.updates.push({ update_id: 7, message: { message_id: 1, chat: { id: 'x' }, date: 1 } } as never, { update_id: 'eight', message: {} } as never);
    const page = await adapter.fetchUpdates!(null, signal());
    expect(page.events).toEqual([
      expect.objectContaining({ kind: 'invalid', reason: 'bad_id:chat.id', raw: JSON.stringify(bot.updates[0]) }),
      expect.objectContaining({ kind: 'invalid', reason: 'missing_update_id', raw: '{"update_id":"eight","message":{}}' }),
    ]);
    expect(page.nextCursor).toBe('8');
  });

  it('409 while a webhook is set, and 409 for the older of two pollers, as TelegramPollConflictError', async () => {
    const { adapter, fake } = withFake({ settings: polling });
    const bot = fake.bot('acme-tg');
    bot.webhook = { url: 'https://elsewhere.example/hook' };
    const active = await adapter.fetchUpdates!(null, signal()).catch((error: unknown) => error);
    expect(active).toBeInstanceOf(TelegramPollConflictError);
    expect(active).toMatchObject({ code: 'conflict', reason: 'webhook_active', details: { reason: 'webhook_active' } });

    bot.webhook = null;
    const older = adapter.fetchUpdates!(null, signal()).catch((error: unknown) => error);
    await untilPolling(bot);
    const newer = adapter.fetchUpdates!(null, signal());
    expect(await older).toMatchObject({ name: 'TelegramPollConflictError', reason: 'other_poller' });
    await untilPolling(bot);
    fake.enqueue('acme-tg', { message: { message_id: 5, from: USER, chat: { id: USER.id, type: 'private' }, date: 1764000000, text: 'late' } });
    expect((await newer).events).toHaveLength(1);
  });
});

describe('telegram webhook setup and credentials', () => {
  it('prepareWebhook registers <publicUrl>/webhooks/telegram/<id> with the secret and update kinds when asked', async () => {
    const { adapter, fake } = withFake({ settings: { registerWebhook: true }, publicUrl: 'https://omnibus.example.com/' });
    await adapter.prepareWebhook!(signal());
    expect(fake.bot('acme-tg').webhook).toEqual({
      url: 'https://omnibus.example.com/webhooks/telegram/acme-tg',
      secretToken: SECRETS.secretToken,
      allowedUpdates: ['message', 'edited_message', 'callback_query', 'my_chat_member'],
    });
  });

  it('without registerWebhook nothing is called; without any URL it names the field to set', async () => {
    const quiet = withFake();
    await quiet.adapter.prepareWebhook!(signal());
    expect(quiet.http.seen).toEqual([]);
    const { adapter } = withFake({ settings: { registerWebhook: true } });
    expect(await adapter.prepareWebhook!(signal()).catch((error: unknown) => error)).toMatchObject({ code: 'invalid_request', details: { field: 'webhookUrl' } });
  });

  it('checkCredentials is getMe; a token the API does not know names botToken', async () => {
    const { adapter, http } = withFake();
    await adapter.checkCredentials(signal());
    expect(http.seen[0]!.url.pathname).toMatch(/\/getMe$/);
    const { fake } = withFake();
    const stranger = createAdapter(testAccount({ apiBase: 'https://bot-api.sandbox.test', settings: { botToken: '7000000002:AAH-some-other-token-000000000000' } }), (await import('../whatsapp/outbound-helpers.ts')).fakeHttpClient(fake));
    const error = await stranger.checkCredentials(signal()).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OmniError);
    expect(error).toMatchObject({ code: 'channel_rejected', details: { field: 'botToken', status: 401 } });
  });

  it('afterRecorded answers the callback queries it recorded, so the spinner stops', async () => {
    const { adapter, fake } = withFake();
    const events = [
      { kind: 'message', dedupeKey: 'callback:4382bfdwdsb323b2d9' },
      { kind: 'message', dedupeKey: `${CHAT}:5` },
      { kind: 'ignored', reason: 'x' },
    ] as never;
    await adapter.afterRecorded!(events, signal());
    expect(fake.callbackAnswers('acme-tg')).toEqual([{ callback_query_id: '4382bfdwdsb323b2d9' }]);
    fake.failNext({ errorCode: 400, description: 'Bad Request: query is too old and response timeout expired or query ID is invalid' });
    await expect(adapter.afterRecorded!(events, signal())).resolves.toBeUndefined();
  });
});
