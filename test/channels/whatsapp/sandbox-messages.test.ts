/**
 * The fake's send endpoint, in memory through its fetch handler: auth, Meta's request checks,
 * the 24 h window, the template catalogue, throughput, scripted failures, and the signed status
 * webhooks it posts back (checked with the adapter's own verify and parse).
 */
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { createFake, simulateInbound, type FakeMessagesOptions, type WhatsAppFake } from '../../../src/channels/whatsapp/sandbox.ts';
import type { InboundStatus, WebhookRequestSpec } from '../../../src/core/adapter.ts';
import { ManualClock } from '../../../src/core/clock.ts';
import { createHttpClient } from '../../../src/core/http-client.ts';
import { createAdapter, PHONE_NUMBER_ID, postRequest, SECRETS, testAccount } from './helpers.ts';
import { fakeHttpClient, noAbort, outbound } from './outbound-helpers.ts';

const CUSTOMER = '16315551234';
const account = testAccount();
const other = testAccount({ settings: { phoneNumberId: '200000000000001', accessToken: 'other-token-0123456789', appSecret: 'other-secret' } });
const URL_BASE = `https://graph.facebook.com/v23.0/${PHONE_NUMBER_ID}/messages`;

let clock: ManualClock;
let fake: WhatsAppFake;
let webhooks: WebhookRequestSpec[];

function setup(messages: FakeMessagesOptions = {}): void {
  clock = new ManualClock();
  webhooks = [];
  fake = createFake({ accounts: [account, other], clock, messages, deliverWebhook: async (spec) => void webhooks.push(spec) });
  fake.holdStatuses(true);
}

async function post(body: unknown, token: string = SECRETS.accessToken, url = URL_BASE): Promise<{ status: number; json: any; headers: Headers }> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token !== '') headers.authorization = `Bearer ${token}`;
  const response = await fake.fetch(new Request(url, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) }));
  return { status: response.status, json: await response.json(), headers: response.headers };
}

const text = (to = CUSTOMER, extra: Record<string, unknown> = {}) => ({ messaging_product: 'whatsapp', recipient_type: 'individual', to, type: 'text', text: { body: 'hi' }, ...extra });
const template = (name: string, components?: unknown[], to = CUSTOMER) => ({
  messaging_product: 'whatsapp', to, type: 'template', template: { name, language: { code: 'en_US' }, ...(components ? { components } : {}) },
});

/** The status events the adapter makes of every webhook the fake posted (verifying each signature). */
async function statusEvents(): Promise<InboundStatus[]> {
  await fake.flushStatuses();
  const adapter = createAdapter();
  const events: InboundStatus[] = [];
  for (const spec of webhooks) events.push(...(adapter.parse(await adapter.verify(postRequest(spec.body as string, spec.headers['x-hub-signature-256']))) as InboundStatus[]));
  return events;
}

beforeEach(() => setup());

describe('fake send endpoint: auth and request checks', () => {
  it('401 code 190 without a valid token; another account’s number is an unknown object', async () => {
    for (const token of ['', 'wrong-token']) expect(await post(text(), token)).toMatchObject({ status: 401, json: { error: { code: 190 } } });
    const foreign = await post(text(), 'other-token-0123456789');
    expect(foreign).toMatchObject({ status: 400, json: { error: { code: 100, error_subcode: 33 } } });
    expect(fake.sent()).toEqual([]);
  });

  const refusals: Array<[string, unknown, number, RegExp]> = [
    ['no messaging_product', { to: CUSTOMER, type: 'text', text: { body: 'x' } }, 100, /messaging_product is required/],
    ['another messaging_product', { ...text(), messaging_product: 'sms' }, 100, /must be one of \{WHATSAPP\}/],
    ['an unknown type', { ...text(), type: 'carousel', carousel: {} }, 100, /^\(#100\) Invalid parameter$/],
    ['the type object missing', { messaging_product: 'whatsapp', to: CUSTOMER, type: 'image' }, 100, /parameter image is required/],
    ['no to and no recipient', { messaging_product: 'whatsapp', type: 'text', text: { body: 'x' } }, 100, /parameter to is required/],
    ['an unknown top-level key', { ...text(), priority: 'high' }, 100, /Param priority is not a valid parameter/],
    ['an unknown key in the type object', { ...text(), text: { body: 'x', bold: true } }, 100, /text\['bold'\]/],
    ['a group recipient', { ...text(), recipient_type: 'group' }, 131009, /Parameter value is not valid/],
    ['a malformed number', text('call-me'), 131009, /Parameter value is not valid/],
    ['a text over 4096', { ...text(), text: { body: 'x'.repeat(4097) } }, 131009, /Parameter value is not valid/],
    ['an unknown media id', { messaging_product: 'whatsapp', to: CUSTOMER, type: 'image', image: { id: '123' } }, 131009, /Parameter value is not valid/],
    ['four reply buttons', {
      messaging_product: 'whatsapp', to: CUSTOMER, type: 'interactive',
      interactive: { type: 'button', body: { text: 'b' }, action: { buttons: [1, 2, 3, 4].map((i) => ({ type: 'reply', reply: { id: `${i}`, title: `${i}` } })) } },
    }, 131009, /Parameter value is not valid/],
    ['not JSON', '{"messaging_product":', 100, /messaging_product is required/],
  ];
  for (const [name, body, code, message] of refusals) {
    it(`refuses ${name} with (#${code})`, async () => {
      fake.noteInbound(PHONE_NUMBER_ID, CUSTOMER);
      const { status, json } = await post(body);
      expect(status).toBe(400);
      expect(json.error).toMatchObject({ code, type: 'OAuthException', fbtrace_id: expect.any(String) });
      expect(json.error.message).toMatch(message);
      expect(fake.sent()).toEqual([]);
    });
  }

  it('refuses media of the wrong kind with 131053', async () => {
    fake.noteInbound(PHONE_NUMBER_ID, CUSTOMER);
    const { id } = fake.putMedia(new TextEncoder().encode('%PDF-1.4'), 'application/pdf');
    const { status, json } = await post({ messaging_product: 'whatsapp', to: CUSTOMER, type: 'image', image: { id } });
    expect([status, json.error.code]).toEqual([400, 131053]);
  });

  it('answers with Meta’s response shape and records the request', async () => {
    fake.noteInbound(PHONE_NUMBER_ID, CUSTOMER);
    const { status, json } = await post(text('+1 631 555 1234'));
    expect(status).toBe(200);
    expect(json).toEqual({ messaging_product: 'whatsapp', contacts: [{ input: '+1 631 555 1234', wa_id: CUSTOMER }], messages: [{ id: expect.stringMatching(/^wamid\./) }] });
    expect(fake.sent(PHONE_NUMBER_ID)).toEqual([{ phoneNumberId: PHONE_NUMBER_ID, wamid: json.messages[0].id, customer: CUSTOMER, type: 'text', body: text('+1 631 555 1234'), at: clock.now() }]);
    expect(fake.sent(other.settings.phoneNumberId)).toEqual([]);
  });

  it('answers a mark-as-read with success', async () => {
    expect((await post({ messaging_product: 'whatsapp', status: 'read', message_id: 'wamid.X' })).json).toEqual({ success: true });
  });
});

describe('fake send endpoint: the customer-service window', () => {
  it('outside the window a free-form send is accepted, then fails with a 131047 status webhook', async () => {
    const { status, json } = await post(text());
    expect(status).toBe(200);
    const events = await statusEvents();
    expect(events.map((event) => [event.externalId, event.status, event.error?.code, event.error?.contractCode])).toEqual([
      [json.messages[0].id, 'failed', '131047', 'session_expired'],
    ]);
    expect(events[0]!.error!.message).toBe('Re-engagement message');
    expect(fake.sent()[0]!.failure).toBe(131047);
  });

  it('windowFailure sync answers 400 131047 at once', async () => {
    setup({ windowFailure: 'sync' });
    const { status, json } = await post(text());
    expect([status, json.error.code, json.error.message]).toEqual([400, 131047, '(#131047) Re-engagement message']);
    fake.setWindowFailure('async');
    expect((await post(text())).status).toBe(200);
  });

  it('a template is accepted outside the window, with message_status', async () => {
    const { status, json } = await post(template('hello_world'));
    expect(status).toBe(200);
    expect(json.messages[0].message_status).toBe('accepted');
    expect((await statusEvents()).map((event) => event.status)).toEqual(['sent', 'delivered', 'read']);
  });

  it('noteInbound opens the window for 24 h; closeWindow shuts it', async () => {
    fake.noteInbound(PHONE_NUMBER_ID, `+${CUSTOMER}`, clock.now());
    await post(text());
    clock.advance(24 * 3_600_000 - 1);
    await post(text());
    clock.advance(1);
    await post(text());
    fake.noteInbound(PHONE_NUMBER_ID, CUSTOMER);
    fake.closeWindow(PHONE_NUMBER_ID, CUSTOMER);
    await post(text());
    expect(fake.sent().map((entry) => entry.failure)).toEqual([undefined, undefined, 131047, 131047]);
  });

  it('simulateCustomer delivers the customer’s webhook and opens the window', async () => {
    const spec = await fake.simulateCustomer(PHONE_NUMBER_ID, { from: CUSTOMER, text: 'hello?' });
    expect(webhooks).toEqual([spec]);
    await post(text());
    expect(fake.sent()[0]!.failure).toBeUndefined();
  });

  it('POST /_omnibus/inbound with a signed simulated webhook opens the window (out-of-process simulators)', async () => {
    const spec = simulateInbound(account, { from: CUSTOMER, text: 'hi', timestamp: clock.now() });
    const noted = await fake.fetch(new Request('http://fake/_omnibus/inbound', { method: 'POST', headers: spec.headers, body: spec.body as string }));
    expect(await noted.json()).toEqual({ noted: 1 });
    const forged = await fake.fetch(new Request('http://fake/_omnibus/inbound', { method: 'POST', headers: { 'x-hub-signature-256': 'sha256=00' }, body: spec.body as string }));
    expect(forged.status).toBe(401);
    await post(text());
    expect(fake.sent()[0]!.failure).toBeUndefined();
  });
});

describe('fake send endpoint: status webhooks', () => {
  it('posts sent → delivered → read in order, signed with the app secret, parsed by the adapter', async () => {
    fake.noteInbound(PHONE_NUMBER_ID, CUSTOMER);
    const { json } = await post(text());
    const events = await statusEvents();
    expect(events.map((event) => [event.externalId, event.status, event.recipient])).toEqual([
      [json.messages[0].id, 'sent', CUSTOMER], [json.messages[0].id, 'delivered', CUSTOMER], [json.messages[0].id, 'read', CUSTOMER],
    ]);
    expect(fake.statuses().map((record) => [record.status, record.delivered])).toEqual([['sent', true], ['delivered', true], ['read', true]]);
  });

  it('a reaction only gets sent; setReceipts can skip read', async () => {
    fake.noteInbound(PHONE_NUMBER_ID, CUSTOMER);
    await post({ messaging_product: 'whatsapp', to: CUSTOMER, type: 'reaction', reaction: { message_id: 'wamid.IN', emoji: '👍' } });
    fake.setReceipts(['delivered']);
    await post(text());
    expect((await statusEvents()).map((event) => event.status)).toEqual(['sent', 'sent', 'delivered']);
  });

  it('an unknown number (1555000…) is accepted, then fails with 131026', async () => {
    const { status } = await post(template('hello_world', undefined, '15550001234'));
    expect(status).toBe(200);
    expect((await statusEvents()).map((event) => [event.status, event.error?.code, event.error?.contractCode])).toEqual([['failed', '131026', 'recipient_unreachable']]);
  });

  it('configured unreachable customers fail the same way', async () => {
    setup({ unreachable: ['+44 7700 900123'] });
    await post(template('hello_world', undefined, '447700900123'));
    expect(fake.sent()[0]!.failure).toBe(131026);
  });

  it('without holding, statuses arrive by themselves after the configured delay', async () => {
    setup({ statusDelayMs: 1 });
    fake.holdStatuses(false);
    await post(template('hello_world'));
    await vi.waitFor(() => expect(webhooks).toHaveLength(3));
  });
});

describe('fake send endpoint: templates', () => {
  const body = (params: string[]) => [{ type: 'body', parameters: params.map((text) => ({ type: 'text', text })) }];
  const cases: Array<[string, unknown, number, number]> = [
    ['an unknown template', template('no_such_template'), 404, 132001],
    ['a template in another language', { ...template('hello_world'), template: { name: 'hello_world', language: { code: 'de' } } }, 404, 132001],
    ['too few body parameters', template('order_update', body(['Kerry'])), 400, 132000],
    ['body parameters for a template without any', template('hello_world', body(['x'])), 400, 132000],
    ['positional parameters for a named template', template('order_shipped', [
      { type: 'header', parameters: [{ type: 'image', image: { link: 'https://example.com/a.jpg' } }] }, ...body(['a', 'b']),
      { type: 'button', sub_type: 'url', index: '1', parameters: [{ type: 'text', text: 'x' }] },
    ]), 400, 132000],
    ['a missing media header', template('order_shipped', [
      { type: 'body', parameters: [{ type: 'text', text: 'a', parameter_name: 'first_name' }, { type: 'text', text: 'b', parameter_name: 'order_id' }] },
      { type: 'button', sub_type: 'url', index: '1', parameters: [{ type: 'text', text: 'x' }] },
    ]), 400, 132012],
    ['a missing dynamic URL parameter', template('order_shipped', [
      { type: 'header', parameters: [{ type: 'image', image: { link: 'https://example.com/a.jpg' } }] },
      { type: 'body', parameters: [{ type: 'text', text: 'a', parameter_name: 'first_name' }, { type: 'text', text: 'b', parameter_name: 'order_id' }] },
    ]), 400, 131008],
  ];
  for (const [name, request, status, code] of cases) {
    it(`refuses ${name} (${code})`, async () => {
      const answer = await post(request);
      expect([answer.status, answer.json.error.code]).toEqual([status, code]);
    });
  }

  it('accepts the right parameters', async () => {
    expect((await post(template('order_update', body(['Kerry', '#1234'])))).status).toBe(200);
  });
});

describe('fake send endpoint: throughput and scripted failures', () => {
  it('answers 130429 past the throughput, and refills with time', async () => {
    fake.setThroughput(3);
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await post(template('hello_world'))).status);
    const limited = await post(template('hello_world'));
    expect(statuses).toEqual([200, 200, 200, 400]);
    expect(limited.json.error).toMatchObject({ code: 130429, message: '(#130429) Rate limit hit', error_data: { messaging_product: 'whatsapp' } });
    clock.advance(1000);
    expect((await post(template('hello_world'))).status).toBe(200);
  });

  it('failNext answers the next sends as scripted, with Retry-After', async () => {
    fake.failNext(2, { status: 429, retryAfter: 2 });
    const first = await post(template('hello_world'));
    expect(first.status).toBe(429);
    expect(first.headers.get('retry-after')).toBe('2');
    expect(first.json.error.code).toBe(130429);
    expect((await post(template('hello_world'))).status).toBe(429);
    expect((await post(template('hello_world'))).status).toBe(200);
  });

  it('the adapter maps a scripted failure of the fake to the contract', async () => {
    fake.failNext(1, { status: 429, retryAfter: 2 });
    fake.failNext(1, { status: 503 });
    fake.failNext(1, { code: 131026, title: 'Message undeliverable' });
    const adapter = createAdapter(account, fakeHttpClient(fake));
    const send = () => adapter.send!(outbound([], { template: { name: 'hello_world', language: 'en_US', params: {} } }), noAbort).catch((error: unknown) => error);
    expect(await send()).toMatchObject({ code: 'rate_limited', retryAfterSeconds: 2 });
    expect(await send()).toMatchObject({ code: 'channel_unavailable', retryable: true });
    expect(await send()).toMatchObject({ code: 'recipient_unreachable' });
    expect(await send()).toMatchObject({ externalId: fake.sent()[0]!.wamid });
  });
});

describe('fake send endpoint over a real socket, with the production HttpClient', () => {
  it('uploads multipart media, sends it, and posts receipts, under the daemon’s base path', async () => {
    const received: WebhookRequestSpec[] = [];
    const served = createFake({ accounts: [], clock: new ManualClock(), basePath: '/sandbox/whatsapp', deliverWebhook: async (spec) => void received.push(spec) });
    const server = await new Promise<ServerType>((resolve) => {
      const started = serve({ fetch: served.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(started));
    });
    try {
      const port = (server.address() as AddressInfo).port;
      const live = testAccount({ apiBase: `http://127.0.0.1:${port}/sandbox/whatsapp` });
      served.setAccounts([live]);
      served.holdStatuses(true);
      await served.simulateCustomer(PHONE_NUMBER_ID, { from: CUSTOMER, text: 'hi' });
      const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3]);
      const adapter = createAdapter(live, createHttpClient());
      const result = await adapter.send!(outbound([{ type: 'text', text: 'your photo' }, {
        type: 'image', media: { id: 'med_1', bytes: png, mime: 'image/png', ext: 'png', size: png.byteLength, sha256: 'x' },
      }]), noAbort);
      const [sent] = served.sent();
      expect(sent!.wamid).toBe(result.externalId);
      expect(sent!.body).toMatchObject({ type: 'image', image: { id: expect.stringMatching(/^\d+$/), caption: 'your photo' } });
      await served.flushStatuses();
      expect(received.map((spec) => spec.path)).toEqual(Array(4).fill('/webhooks/whatsapp/acme-wa'));
      expect(served.statuses().map((record) => record.status)).toEqual(['sent', 'delivered', 'read']);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
