/**
 * The Telegram sandbox: the simulator builds the exact Update Telegram would post (and the
 * adapter reads it), and the fake Bot API behaves like Telegram at the wire.
 */
import { describe, expect, it } from 'vitest';
import type { WebhookRequestSpec } from '../../../src/core/adapter.ts';
import { ManualClock } from '../../../src/core/clock.ts';
import { OmniError } from '../../../src/core/errors.ts';
import { telegram } from '../../../src/channels/telegram/index.ts';
import { createFake } from '../../../src/channels/telegram/sandbox.ts';
import { NOW, SECRETS, createAdapter, testAccount } from './helpers.ts';

const account = testAccount();
const readSpec = async (spec: WebhookRequestSpec) => {
  const adapter = createAdapter();
  const headers = new Map(Object.entries(spec.headers).map(([name, value]) => [name.toLowerCase(), value]));
  const body = typeof spec.body === 'string' ? new TextEncoder().encode(spec.body) : spec.body;
  return adapter.parse(await adapter.verify({ method: 'POST', url: new URL(`https://daemon.test${spec.path}`), headers, body })) as any[];
};
const simulate = telegram.sandbox!.simulateInbound;

describe('telegram simulateInbound', () => {
  it('a text: a private Message POSTed to the account route with the secret header', async () => {
    const spec = simulate(account, { from: '7123456789', text: '/start hello', name: 'Ada Lovelace', timestamp: NOW });
    expect(spec).toMatchObject({ method: 'POST', path: '/webhooks/telegram/acme-tg', headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': SECRETS.secretToken } });
    const update = JSON.parse(spec.body as string);
    expect(update.message).toMatchObject({ from: { id: 7123456789, is_bot: false, first_name: 'Ada', last_name: 'Lovelace' }, chat: { id: 7123456789, type: 'private' }, date: NOW.getTime() / 1000, entities: [{ type: 'bot_command', offset: 0, length: 6 }] });
    const [event] = await readSpec(spec);
    expect(event).toMatchObject({ kind: 'message', sender: { externalId: '7123456789', displayName: 'Ada Lovelace' }, parts: [{ type: 'text', text: '/start hello' }] });
  });

  it('a file by mime type: photo, voice, document; the text becomes the caption', async () => {
    const photo = await readSpec(simulate(account, { from: '7123456789', text: 'receipt', media: { id: 'AgACphoto', mime: 'image/jpeg' } }));
    expect(photo[0].parts).toEqual([{ type: 'image', caption: 'receipt', media: { ref: 'AgACphoto', declaredMime: 'image/jpeg' } }]);
    const voice = await readSpec(simulate(account, { from: '7123456789', media: { id: 'AwACvoice', mime: 'audio/ogg' } }));
    expect(voice[0].parts[0]).toMatchObject({ type: 'voice', media: { ref: 'AwACvoice', declaredMime: 'audio/ogg' } });
    const pdf = await readSpec(simulate(account, { from: '7123456789', media: { id: 'BQACdoc', mime: 'application/pdf', filename: 'a.pdf' } }));
    expect(pdf[0].parts[0]).toMatchObject({ type: 'file', filename: 'a.pdf', media: { ref: 'BQACdoc' } });
  });

  it('a callback: a button press under a bot message, read as a reply part', async () => {
    const [event] = await readSpec(simulate(account, { from: '7123456789', callback: 'order:42:yes' }));
    expect(event).toMatchObject({ kind: 'message', parts: [{ type: 'reply', id: 'order:42:yes', title: 'order:42:yes' }], conversation: { externalId: '7123456789', kind: 'direct' } });
    expect(event.dedupeKey).toMatch(/^callback:\d+$/);
    expect(event.replyTo.externalId).toMatch(/^7123456789:\d+$/);
  });

  it('a group: the message is written into the group chat', async () => {
    const [event] = await readSpec(simulate(account, { from: '7123456789', text: 'hi all', group: '-1001234567890' }));
    expect(event.conversation).toEqual({ externalId: '-1001234567890', kind: 'group', title: 'Sandbox Group' });
    const [small] = await readSpec(simulate(account, { from: '7123456789', text: 'hi', group: '-4001' }));
    expect(JSON.parse(simulate(account, { from: '7123456789', text: 'hi', group: '-4001' }).body as string).message.chat.type).toBe('group');
    expect(small.conversation.kind).toBe('group');
  });

  it('refuses input Telegram could not have sent', () => {
    const codeOf = (input: Parameters<typeof simulate>[1], on = account) => {
      try {
        simulate(on, input);
      } catch (error) {
        return (error as OmniError).details?.field;
      }
      return 'built';
    };
    expect(codeOf({ from: '+44 7700', text: 'x' })).toBe('from');
    expect(codeOf({ from: '7123456789' })).toBe('text');
    expect(codeOf({ from: '7123456789', text: 'x', group: '12345' })).toBe('group');
    expect(codeOf({ from: '7123456789', text: 'x' }, testAccount({ settings: { mode: 'polling', secretToken: undefined } }))).toBe('settings.secretToken');
  });
});

describe('telegram fake Bot API', () => {
  const base = 'https://bot-api.sandbox.test/sandbox/telegram';
  const setup = (settings: NonNullable<Parameters<typeof testAccount>[0]>['settings'] = {}) => {
    const delivered: WebhookRequestSpec[] = [];
    const fake = createFake({ accounts: [testAccount({ settings })], clock: new ManualClock(NOW), basePath: '/sandbox/telegram/', deliverWebhook: async (spec) => void delivered.push(spec) });
    const call = async (method: string, params: Record<string, unknown> = {}, token: string = SECRETS.botToken) => {
      const response = await fake.fetch(new Request(`${base}/bot${token}/${method}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(params) }));
      return { status: response.status, body: (await response.json()) as any };
    };
    return { fake, call, delivered };
  };

  it('an unknown token is 401 Unauthorized; an unknown method 404; getMe names the bot of the token', async () => {
    const { call } = setup();
    expect(await call('getMe', {}, '7000000009:AAH-not-a-known-token-000000000000')).toEqual({ status: 401, body: { ok: false, error_code: 401, description: 'Unauthorized' } });
    expect((await call('noSuchMethod')).status).toBe(404);
    expect((await call('getme')).body.result).toMatchObject({ id: 7000000001, is_bot: true });
  });

  it('getUpdates: confirmed by a higher offset, negative offsets keep the tail, 409 while a webhook is set', async () => {
    const { fake, call } = setup({ mode: 'polling' });
    for (const text of ['a', 'b', 'c']) await fake.deliver('acme-tg', { from: '7123456789', text });
    const all = (await call('getUpdates')).body.result as Array<{ update_id: number; message: { text: string } }>;
    expect(all.map((update) => update.message.text)).toEqual(['a', 'b', 'c']);
    expect(all[1]!.update_id).toBe(all[0]!.update_id + 1);
    expect(((await call('getUpdates', { offset: all[1]!.update_id })).body.result as unknown[]).length).toBe(2);
    expect(((await call('getUpdates', { offset: -1 })).body.result as Array<{ message: { text: string } }>).map((u) => u.message.text)).toEqual(['c']);
    expect((await call('getWebhookInfo')).body.result).toEqual({ url: '', has_custom_certificate: false, pending_update_count: 1 });
    await call('setWebhook', { url: 'https://daemon.example/webhooks/telegram/acme-tg', secret_token: SECRETS.secretToken });
    expect(await call('getUpdates')).toMatchObject({ status: 409, body: { ok: false, error_code: 409 } });
    expect((await call('setWebhook', { url: 'https://x.example', secret_token: 'bad token!' })).status).toBe(400);
  });

  it('deliver posts a webhook in webhook mode, built with the account secret', async () => {
    const { fake, delivered } = setup();
    const update = await fake.deliver('acme-tg', { from: '7123456789', text: 'hello' });
    expect(delivered).toHaveLength(1);
    expect(JSON.parse(delivered[0]!.body as string)).toEqual(update);
    expect(fake.bot('acme-tg').updates).toEqual([]);
  });

  it('sends need a chat the bot knows: observe() learns it from a simulated request; blocks answer 403', async () => {
    const { fake, call } = setup();
    expect((await call('sendMessage', { chat_id: 7123456789, text: 'hi' })).body).toEqual({ ok: false, error_code: 400, description: 'Bad Request: chat not found' });
    expect(fake.observe(simulate(testAccount(), { from: '7123456789', text: 'hi' }))).toEqual({ ok: true });
    expect(fake.observe({ ...simulate(testAccount(), { from: '7123456789', text: 'hi' }), headers: { 'x-telegram-bot-api-secret-token': 'nope' } })).toEqual({ ok: false, reason: 'secret_mismatch' });
    const sent = await call('sendMessage', { chat_id: 7123456789, text: 'hi', reply_markup: { inline_keyboard: [[{ text: 'A', callback_data: 'a' }]] } });
    expect(sent.body.result).toMatchObject({ message_id: 1001, chat: { id: 7123456789, type: 'private' }, text: 'hi', from: { is_bot: true } });
    expect((await call('sendMessage', { chat_id: 7123456789, text: 'x'.repeat(4097) })).body.description).toBe('Bad Request: message is too long');
    expect((await call('sendMessage', { chat_id: 7123456789, text: 'x', reply_markup: { inline_keyboard: [[{ text: 'A', callback_data: 'x'.repeat(65) }]] } })).body.description).toBe('Bad Request: BUTTON_DATA_INVALID');
    fake.block('acme-tg', '7123456789');
    expect((await call('sendMessage', { chat_id: 7123456789, text: 'hi' })).status).toBe(403);
    expect(fake.sentMessages('acme-tg')).toHaveLength(1);
  });

  it('files: putMedia, getFile and the download path; uploads become files the bot can resend by file_id', async () => {
    const { fake, call } = setup();
    fake.addChat('acme-tg', '7123456789');
    const { id, sha256 } = fake.putMedia(new TextEncoder().encode('jpeg bytes'), 'image/jpeg');
    expect(sha256).toMatch(/^[0-9a-f]{64}$/);
    const file = (await call('getFile', { file_id: id })).body.result;
    expect(file).toMatchObject({ file_id: id, file_size: 10, file_path: expect.stringMatching(/^photos\/file_\d+\.jpg$/) });
    const download = await fake.fetch(new Request(`${base}/file/bot${SECRETS.botToken}/${file.file_path}`));
    expect(await download.text()).toBe('jpeg bytes');
    expect((await fake.fetch(new Request(`${base}/file/bot7000000009:AAH-not-a-known-token-000000000000/${file.file_path}`))).status).toBe(404);

    const form = new FormData();
    form.append('chat_id', '7123456789');
    form.append('caption', 'scan');
    form.append('document', new Blob([new TextEncoder().encode('%PDF')], { type: 'application/pdf' }), 'scan.pdf');
    const upload = await (await fake.fetch(new Request(`${base}/bot${SECRETS.botToken}/sendDocument`, { method: 'POST', body: form }))).json() as any;
    expect(upload.result).toMatchObject({ caption: 'scan', document: { file_name: 'scan.pdf', mime_type: 'application/pdf', file_size: 4 } });
    const resent = await call('sendDocument', { chat_id: 7123456789, document: upload.result.document.file_id });
    expect(resent.body.result.document.file_id).toBe(upload.result.document.file_id);
    expect(fake.sentMessages()[0]!.files.document).toMatchObject({ filename: 'scan.pdf', size: 4 });
  });

  it('scripted failures answer the next matching call once; upgraded groups carry migrate_to_chat_id', async () => {
    const { fake, call } = setup();
    fake.addChat('acme-tg', '7123456789');
    fake.failNext({ errorCode: 429, description: 'Too Many Requests: retry after 3', parameters: { retry_after: 3 } }, 'sendMessage');
    expect((await call('getMe')).status).toBe(200);
    const limited = await fake.fetch(new Request(`${base}/bot${SECRETS.botToken}/sendMessage`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"chat_id":7123456789,"text":"hi"}' }));
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('3');
    expect(await limited.json()).toEqual({ ok: false, error_code: 429, description: 'Too Many Requests: retry after 3', parameters: { retry_after: 3 } });
    expect((await call('sendMessage', { chat_id: 7123456789, text: 'hi' })).status).toBe(200);
    fake.migrateGroup('acme-tg', '-4001', '-1004001');
    expect((await call('sendMessage', { chat_id: -4001, text: 'hi' })).body).toEqual({
      ok: false, error_code: 400, description: 'Bad Request: group chat was upgraded to a supergroup chat', parameters: { migrate_to_chat_id: -1004001 },
    });
  });

  it('the _omnibus hooks: observe a request from another process, deliver a simulated action', async () => {
    const { fake, delivered } = setup();
    const post = (name: string, body: unknown) => fake.fetch(new Request(`${base}/_omnibus/${name}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }));
    expect((await post('observe', simulate(testAccount(), { from: '5550001', text: 'hi' }))).status).toBe(200);
    expect(fake.bot('acme-tg').knownChats.get('5550001')).toBe('private');
    expect((await post('inbound', { account: 'acme-tg', from: '5550002', text: 'yo' })).status).toBe(200);
    expect(delivered).toHaveLength(1);
    expect((await post('observe', { nonsense: true })).status).toBe(400);
  });
});
