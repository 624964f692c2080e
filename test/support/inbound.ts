/**
 * Inbound traffic for tests, built by each channel's own customer simulator
 * (`definition.sandbox.simulateInbound`) instead of envelopes written by hand: the webhook is
 * exactly what the platform sends (signature, ids, timestamps), and the adapter's own
 * verify+parse tells the test the ids it will find in the database. Channel-free; the test
 * daemon's WhatsApp customers are in `inbound-whatsapp.ts`.
 */
import { pino } from 'pino';
import type {
  ChannelAdapter, ChannelDefinition, InboundEvent, InboundMessage, SharedState, SimulateInput, WebhookRequest, WebhookRequestSpec,
} from '../../src/core/adapter.ts';
import { ManualClock } from '../../src/core/clock.ts';
import type { AccountConfig } from '../../src/core/config/types.ts';
import { HttpClientError, type HttpClient } from '../../src/core/http-client.ts';

/** A simulated customer webhook and what the adapter reads from it. */
export interface SimulatedInbound {
  spec: WebhookRequestSpec;
  /** The body as a string (simulators build text bodies). */
  body: string;
  /** The adapter's events for it, as the daemon will record them. */
  events: InboundEvent[];
  /** The platform id of the first message (wamid, MsgId, ...): what `messages.external_id` holds. */
  externalId: string;
}

const noNetwork: HttpClient = { request: async () => Promise.reject(new HttpClientError('network', 'simulated inbound needs no network')) };
const noSharedState: SharedState = { get: async () => null, put: async () => false };

/** A complete account of `definition` for tests: its settings run through the channel's schema (defaults filled in). */
export function testAccountOf<C>(definition: ChannelDefinition<C>, id: string, settings: Record<string, unknown>, apiBase: string | null = null): AccountConfig<C> {
  return Object.freeze({
    id,
    channel: definition.id,
    enabled: true,
    apiBase,
    session: { windowMs: 24 * 3_600_000, window: '24h', expiringNoticeMs: 3_600_000 },
    attachments: { allow: definition.defaults.attachments, maxBytes: null },
    rateLimit: definition.defaults.rateLimit,
    settings: Object.freeze(definition.settingsSchema.parse(settings)),
  });
}

/** The adapter for an account with no network, for reading simulated webhooks. */
export function offlineAdapter<C>(definition: ChannelDefinition<C>, account: AccountConfig<C>, clock = new ManualClock(Date.now())): ChannelAdapter {
  return definition.create({ account, logger: pino({ level: 'silent' }), http: noNetwork, clock, shared: noSharedState });
}

/** A request spec as the adapter receives it: absolute URL, lower-cased header names, bytes. */
export function toWebhookRequest(spec: WebhookRequestSpec, origin = 'https://omnibus.example.com'): WebhookRequest {
  return {
    method: spec.method,
    url: new URL(spec.path, origin),
    headers: new Map(Object.entries(spec.headers).map(([name, value]) => [name.toLowerCase(), value])),
    body: typeof spec.body === 'string' ? new TextEncoder().encode(spec.body) : spec.body,
  };
}

/**
 * Play a customer of `account` through the channel's simulator, and read the webhook with the
 * channel's own adapter. Synchronous, as every platform's signature check is (HMAC, SHA-1).
 */
export function simulateCustomer<C>(definition: ChannelDefinition<C>, account: AccountConfig<C>, input: SimulateInput): SimulatedInbound {
  if (definition.sandbox === undefined) throw new Error(`channel ${definition.id} has no sandbox simulator`);
  const timestamp = input.timestamp ?? new Date();
  const spec = definition.sandbox.simulateInbound(account, { ...input, timestamp });
  const adapter = offlineAdapter(definition, account, new ManualClock(timestamp));
  const verified = adapter.verify(toWebhookRequest(spec));
  if (verified instanceof Promise) throw new Error(`channel ${definition.id} verifies asynchronously; read the spec with its adapter yourself`);
  const events = adapter.parse(verified);
  const message = events.find((event): event is InboundMessage => event.kind === 'message');
  if (message === undefined) throw new Error(`the ${definition.id} simulator built no message the adapter reads`);
  return { spec, body: typeof spec.body === 'string' ? spec.body : new TextDecoder().decode(spec.body), events, externalId: message.externalId };
}

/** POST a simulated webhook to a daemon at `baseUrl` (in this process or a child), exactly as built. */
export function postSimulated(baseUrl: string, spec: WebhookRequestSpec, signal?: AbortSignal): Promise<Response> {
  return fetch(`${baseUrl}${spec.path}`, { method: spec.method, headers: spec.headers, body: spec.body as string, ...(signal ? { signal } : {}) });
}
