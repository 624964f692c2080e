import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/core/clock.ts';
import type { AccountConfig } from '../../../src/core/config/types.ts';
import { OmniError } from '../../../src/core/errors.ts';
import type { SandboxFake } from '../../../src/core/adapter.ts';
import type { WhatsAppSettings } from '../../../src/channels/whatsapp/config.ts';
import {
  buildStatusWebhook,
  createFake,
  signWhatsAppBody,
  simulateInbound,
  whatsappSandbox,
} from '../../../src/channels/whatsapp/sandbox.ts';

const PNG = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3, 4, 5]);
const sha256Hex = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

function fixture(name: string): any {
  return JSON.parse(readFileSync(new URL(`../../fixtures/whatsapp/${name}`, import.meta.url), 'utf8'));
}

function account(id: string, settings: Partial<WhatsAppSettings> = {}): AccountConfig<WhatsAppSettings> {
  return {
    id,
    channel: 'whatsapp',
    enabled: true,
    apiBase: null,
    session: { windowMs: 86_400_000, window: '24h', expiringNoticeMs: 3_600_000 },
    attachments: { allow: ['jpg', 'png', 'pdf'], maxBytes: null },
    rateLimit: { perSecond: 80, perRecipientPerSecond: null },
    settings: {
      phoneNumberId: '106540352242922',
      accessToken: 'token-acme',
      appSecret: 'secret-acme',
      verifyToken: 'verify-acme',
      apiVersion: 'v23.0',
      ...settings,
    },
  };
}

const acme = account('acme-wa', { wabaId: '102290129340398' });
const other = account('other-wa', { phoneNumberId: '200000000000001', accessToken: 'token-other', appSecret: 'secret-other' });
const auth = (token: string) => ({ authorization: `Bearer ${token}` });

/** The structure of a JSON value: keys and primitive types, first array element only. */
function shapeOf(value: unknown): unknown {
  if (Array.isArray(value)) return [shapeOf(value[0])];
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, shapeOf(inner)]).sort(([a], [b]) => String(a).localeCompare(String(b))));
  }
  return typeof value;
}

/** HMAC-SHA256 over the exact bytes, compared in constant time, as a daemon would. */
function signatureMatches(body: string | Uint8Array, header: string | undefined, secret: string): boolean {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : Buffer.from(body);
  const expected = createHmac('sha256', secret).update(bytes).digest();
  const given = Buffer.from((header ?? '').replace(/^sha256=/, ''), 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** A JSON body, typed loosely: tests assert its shape. */
async function json(response: Response): Promise<any> {
  return response.json();
}

function bodyText(body: string | Uint8Array): string {
  return typeof body === 'string' ? body : new TextDecoder().decode(body);
}

async function upload(fetchUrl: string, token: string, parts: Record<string, string | Blob>, filename = 'photo.png') {
  const form = new FormData();
  for (const [name, value] of Object.entries(parts)) {
    if (typeof value === 'string') form.append(name, value);
    else form.append(name, value, filename);
  }
  return fetch(fetchUrl, { method: 'POST', headers: auth(token), body: form });
}

describe('WhatsApp fake Graph API over a real socket', () => {
  const clock = new ManualClock();
  let fake: SandboxFake<WhatsAppSettings>;
  let server: ServerType;
  let origin: string;

  beforeAll(async () => {
    fake = createFake({ accounts: [acme, other], clock });
    await new Promise<void>((resolve) => {
      server = serve({ fetch: fake.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve());
    });
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('answers the credential check with the phone number node', async () => {
    const response = await fetch(`${origin}/v23.0/106540352242922?fields=id,display_phone_number,verified_name`, {
      headers: auth('token-acme'),
    });
    expect(response.status).toBe(200);
    const node = await json(response);
    expect(node).toEqual({ id: '106540352242922', display_phone_number: expect.stringMatching(/^\+1 555-\d{3}-\d{4}$/), verified_name: 'Omnibus Sandbox' });
  });

  it('answers 401 with Graph code 190 for a missing or wrong token', async () => {
    for (const headers of [{}, auth('nope'), { authorization: 'Basic token-acme' }]) {
      const response = await fetch(`${origin}/v23.0/106540352242922`, { headers });
      expect(response.status).toBe(401);
      const { error } = await json(response);
      expect(error).toEqual({
        message: 'Invalid OAuth access token - Cannot parse access token',
        type: 'OAuthException',
        code: 190,
        fbtrace_id: expect.any(String),
      });
    }
  });

  it('uploads multipart media, looks it up and downloads it with the bearer', async () => {
    const uploaded = await upload(`${origin}/v23.0/106540352242922/media`, 'token-acme', {
      messaging_product: 'whatsapp',
      type: 'image/png',
      file: new Blob([PNG], { type: 'image/png' }),
    });
    expect(uploaded.status).toBe(200);
    const { id } = await json(uploaded);
    expect(id).toMatch(/^[1-9]\d{15}$/);

    const lookup = await fetch(`${origin}/v23.0/${id}?phone_number_id=106540352242922`, { headers: auth('token-acme') });
    expect(lookup.status).toBe(200);
    const info = await json(lookup);
    expect(info).toEqual({
      messaging_product: 'whatsapp',
      url: expect.any(String),
      mime_type: 'image/png',
      sha256: sha256Hex(PNG),
      file_size: String(PNG.byteLength),
      id,
    });
    const url = new URL(info.url);
    expect(url.origin).toBe(origin);
    expect(url.pathname).toBe('/whatsapp_business/attachments/');
    expect(url.searchParams.get('mid')).toBe(id);
    expect(Number(url.searchParams.get('ext'))).toBe(Math.floor((clock.now().getTime() + 300_000) / 1000));
    expect(url.searchParams.get('hash')).toMatch(/^AT/);

    const download = await fetch(info.url, { headers: auth('token-acme') });
    expect(download.status).toBe(200);
    expect(download.headers.get('content-type')).toBe('image/png');
    expect(new Uint8Array(await download.arrayBuffer())).toEqual(PNG);

    const anonymous = await fetch(info.url);
    expect(anonymous.status).toBe(401);
    expect((await json(anonymous)).error.code).toBe(190);
    // Another account's token cannot read media this number uploaded.
    expect((await fetch(info.url, { headers: auth('token-other') })).status).toBe(404);
    expect((await fetch(`${origin}/v23.0/${id}`, { headers: auth('token-other') })).status).toBe(400);
  });

  it('expires download URLs after five minutes of the fake clock', async () => {
    const { id } = fake.putMedia(PNG, 'image/png');
    const info = await json(await fetch(`${origin}/v23.0/${id}`, { headers: auth('token-acme') }));
    clock.advance(299_000);
    expect((await fetch(info.url, { headers: auth('token-acme') })).status).toBe(200);
    clock.advance(1_000);
    expect((await fetch(info.url, { headers: auth('token-acme') })).status).toBe(404);
    const fresh = await json(await fetch(`${origin}/v23.0/${id}`, { headers: auth('token-acme') }));
    expect(fresh.url).not.toBe(info.url);
    expect((await fetch(fresh.url, { headers: auth('token-acme') })).status).toBe(200);
  });

  it('refuses a tampered download URL', async () => {
    const { id } = fake.putMedia(PNG, 'image/png');
    const info = await json(await fetch(`${origin}/v23.0/${id}`, { headers: auth('token-acme') }));
    const url = new URL(info.url);
    url.searchParams.set('ext', String(Number(url.searchParams.get('ext')) + 3600));
    expect((await fetch(url, { headers: auth('token-acme') })).status).toBe(404);
  });

  it('answers Graph code 100 for an unknown id', async () => {
    const response = await fetch(`${origin}/v23.0/999999999999`, { headers: auth('token-acme') });
    expect(response.status).toBe(400);
    const { error } = await json(response);
    expect(error).toMatchObject({ type: 'GraphMethodException', code: 100, error_subcode: 33 });
    expect(error.message).toContain("Unsupported get request. Object with ID '999999999999' does not exist");
  });
});

describe('WhatsApp fake Graph API in memory', () => {
  const clock = new ManualClock();
  const fake = createFake({ accounts: [acme, other], clock });
  const call = (path: string, init: RequestInit = {}) => fake.fetch(new Request(`http://fake.test${path}`, init));

  it('lets customer media from putMedia be read by every account and deleted', async () => {
    const stored = fake.putMedia(PNG, 'image/png', 'cat.png');
    expect(stored.sha256).toBe(sha256Hex(PNG));
    for (const token of ['token-acme', 'token-other']) {
      expect((await call(`/v23.0/${stored.id}`, { headers: auth(token) })).status).toBe(200);
    }
    const info = await json(await call(`/v23.0/${stored.id}`, { headers: auth('token-acme') }));
    const deleted = await call(`/v23.0/${stored.id}`, { method: 'DELETE', headers: auth('token-acme') });
    expect(await json(deleted)).toEqual({ success: true });
    expect((await call(`/v23.0/${stored.id}`, { headers: auth('token-acme') })).status).toBe(400);
    expect((await call(new URL(info.url).pathname + new URL(info.url).search, { headers: auth('token-acme') })).status).toBe(404);
    const again = await call(`/v23.0/${stored.id}`, { method: 'DELETE', headers: auth('token-acme') });
    expect((await json(again)).error.message).toContain('Unsupported delete request');
  });

  it('answers Graph-shaped upload errors', async () => {
    const post = async (parts: Record<string, string | Blob>, token = 'token-acme', phone = '106540352242922') => {
      const form = new FormData();
      for (const [name, value] of Object.entries(parts)) {
        if (typeof value === 'string') form.append(name, value);
        else form.append(name, value, 'f');
      }
      const response = await call(`/v23.0/${phone}/media`, { method: 'POST', headers: auth(token), body: form });
      return { status: response.status, error: (await json(response)).error };
    };
    const file = new Blob([PNG], { type: 'image/png' });
    expect(await post({ file })).toMatchObject({ status: 400, error: { code: 100, message: '(#100) The parameter messaging_product is required.' } });
    expect(await post({ messaging_product: 'whatsapp' })).toMatchObject({ status: 400, error: { code: 100, message: '(#100) The parameter file is required.' } });
    expect(await post({ messaging_product: 'whatsapp', type: 'application/zip', file })).toMatchObject({
      status: 400,
      error: { code: 131053, message: '(#131053) Media upload error', error_data: { messaging_product: 'whatsapp' } },
    });
    const bigImage = new Blob([new Uint8Array(5 * 1024 * 1024 + 1)], { type: 'image/jpeg' });
    expect(await post({ messaging_product: 'whatsapp', file: bigImage })).toMatchObject({ status: 400, error: { code: 131053 } });
    expect(await post({ messaging_product: 'whatsapp', file }, 'token-other')).toMatchObject({ status: 400, error: { code: 100, error_subcode: 33 } });
    expect(await post({ messaging_product: 'whatsapp', file }, 'nope')).toMatchObject({ status: 401, error: { code: 190 } });

    const notMultipart = await call('/v23.0/106540352242922/media', { method: 'POST', headers: { ...auth('token-acme'), 'content-type': 'multipart/form-data; boundary=x' }, body: 'garbage' });
    expect(notMultipart.status).toBe(400);
    expect((await json(notMultipart)).error.code).toBe(100);
  });

  it('honours the phone_number_id filter on lookups', async () => {
    const form = new FormData();
    form.append('messaging_product', 'whatsapp');
    form.append('file', new Blob([PNG], { type: 'image/png' }), 'p.png');
    const { id } = await json(await call('/v23.0/106540352242922/media', { method: 'POST', headers: auth('token-acme'), body: form }));
    expect((await call(`/v23.0/${id}?phone_number_id=106540352242922`, { headers: auth('token-acme') })).status).toBe(200);
    expect((await call(`/v23.0/${id}?phone_number_id=200000000000001`, { headers: auth('token-acme') })).status).toBe(400);
  });

  it('answers the default phone number fields and refuses unknown ones', async () => {
    const node = await json(await call('/v23.0/106540352242922', { headers: auth('token-acme') }));
    expect(Object.keys(node).sort()).toEqual(
      ['code_verification_status', 'display_phone_number', 'id', 'platform_type', 'quality_rating', 'throughput', 'verified_name'],
    );
    const bad = await call('/v23.0/106540352242922?fields=nonsense', { headers: auth('token-acme') });
    expect(bad.status).toBe(400);
    expect((await json(bad)).error.message).toBe('(#100) Tried accessing nonexisting field (nonsense) on node type (WhatsAppBusinessPhoneNumber)');
    // A valid token for another number sees nothing, as on Graph.
    expect((await call('/v23.0/106540352242922', { headers: auth('token-other') })).status).toBe(400);
  });

  it('never throws on odd requests and answers Graph errors', async () => {
    for (const [path, method] of [['/', 'GET'], ['/v23.0', 'GET'], ['/nope/123', 'GET'], ['/v23.0/%E0%A4%A', 'GET'], ['/v23.0/1/media', 'PUT'], ['/whatsapp_business/attachments/?mid=1&ext=x&hash=y', 'GET']] as const) {
      const response = await call(path, { method, headers: auth('token-acme') });
      expect(response.status, path).toBeGreaterThanOrEqual(400);
      expect(response.status, path).toBeLessThan(500);
    }
    const unknown = await json(await call('/graph/nowhere'));
    expect(unknown.error).toMatchObject({ code: 2500, message: 'Unknown path components: /graph/nowhere' });
  });

  it('serves the accounts given to setAccounts', async () => {
    const reloaded = createFake({ accounts: [acme], clock });
    reloaded.setAccounts([account('acme-wa', { accessToken: 'rotated' })]);
    const ask = (token: string) => reloaded.fetch(new Request('http://fake.test/v23.0/106540352242922', { headers: auth(token) }));
    expect((await ask('token-acme')).status).toBe(401);
    expect((await ask('rotated')).status).toBe(200);
  });

  it('works mounted under a base path', async () => {
    const mounted = whatsappSandbox.createFake({ accounts: [acme], clock, basePath: '/sandbox/whatsapp/' } as Parameters<typeof createFake>[0]);
    const at = (path: string) => mounted.fetch(new Request(`http://127.0.0.1:8080${path}`, { headers: auth('token-acme') }));
    expect((await at('/sandbox/whatsapp/v23.0/106540352242922')).status).toBe(200);
    expect((await at('/v23.0/106540352242922')).status).toBe(400);
    const { id } = mounted.putMedia(PNG, 'image/png');
    const info = await json(await at(`/sandbox/whatsapp/v23.0/${id}`));
    expect(info.url).toMatch(/^http:\/\/127\.0\.0\.1:8080\/sandbox\/whatsapp\/whatsapp_business\/attachments\/\?mid=\d+&ext=\d+&hash=/);
    const download = await at(new URL(info.url).pathname + new URL(info.url).search);
    expect(new Uint8Array(await download.arrayBuffer())).toEqual(PNG);
  });
});

describe('WhatsApp customer simulator', () => {
  const at = new Date(Date.UTC(2026, 10, 21, 10, 0, 0));

  it('builds a signed text webhook in Meta shape', () => {
    const request = simulateInbound(acme, { from: '+16505551234', name: 'Sheena Nelson', text: 'Hello!', timestamp: at });
    expect(request).toMatchObject({ method: 'POST', path: '/webhooks/whatsapp/acme-wa', headers: { 'content-type': 'application/json' } });
    expect(signatureMatches(request.body, request.headers['x-hub-signature-256'], 'secret-acme')).toBe(true);
    const body = JSON.parse(bodyText(request.body));
    const expected = fixture('text-message-click-to-whatsapp-ad-referral.json');
    delete expected.entry[0].changes[0].value.messages[0].referral;
    expect(shapeOf(body)).toEqual(shapeOf(expected));
    const value = body.entry[0].changes[0].value;
    expect(body.entry[0].id).toBe('102290129340398');
    expect(value.metadata.phone_number_id).toBe('106540352242922');
    expect(value.contacts).toEqual([{ profile: { name: 'Sheena Nelson' }, wa_id: '16505551234' }]);
    expect(value.messages[0]).toMatchObject({ from: '16505551234', timestamp: String(at.getTime() / 1000), type: 'text', text: { body: 'Hello!' } });
    expect(value.messages[0].id).toMatch(/^wamid\.[A-Za-z0-9+/]+=*$/);
  });

  it('gives every message a fresh wamid', () => {
    const ids = new Set(Array.from({ length: 50 }, () => JSON.parse(bodyText(simulateInbound(acme, { from: '1', text: 'x' }).body)).entry[0].changes[0].value.messages[0].id));
    expect(ids.size).toBe(50);
  });

  it('signs the exact bytes of non-ASCII text', () => {
    const text = "J'ai mangé des pâtes 🍝";
    const request = simulateInbound(acme, { from: '33612345678', text });
    const bytes = typeof request.body === 'string' ? Buffer.from(request.body, 'utf8') : request.body;
    expect(signatureMatches(bytes, request.headers['x-hub-signature-256'], 'secret-acme')).toBe(true);
    expect(request.headers['x-hub-signature-256']).toBe(signWhatsAppBody(bytes, 'secret-acme'));
    expect(JSON.parse(new TextDecoder().decode(bytes)).entry[0].changes[0].value.messages[0].text.body).toBe(text);
    expect(signatureMatches(bytes, request.headers['x-hub-signature-256'], 'secret-other')).toBe(false);
  });

  it('builds an image webhook with the fixture shape and base64 sha256', () => {
    const fake = createFake({ accounts: [acme], clock: new ManualClock() });
    const stored = fake.putMedia(PNG, 'image/jpeg');
    const request = simulateInbound(acme, { from: '16505551234', name: 'Sheena Nelson', text: 'Taj Mahal', media: { id: stored.id, mime: 'image/jpeg', sha256: stored.sha256 } });
    const body = JSON.parse(bodyText(request.body));
    expect(shapeOf(body)).toEqual(shapeOf(fixture('image-message.json')));
    const message = body.entry[0].changes[0].value.messages[0];
    expect(message.image).toEqual({ caption: 'Taj Mahal', mime_type: 'image/jpeg', sha256: Buffer.from(stored.sha256, 'hex').toString('base64'), id: stored.id });
    expect(signatureMatches(request.body, request.headers['x-hub-signature-256'], 'secret-acme')).toBe(true);
  });

  it('classifies media by mime as WhatsApp does', () => {
    const messagesFor = (mime: string, text?: string, filename?: string) =>
      JSON.parse(bodyText(simulateInbound(acme, { from: '1555', ...(text ? { text } : {}), media: { id: '123', mime, sha256: 'x', ...(filename ? { filename } : {}) } }).body))
        .entry[0].changes[0].value.messages;
    expect(messagesFor('audio/ogg; codecs=opus')[0]).toMatchObject({ type: 'audio', audio: { voice: true, mime_type: 'audio/ogg; codecs=opus', id: '123' } });
    expect(messagesFor('audio/mpeg')[0]).toMatchObject({ type: 'audio', audio: { voice: false } });
    expect(messagesFor('video/mp4', 'clip')[0]).toMatchObject({ type: 'video', video: { caption: 'clip' } });
    expect(messagesFor('image/png')[0].type).toBe('image');
    expect(messagesFor('image/webp')[0]).toMatchObject({ type: 'sticker', sticker: { mime_type: 'image/webp' } });
    expect(messagesFor('application/pdf', 'invoice', 'march.pdf')[0]).toMatchObject({ type: 'document', document: { filename: 'march.pdf', caption: 'invoice' } });
    expect(messagesFor('application/pdf')[0].document.filename).toBe('document.pdf');
    // Audio takes no caption: the text arrives as a second message in the same webhook.
    const voiceAndText = messagesFor('audio/ogg', 'listen');
    expect(voiceAndText.map((message: { type: string }) => message.type)).toEqual(['audio', 'text']);
    expect(voiceAndText[0].audio.caption).toBeUndefined();
  });

  it('uses user_id for business-scoped user ids', () => {
    const value = JSON.parse(bodyText(simulateInbound(acme, { from: 'US.13491208655302741918', text: 'hi' }).body)).entry[0].changes[0].value;
    expect(value.contacts[0]).toEqual({ profile: { name: 'Sandbox Customer' }, user_id: 'US.13491208655302741918' });
    expect(value.messages[0].from_user_id).toBe('US.13491208655302741918');
    expect(value.messages[0].from).toBeUndefined();
  });

  it('refuses input it cannot turn into a message', () => {
    expect(() => simulateInbound(acme, { from: '1555' })).toThrow(OmniError);
    expect(() => simulateInbound(acme, { from: ' ', text: 'x' })).toThrow(OmniError);
    expect(() => simulateInbound(account('x', { appSecret: '' }), { from: '1', text: 'x' })).toThrow(/settings\.appSecret/);
  });

  it('builds status webhooks in Meta shape', () => {
    const delivered = buildStatusWebhook(acme, { wamid: 'wamid.abc', status: 'delivered', recipientId: '16505551234', timestamp: at });
    expect(signatureMatches(delivered.body, delivered.headers['x-hub-signature-256'], 'secret-acme')).toBe(true);
    const body = JSON.parse(bodyText(delivered.body));
    // Per-message pricing (since July 2025) adds `type` to the fixture's older CBP shape.
    const pricing = body.entry[0].changes[0].value.statuses[0].pricing;
    expect(pricing).toEqual({ billable: false, pricing_model: 'PMP', category: 'service', type: 'free_customer_service' });
    const { type: _type, ...olderPricing } = pricing;
    body.entry[0].changes[0].value.statuses[0].pricing = olderPricing;
    expect(shapeOf(body)).toEqual(shapeOf(fixture('status-delivered.json')));
    expect(body.entry[0].changes[0].value.statuses[0]).toMatchObject({ id: 'wamid.abc', status: 'delivered', timestamp: String(at.getTime() / 1000), recipient_id: '16505551234' });

    const failed = buildStatusWebhook(acme, {
      wamid: 'wamid.abc',
      status: 'failed',
      recipientId: '16505551234',
      timestamp: at,
      error: { code: 131047, title: 'Re-engagement message', details: 'Message failed to send because more than 24 hours have passed since the customer last replied to this number.' },
    });
    const status = JSON.parse(bodyText(failed.body)).entry[0].changes[0].value.statuses[0];
    expect(status.conversation).toBeUndefined();
    expect(status.errors).toEqual([
      {
        code: 131047,
        title: 'Re-engagement message',
        message: 'Re-engagement message',
        error_data: { details: 'Message failed to send because more than 24 hours have passed since the customer last replied to this number.' },
        href: 'https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/',
      },
    ]);
  });
});
