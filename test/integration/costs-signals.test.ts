/**
 * The cost ledger and the read/typing signals through a real daemon with one account per
 * channel on the sandbox fakes: a scripted day of traffic on each channel gives the ledger rows
 * and totals the platforms' own fields say (WhatsApp pricing from status webhooks, LINE reply
 * vs push, Telegram and WeChat free), and every signal reaches its fake in the platform's exact
 * format, or is refused with the reason where the platform has no such signal or forbids it now.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WhatsAppFake } from '../../src/channels/whatsapp/sandbox.ts';
import type { LineFake } from '../../src/channels/line/sandbox.ts';
import type { TelegramFake } from '../../src/channels/telegram/sandbox.ts';
import type { WeChatFake } from '../../src/channels/wechat/sandbox.ts';
import { recordedChatActions } from '../../src/channels/telegram/sandbox-signals.ts';
import { recordedLineSignals, setSandboxChatMode } from '../../src/channels/line/sandbox-signals.ts';
import { recordedTyping } from '../../src/channels/wechat/sandbox-signals.ts';
import type { ManualClock } from '../../src/core/clock.ts';
import { costSummaryAnswerSchema } from '../../src/core/schemas/api.ts';
import { API_TOKEN, WA, startTestDaemon, whatsappAccountYaml, type TestDaemon } from '../support/daemon.ts';
import { waitFor } from '../support/services.ts';
import { BOT_ID, SECRETS as TG } from '../channels/telegram/helpers.ts';
import { testAccount as wechatAccount } from '../channels/wechat/helpers.ts';

const LINE_SECRET = '8c570fa6dd201bb328f1c1eac23a96d8';
const wx = wechatAccount({ id: 'acme-wechat', settings: { appId: 'wx0123456789abcdef' } });
const PRICES_WA = 'prices: { currency: USD, categories: { marketing: 0.0625, marketing_lite: 0.03, utility: 0.02, service: 0 } }';
const ACCOUNTS = {
  'acme-wa.yaml': whatsappAccountYaml({ wabaId: '"102290129340398"' }) + PRICES_WA + '\n',
  'acme-telegram.yaml': ['id: acme-telegram', 'channel: telegram', `botToken: "${TG.botToken}"`, `secretToken: ${TG.secretToken}`, 'mode: webhook', 'registerWebhook: false'].join('\n') + '\n',
  'acme-line.yaml': ['id: acme-line', 'channel: line', `channelSecret: ${LINE_SECRET}`, 'channelAccessToken: test-long-lived-channel-access-token-0123456789', 'prices: { currency: JPY, categories: { push: 3 } }'].join('\n') + '\n',
  'acme-wechat.yaml': ['id: acme-wechat', 'channel: wechat', ...(['appId', 'appSecret', 'token', 'encodingAesKey', 'mode'] as const).map((key) => `${key}: ${wx.settings[key]}`)].join('\n') + '\n',
};
const LINE_USER = `U${'5'.repeat(32)}`;
const TG_USER = '424242';

describe('cost ledger and signals on every channel', () => {
  let t: TestDaemon;
  const conversations: Record<string, string> = {};
  const api = async (method: 'GET' | 'POST', path: string, body?: unknown) => {
    const response = await fetch(`${t.daemon.url}/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    return { status: response.status, json: (await response.json()) as any };
  };
  const send = async (account: string, key: string, to: string, extra: Record<string, unknown>) => {
    const answer = await api('POST', '/messages', { idempotencyKey: key, account, to: { externalId: to }, ...extra });
    expect(answer.json, JSON.stringify(answer.json)).toMatchObject({ ok: true });
    return answer.json.messageId as string;
  };
  const text = (words: string) => ({ parts: [{ type: 'text', text: words }] });
  const conversationOf = async (account: string) => {
    const rows = await waitFor(async () => {
      const found = await t.sql!`select id from conversations where account = ${account}`;
      return found.length > 0 ? found : null;
    }, { description: `conversation on ${account}` });
    return rows[0]!.id as string;
  };
  const fakes = () => ({
    wa: t.daemon.fakes.get('whatsapp') as WhatsAppFake,
    tg: t.daemon.fakes.get('telegram') as TelegramFake,
    line: t.daemon.fakes.get('line') as LineFake,
    wechat: t.daemon.fakes.get('wechat') as WeChatFake,
  });

  beforeAll(async () => {
    t = await startTestDaemon({ accounts: ACCOUNTS });
    const { wa, tg, line, wechat } = fakes();
    await wa.simulateCustomer(WA.phoneNumberId, { from: '4915100000001', text: 'hi', timestamp: t.clock.now() });
    await tg.deliver('acme-telegram', { from: TG_USER, text: 'hi' });
    await line.deliverEvents('acme-line', [
      {
        type: 'message', mode: 'active', timestamp: t.clock.now().getTime(), source: { type: 'user', userId: LINE_USER },
        webhookEventId: '01JTESTSIGNAL0000000000001', deliveryContext: { isRedelivery: false }, replyToken: 'replytokensignal000000000001',
        message: { id: '610000000000001', type: 'text', quoteToken: 'q1', markAsReadToken: 'read-token-0001', text: 'hi' },
      } as never,
    ]);
    await wechat.deliver('acme-wechat', { from: 'oCustomer01', text: 'hi' });
    for (const account of ['acme-wa', 'acme-telegram', 'acme-line', 'acme-wechat']) conversations[account] = await conversationOf(account);
    await waitFor(async () => (await api('GET', '/templates?account=acme-wa')).json.syncedAt !== null, { description: 'catalog synced' });
  }, 120_000);
  afterAll(async () => {
    await t?.stop();
  });

  it('records a scripted day of traffic with the platforms’ figures and sums it', { timeout: 60_000 }, async () => {
    const { wa } = fakes();
    const customer = '4915100000001';
    const service = await send('acme-wa', 'day-wa-1', customer, text('Your order is on its way'));
    await send('acme-wa', 'day-wa-2', customer, text('Anything else?'));
    const utility = await send('acme-wa', 'day-wa-3', customer, { template: { name: 'order_update', language: 'en_US', params: { body: ['Kerry', '#1'] } } });
    // Only `sent` for this one, so the test can play Meta's later `delivered` itself.
    wa.setReceipts([]);
    const marketing = await send('acme-wa', 'day-wa-4', customer, { template: { name: 'hello_world', language: 'en_US' } });
    await send('acme-telegram', 'day-tg-1', TG_USER, text('Hello from Telegram'));
    const reply = await send('acme-line', 'day-line-1', LINE_USER, text('Reply: free'));
    await waitFor(async () => (await t.sql!`select 1 from cost_entries where message_id = ${reply}`).length === 1, { description: 'LINE reply in the ledger' });
    const push = await send('acme-line', 'day-line-2', LINE_USER, text('Push: counted'));
    await send('acme-wechat', 'day-wx-1', 'oCustomer01', text('Hello from WeChat'));

    // Every WhatsApp message gets its status webhooks with `pricing`.
    await waitFor(async () => (await t.sql!`select count(*)::int as n from cost_entries where account = 'acme-wa'`)[0]!.n === 4, { description: 'WhatsApp pricing recorded', timeoutMs: 20_000 });
    await waitFor(async () => (await t.sql!`select count(*)::int as n from cost_entries`)[0]!.n === 8, { description: 'eight ledger rows', timeoutMs: 20_000 });
    await wa.flushStatuses();
    wa.setReceipts(['delivered', 'read']);
    const wamid = (await t.sql!`select external_id from messages where id = ${marketing}`)[0]!.external_id as string;
    // Meta re-categorises a marketing message as marketing_lite: the latest receipt's figures win, once.
    const late = {
      object: 'whatsapp_business_account',
      entry: [{ id: '102290129340398', changes: [{ field: 'messages', value: {
        messaging_product: 'whatsapp', metadata: { display_phone_number: '15550000000', phone_number_id: WA.phoneNumberId },
        statuses: [{ id: wamid, status: 'delivered', timestamp: String(Math.floor(t.clock.now().getTime() / 1000) + 5), recipient_id: customer,
          pricing: { billable: true, pricing_model: 'PMP', category: 'marketing_lite', type: 'regular' } }] } }] }],
    };
    expect((await t.postWhatsApp(late)).status).toBe(200);
    expect((await t.postWhatsApp(late)).status).toBe(200);
    await waitFor(async () => (await t.sql!`select category from cost_entries where message_id = ${marketing}`)[0]?.category === 'marketing_lite', { description: 'marketing_lite' });

    const rows = await t.sql!`select message_id, category, billable, pricing_model, pricing_type, units, source from cost_entries`;
    const byId = new Map(rows.map((row) => [row.message_id, row]));
    expect(byId.get(service)).toMatchObject({ category: 'service', billable: false, pricing_model: 'PMP', pricing_type: 'free_customer_service', source: 'receipt' });
    expect(byId.get(utility)).toMatchObject({ category: 'utility', billable: true, pricing_type: 'regular' });
    expect(byId.get(push)).toMatchObject({ category: 'push', billable: true, units: 1, source: 'send' });
    expect(byId.get(reply)).toMatchObject({ category: 'reply', billable: false });

    const from = new Date(t.clock.now().getTime() - 3_600_000).toISOString();
    const to = new Date(t.clock.now().getTime() + 3_600_000).toISOString();
    const byAccount = await api('GET', `/costs?from=${from}&to=${to}&groupBy=account`);
    expect(byAccount.status).toBe(200);
    const summary = costSummaryAnswerSchema.parse(byAccount.json);
    const group = (key: string) => summary.groups.find((entry) => entry.key === key);
    expect(group('acme-wa')).toMatchObject({ messages: 4, billable: 2, units: 2, amounts: { USD: 0.05 }, unpriced: 0 });
    expect(group('acme-line')).toMatchObject({ messages: 2, billable: 1, units: 1, amounts: { JPY: 3 } });
    expect(group('acme-telegram')).toMatchObject({ messages: 1, billable: 0, amounts: {} });
    expect(group('acme-wechat')).toMatchObject({ messages: 1, billable: 0 });
    expect(summary.totals).toMatchObject({ messages: 8, billable: 3, units: 3, amounts: { USD: 0.05, JPY: 3 } });

    const byCategory = await api('GET', `/costs?from=${from}&to=${to}&groupBy=category&account=acme-wa`);
    expect(Object.fromEntries(byCategory.json.groups.map((g: any) => [g.key, g.messages]))).toEqual({ marketing_lite: 1, service: 2, utility: 1 });
    const overNats = await (await t.nc.request(`${t.prefix}.v1.api.cost.summary`, JSON.stringify({ from, to, groupBy: 'contact' }), { timeout: 15_000 })).json<any>();
    expect(overNats.ok).toBe(true);
    expect(overNats.groups.length).toBe(4);
    expect(overNats.totals.messages).toBe(summary.totals.messages);
    expect((await api('GET', `/costs?from=${to}&to=${from}`)).json.error.code).toBe('invalid_request');

    const metrics = await (await fetch(`${t.daemon.url}/metrics`)).text();
    expect(metrics).toMatch(/omnibus_cost_messages_total\{account="acme-wa",category="utility",billable="true"\} 1/);
  });

  it('WhatsApp: read and typing are mark-as-read of the newest customer message, the second with the typing indicator', async () => {
    const { wa } = fakes();
    const wamid = (await t.sql!`select external_id from messages where conversation_id = ${conversations['acme-wa']!} and direction = 'in' order by received_at desc limit 1`)[0]!.external_id;
    expect((await api('POST', `/conversations/${conversations['acme-wa']}/read`)).json).toMatchObject({ ok: true, signal: 'read' });
    expect(wa.signals().at(-1)!.body).toEqual({ messaging_product: 'whatsapp', status: 'read', message_id: wamid });
    const typing = await (await t.nc.request(`${t.prefix}.v1.api.conversation.typing`, JSON.stringify({ conversationId: conversations['acme-wa'] }), { timeout: 15_000 })).json<any>();
    expect(typing).toMatchObject({ ok: true, signal: 'typing' });
    expect(wa.signals().at(-1)!.body).toEqual({ messaging_product: 'whatsapp', status: 'read', message_id: wamid, typing_indicator: { type: 'text' } });
    // A second typing in the same second is rate-limited, and never reaches the platform.
    const count = wa.signals().length;
    expect((await api('POST', `/conversations/${conversations['acme-wa']}/typing`)).json.error.code).toBe('rate_limited');
    expect(wa.signals().length).toBe(count);
  });

  it('Telegram: typing is sendChatAction; read is refused as unsupported', async () => {
    expect((await api('POST', `/conversations/${conversations['acme-telegram']}/typing`)).json).toMatchObject({ ok: true });
    expect(recordedChatActions(BOT_ID).at(-1)!.params).toEqual({ chat_id: Number(TG_USER), action: 'typing' });
    const read = await api('POST', `/conversations/${conversations['acme-telegram']}/read`);
    expect(read.json.error).toMatchObject({ code: 'invalid_request', details: { reason: 'unsupported', signal: 'read', supported: ['typing'] } });
  });

  it('LINE: loading animation in steps of 5; markAsRead with the message’s token only in chat mode', async () => {
    expect((await api('POST', `/conversations/${conversations['acme-line']}/typing`, { seconds: 7 })).json).toMatchObject({ ok: true });
    expect(recordedLineSignals('acme-line').at(-1)).toMatchObject({ path: '/v2/bot/chat/loading/start', body: { chatId: LINE_USER, loadingSeconds: 10 } });
    const off = await api('POST', `/conversations/${conversations['acme-line']}/read`);
    expect(off.json.error).toMatchObject({ code: 'invalid_request', details: { reason: 'chat_mode_off' } });
    setSandboxChatMode('acme-line', 'chat');
    await new Promise((resolve) => setTimeout(resolve, 1_100)); // the per-conversation signal interval
    expect((await api('POST', `/conversations/${conversations['acme-line']}/read`)).json).toMatchObject({ ok: true });
    expect(recordedLineSignals('acme-line').at(-1)).toMatchObject({ path: '/v2/bot/chat/markAsRead', body: { markAsReadToken: 'read-token-0001' } });
  });

  it('WeChat: typing within 30 s of the user’s message, refused after; read unsupported', async () => {
    expect((await api('POST', `/conversations/${conversations['acme-wechat']}/typing`)).json).toMatchObject({ ok: true });
    expect(recordedTyping(wx.settings.appId).at(-1)!.body).toEqual({ touser: 'oCustomer01', command: 'Typing' });
    (t.clock as ManualClock).advance(31_000);
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const late = await api('POST', `/conversations/${conversations['acme-wechat']}/typing`);
    expect(late.json.error).toMatchObject({ code: 'invalid_request', details: { reason: 'outside_typing_window' } });
    expect((await api('POST', `/conversations/${conversations['acme-wechat']}/read`)).json.error.details.reason).toBe('unsupported');
    expect((await api('POST', '/conversations/cv_doesnotexist/read')).json.error.code).toBe('not_found');
  });
});
