/**
 * Shared test material for the WhatsApp adapter: the fixtures, a test account and webhook
 * requests signed exactly as Meta signs them.
 */
import { createHmac } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { ManualClock } from '../../../src/core/clock.ts';
import type { AccountConfig } from '../../../src/core/config/types.ts';
import type { ChannelAdapter, WebhookRequest } from '../../../src/core/adapter.ts';
import type { HttpClient } from '../../../src/core/http-client.ts';
import { whatsapp, type WhatsAppSettings } from '../../../src/channels/whatsapp/index.ts';
import { memorySharedState, refusingHttpClient, silentLogger } from '../../conformance/fakes.ts';

const FIXTURES = new URL('../../fixtures/whatsapp/', import.meta.url);

/** Fixture files that are webhooks (the send response is not). */
export const WEBHOOK_FIXTURES = readdirSync(FIXTURES)
  .filter((name) => name.endsWith('.json') && name !== 'send-message-response.json')
  .sort();

/** A fixture's exact bytes, as Meta would have sent them. */
export function fixtureBytes(name: string): Uint8Array {
  return new Uint8Array(readFileSync(new URL(name, FIXTURES)));
}

/** A fixture parsed, for building variants. */
export function fixtureJson(name: string): any {
  return JSON.parse(readFileSync(new URL(name, FIXTURES), 'utf8'));
}

/** The fixtures' business number id. */
export const PHONE_NUMBER_ID = '106540352242922';

/** Test secrets: long enough that a leak check finds them anywhere. */
export const SECRETS = {
  accessToken: 'test-access-token-EAAG0123456789',
  appSecret: 'test-app-secret-0123456789abcdef',
  verifyToken: 'test-verify-token-meatyhamhock',
} as const;

/** A WhatsApp account as the config loader outputs it. */
export function testAccount(overrides: { apiBase?: string | null; maxBytes?: number | null; settings?: Partial<WhatsAppSettings> } = {}): AccountConfig<WhatsAppSettings> {
  return Object.freeze({
    id: 'acme-wa',
    channel: 'whatsapp',
    enabled: true,
    apiBase: overrides.apiBase ?? null,
    session: { windowMs: 24 * 3600 * 1000, window: '24h', expiringNoticeMs: 3600 * 1000 },
    attachments: { allow: ['pdf', 'mp4', 'mp3', 'ogg', 'amr', 'jpg', 'jpeg', 'png'], maxBytes: overrides.maxBytes ?? null },
    rateLimit: { perSecond: 80, perRecipientPerSecond: null },
    settings: Object.freeze({ phoneNumberId: PHONE_NUMBER_ID, apiVersion: 'v23.0', ...SECRETS, ...overrides.settings }),
  });
}

/** The adapter for `account`, with fakes for everything around it. */
export function createAdapter(account = testAccount(), http: HttpClient = refusingHttpClient()): ChannelAdapter {
  return whatsapp.create({ account, logger: silentLogger(), http, clock: new ManualClock(), shared: memorySharedState() });
}

const WEBHOOK_URL = 'https://omnibus.example.com/webhooks/whatsapp/acme-wa';

/** `sha256=<lowercase hex>` of HMAC-SHA256(secret, bytes). */
export function signature(body: Uint8Array | string, secret: string = SECRETS.appSecret): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** A POST as Meta sends it, signed over `body` (or with the given header value). */
export function postRequest(body: Uint8Array | string, header: string | null = signature(body)): WebhookRequest {
  const bytes = typeof body === 'string' ? new TextEncoder().encode(body) : body;
  const headers = new Map<string, string>([['content-type', 'application/json']]);
  if (header !== null) headers.set('x-hub-signature-256', header);
  return { method: 'POST', url: new URL(WEBHOOK_URL), headers, body: bytes };
}

/** A GET handshake with a raw (already encoded) query string. */
export function handshakeRequest(query: string): WebhookRequest {
  return { method: 'GET', url: new URL(`${WEBHOOK_URL}?${query}`), headers: new Map(), body: new Uint8Array() };
}

/** A one-message webhook in Meta's envelope, for building cases the fixtures lack. */
export function envelope(value: Record<string, unknown>, phoneNumberId = PHONE_NUMBER_ID): Record<string, unknown> {
  return {
    object: 'whatsapp_business_account',
    entry: [
      {
        id: '102290129340398',
        changes: [
          {
            value: { messaging_product: 'whatsapp', metadata: { display_phone_number: '15550783881', phone_number_id: phoneNumberId }, ...value },
            field: 'messages',
          },
        ],
      },
    ],
  };
}
