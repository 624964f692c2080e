/**
 * Shared test material for the Telegram adapter: the fixtures (Message-only fixtures wrapped
 * in an Update), a test account, webhook requests with the secret header, and the adapter
 * wired to an HttpClient of the test's choice.
 */
import { readdirSync, readFileSync } from 'node:fs';
import type { ChannelAdapter, InboundEvent, WebhookRequest } from '../../../src/core/adapter.ts';
import { ManualClock } from '../../../src/core/clock.ts';
import type { AccountConfig } from '../../../src/core/config/types.ts';
import type { HttpClient } from '../../../src/core/http-client.ts';
import { telegram, type TelegramSettings } from '../../../src/channels/telegram/index.ts';
import { memorySharedState, refusingHttpClient, silentLogger } from '../../conformance/fakes.ts';
import type { SharedState } from '../../../src/core/adapter.ts';

const FIXTURES = new URL('../../fixtures/telegram/', import.meta.url);

/** Every fixture file. */
export const FIXTURE_NAMES = readdirSync(FIXTURES).filter((name) => name.endsWith('.json')).sort();

/** Fixtures that are a Message object, not an Update (teloxide's message tests). */
export const MESSAGE_FIXTURES = ['photo-message.json', 'sticker-message.json'];

/** A fixture's exact bytes as Telegram would post them (Message fixtures wrapped in an Update). */
export function fixtureBytes(name: string): Uint8Array {
  const bytes = readFileSync(new URL(name, FIXTURES));
  if (!MESSAGE_FIXTURES.includes(name)) return new Uint8Array(bytes);
  return new TextEncoder().encode(`{"update_id":555000111,"message":${bytes.toString('utf8')}}`);
}

/** A fixture parsed. */
export function fixtureJson(name: string): any {
  return JSON.parse(new TextDecoder().decode(fixtureBytes(name)));
}

/** Test secrets: long enough that a leak check finds them anywhere. */
export const BOT_ID = '7000000001';
export const SECRETS = {
  botToken: `${BOT_ID}:AAH-test-bot-token-secret-0123456789abcdef`,
  secretToken: 'test-webhook-secret-token-0123456789',
} as const;

/** A Telegram account as the config loader outputs it. */
export function testAccount(
  overrides: { id?: string; apiBase?: string | null; maxBytes?: number | null; windowMs?: number | null; settings?: Partial<TelegramSettings> } = {},
): AccountConfig<TelegramSettings> {
  return Object.freeze({
    id: overrides.id ?? 'acme-tg',
    channel: 'telegram',
    enabled: true,
    apiBase: overrides.apiBase === undefined ? null : overrides.apiBase,
    session: { windowMs: overrides.windowMs ?? null, window: 'none', expiringNoticeMs: 3600 * 1000 },
    attachments: { allow: ['pdf', 'gif', 'zip', 'mp4', 'mp3', 'm4a', 'jpg', 'jpeg', 'png'], maxBytes: overrides.maxBytes ?? null },
    rateLimit: { perSecond: 30, perRecipientPerSecond: 1 },
    settings: Object.freeze({
      mode: 'webhook' as const,
      registerWebhook: false,
      allowedUpdates: ['message', 'edited_message', 'callback_query', 'my_chat_member'],
      pollTimeoutSeconds: 25,
      ...SECRETS,
      ...overrides.settings,
    }),
  });
}

export const NOW = new Date(Date.UTC(2026, 10, 21, 10, 0, 0));

/** The adapter for `account`, with fakes for everything around it. */
export function createAdapter(
  account = testAccount(),
  http: HttpClient = refusingHttpClient(),
  extras: { shared?: SharedState; publicUrl?: string | null; clock?: ManualClock } = {},
): ChannelAdapter {
  return telegram.create({
    account,
    logger: silentLogger(),
    http,
    clock: extras.clock ?? new ManualClock(NOW),
    shared: extras.shared ?? memorySharedState(),
    publicUrl: extras.publicUrl ?? null,
  });
}

const WEBHOOK_URL = 'https://omnibus.example.com/webhooks/telegram/acme-tg';

/** A POST as Telegram sends it, with the secret header (or the given value, or none). */
export function postRequest(body: Uint8Array | string, secret: string | null = SECRETS.secretToken): WebhookRequest {
  const bytes = typeof body === 'string' ? new TextEncoder().encode(body) : body;
  const headers = new Map<string, string>([['content-type', 'application/json']]);
  if (secret !== null) headers.set('x-telegram-bot-api-secret-token', secret);
  return { method: 'POST', url: new URL(WEBHOOK_URL), headers, body: bytes };
}

/** Verifies and parses one body with a fresh adapter. */
export async function parse(body: Uint8Array | string | object, adapter = createAdapter()): Promise<InboundEvent[]> {
  const bytes = typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body);
  return adapter.parse(await adapter.verify(postRequest(bytes)));
}

/** The one non-ignored event of a body. */
export async function only(body: Uint8Array | string | object): Promise<any> {
  const events = await parse(body);
  if (events.length !== 1) throw new Error(`expected one event, got ${events.length}`);
  return events[0];
}

/** A private user as Telegram sends it. */
export const USER = { id: 7123456789, is_bot: false, first_name: 'Ada', last_name: 'Lovelace', username: 'ada', language_code: 'en' };
export const PRIVATE_CHAT = { id: 7123456789, first_name: 'Ada', last_name: 'Lovelace', username: 'ada', type: 'private' };

/** A Message update from USER in their private chat, with the given content fields. */
export function messageUpdate(content: Record<string, unknown>, overrides: Record<string, unknown> = {}, kind = 'message'): Record<string, unknown> {
  return { update_id: 900000001, [kind]: { message_id: 42, from: USER, chat: PRIVATE_CHAT, date: 1764000000, ...content, ...overrides } };
}
