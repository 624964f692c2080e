/** Test material for Telegram outbound: the adapter wired to the fake Bot API in memory, and outbound messages. */
import { createHash } from 'node:crypto';
import type { OutboundMedia, OutboundMessage, OutboundPart } from '../../../src/core/adapter.ts';
import { ManualClock } from '../../../src/core/clock.ts';
import { createFake, type TelegramFake } from '../../../src/channels/telegram/sandbox.ts';
import { memorySharedState } from '../../conformance/fakes.ts';
import { fakeHttpClient, type InMemoryHttpClient } from '../whatsapp/outbound-helpers.ts';
import { NOW, createAdapter, testAccount } from './helpers.ts';

export const API_BASE = 'https://bot-api.sandbox.test';
export const CHAT = '7123456789';

/** An adapter talking to a fresh fake that knows the customer's private chat. */
export function withFake(options: { settings?: NonNullable<Parameters<typeof testAccount>[0]>['settings']; publicUrl?: string | null } = {}) {
  const account = testAccount({ apiBase: API_BASE, ...(options.settings !== undefined ? { settings: options.settings } : {}) });
  const clock = new ManualClock(NOW);
  const fake: TelegramFake = createFake({ accounts: [account], clock });
  fake.addChat(account.id, CHAT);
  const http: InMemoryHttpClient = fakeHttpClient(fake);
  const shared = memorySharedState();
  const adapter = createAdapter(account, http, { shared, clock, publicUrl: options.publicUrl ?? null });
  return { account, fake, http, shared, adapter };
}

/** An outbound message to the customer's private chat (or another conversation). */
export function outbound(parts: OutboundPart[], overrides: Partial<OutboundMessage> = {}): OutboundMessage {
  return {
    messageId: 'msg_1',
    idempotencyKey: 'key-1',
    to: { externalId: CHAT, conversationExternalId: CHAT, conversationKind: 'direct' },
    parts,
    ...overrides,
  };
}

/** Media bytes as the core hands them over (typed from bytes, hashed). */
export function media(mime: string, ext: string, size?: number, filename?: string): OutboundMedia {
  const bytes = size === undefined ? new TextEncoder().encode(`fake ${ext} bytes`) : new Uint8Array(size);
  const result: OutboundMedia = { id: `med_${ext}`, bytes, mime, ext, size: bytes.byteLength, sha256: createHash('sha256').update(bytes).digest('hex') };
  if (filename !== undefined) result.filename = filename;
  return result;
}

export const signal = () => new AbortController().signal;
