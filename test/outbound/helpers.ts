/**
 * Helpers for the outbound tests: a real daemon (PostgreSQL, NATS) with the outbound extension
 * and the built-in WhatsApp sandbox fake as the platform, customers played through the fake,
 * and the three ways of sending (HTTP, NATS request/reply, the command stream).
 */
import type { DaemonOptions } from '../../src/core/daemon.ts';
import { jetstream } from '@nats-io/jetstream';
import type { WhatsAppFake } from '../../src/channels/whatsapp/sandbox.ts';
import { ManualClock, type Clock } from '../../src/core/clock.ts';
import { createOutbound, type OutboundExtension, type OutboundSettings } from '../../src/outbound/index.ts';
import type { HttpClient } from '../../src/core/http-client.ts';
import type { TemplateSyncSettings } from '../../src/outbound/template-sync.ts';
import { channels } from '../../src/channels/index.ts';
import { API_TOKEN, WA, startTestDaemon, whatsappAccountYaml, type TestDaemon } from '../support/daemon.ts';
import { waitFor } from '../support/services.ts';
import { deadletterEventSchema, messageEventSchema, sessionEventSchema, statusEventSchema } from '../../src/core/schemas/events.ts';
import { testChannel, testChannelDefinition, testChannelYaml } from './test-channel.ts';

/** Fast retries, so tests that exercise them stay short. */
export const FAST: Partial<OutboundSettings> = {
  backoffBaseMs: 50,
  backoffMaxMs: 400,
  idleMs: 50,
  commandRetryMs: 100,
  commandAckWaitMs: 3_000,
  receiptSweepMs: 200,
  sessionTickMs: 3_600_000,
};

/** A daemon under test with its outbound module and the fake platform. */
export interface OutboundTest {
  t: TestDaemon;
  outbound: OutboundExtension;
  fake: WhatsAppFake;
  clock: Clock;
  stop(): Promise<void>;
}

/** Options of {@link startOutbound}. */
export interface StartOptions {
  settings?: Partial<OutboundSettings>;
  clock?: Clock;
  http?: HttpClient;
  /** Extra fields of the WhatsApp channel file (`rateLimit: "{ perSecond: 20 }"`). */
  account?: Record<string, string>;
  /** Accounts of the test channel (`testchan`): id → extra fields of its file. */
  testAccounts?: Record<string, Record<string, string>>;
  /** The test channel's message quota per window. */
  testQuota?: number | null;
  /** Reuse a database / prefix / config dir (a second replica, a restart). */
  databaseUrl?: string;
  prefix?: string;
  dir?: string;
  /** Where the daemon's log lines go, and from which level (tests that read the logs). */
  logDestination?: DaemonOptions['logDestination'];
  logLevel?: string;
  /** More extensions beside the outbound one (the contacts module). */
  extensions?: DaemonOptions['extensions'];
  /** Template catalog sync tuning (tests shorten the tick). */
  templates?: Partial<TemplateSyncSettings>;
}

/** Starts a daemon with the outbound extension on the WhatsApp sandbox. */
export async function startOutbound(options: StartOptions = {}): Promise<OutboundTest> {
  const outbound = createOutbound({ settings: { ...FAST, ...options.settings }, ...(options.http ? { http: options.http } : {}), ...(options.templates ? { templates: options.templates } : {}) });
  const clock = options.clock ?? new ManualClock(Date.now());
  const t = await startTestDaemon({
    clock,
    accounts: {
      'acme-wa.yaml': whatsappAccountYaml(options.account),
      ...Object.fromEntries(Object.entries(options.testAccounts ?? {}).map(([id, extra]) => [`${id}.yaml`, testChannelYaml(id, extra)])),
    },
    ...(options.databaseUrl ? { databaseUrl: options.databaseUrl } : {}),
    ...(options.prefix ? { prefix: options.prefix } : {}),
    ...(options.dir ? { dir: options.dir } : {}),
    ...(options.logLevel ? { logLevel: options.logLevel } : {}),
    extra: {
      ...(options.logDestination ? { logDestination: options.logDestination } : {}),
      extensions: [outbound, ...(options.extensions ?? [])],
      watch: false,
      channels: new Map([...channels, ['testchan', testChannelDefinition({ quota: options.testQuota ?? null })]]),
    },
  });
  const fake = t.daemon.fakes.get('whatsapp') as WhatsAppFake;
  return { t, outbound, fake, clock, stop: () => t.stop() };
}

/** A customer writes to the business: the fake opens its window and posts the signed webhook. */
export async function customerWrites(o: OutboundTest, from: string, text = 'hello', name = 'Kerry Fisher'): Promise<{ contactId: string; conversationId: string }> {
  await o.fake.simulateCustomer(WA.phoneNumberId, { from, text, name, timestamp: o.clock.now() });
  const rows = await waitFor(async () => {
    const found = await o.t.sql!`
      select i.contact_id, c.id as conversation_id from identities i join conversations c on c.identity_id = i.id
      where i.account = ${WA.account} and i.external_id = ${from}`;
    return found.length > 0 ? found : null;
  }, { description: `customer ${from} recorded` });
  return { contactId: rows[0]!.contact_id, conversationId: rows[0]!.conversation_id };
}

/** A text send command. */
export function textCommand(key: string, to: string, text = 'Hi there', extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { idempotencyKey: key, account: WA.account, to: { externalId: to }, parts: [{ type: 'text', text }], ...extra };
}

/** A customer writes on a test-channel account (unsigned JSON webhook). */
export async function testCustomerWrites(o: OutboundTest, account: string, from: string, text = 'hello'): Promise<{ contactId: string; conversationId: string }> {
  const response = await fetch(`${o.t.daemon.url}/webhooks/testchan/${account}`, { method: 'POST', body: testChannel.inbound(from, text) });
  if (response.status !== 200) throw new Error(`test webhook answered ${response.status}`);
  const [row] = await o.t.sql!`
    select i.contact_id, c.id as conversation_id from identities i join conversations c on c.identity_id = i.id
    where i.account = ${account} and i.external_id = ${from}`;
  return { contactId: row!.contact_id, conversationId: row!.conversation_id };
}

/** `POST /v1/messages`. */
export async function httpSend(o: OutboundTest, body: unknown): Promise<{ status: number; json: any }> {
  const response = await fetch(`${o.t.daemon.url}/v1/messages`, {
    method: 'POST',
    headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, json: await response.json() };
}

/** `GET /v1/messages/{id}`. */
export async function httpGet(o: OutboundTest, id: string): Promise<{ status: number; json: any }> {
  const response = await fetch(`${o.t.daemon.url}/v1/messages/${id}`, { headers: { authorization: `Bearer ${API_TOKEN}` } });
  return { status: response.status, json: await response.json() };
}

/** A request/reply call on `<prefix>.v1.api.<endpoint>`. */
export async function natsRequest(o: OutboundTest, endpoint: string, body: unknown): Promise<any> {
  const reply = await o.t.nc.request(`${o.t.prefix}.v1.api.${endpoint}`, JSON.stringify(body), { timeout: 15_000 });
  return reply.json();
}

/** Publishes a command on `<prefix>.v1.cmd.send`. */
export async function publishCommand(o: OutboundTest, body: unknown): Promise<void> {
  await jetstream(o.t.nc).publish(`${o.t.prefix}.v1.cmd.send`, typeof body === 'string' ? body : JSON.stringify(body));
}

/** Waits until a message reaches a status in the database. */
export async function waitForStatus(o: OutboundTest, messageId: string, status: string, timeoutMs = 10_000): Promise<void> {
  await waitFor(async () => {
    const [row] = await o.t.sql!`select status from messages where id = ${messageId}`;
    return row?.status === status;
  }, { timeoutMs, description: `message ${messageId} ${status}` });
}

/** A fresh customer number (unique per test). */
let customerSeq = 0;
export function newCustomer(): string {
  customerSeq++;
  return `4915${String(Date.now() % 1_000_000).padStart(6, '0')}${String(customerSeq).padStart(3, '0')}`;
}

/** Checks every event on the daemon's stream against its published schema; returns how many were checked. */
export async function checkEventSchemas(o: OutboundTest): Promise<number> {
  await o.t.daemon.relay.drainOnce();
  const events = await o.t.events(`${o.t.prefix}.v1.evt.>`);
  const schemaFor = (subject: string) => {
    const kind = subject.slice(`${o.t.prefix}.v1.evt.`.length);
    if (kind.startsWith('message.status.')) return statusEventSchema;
    if (kind.startsWith('message.deadletter.')) return deadletterEventSchema;
    if (kind.startsWith('message.')) return messageEventSchema;
    if (kind.startsWith('session.')) return sessionEventSchema;
    return null;
  };
  let checked = 0;
  for (const event of events) {
    const schema = schemaFor(event.subject);
    if (!schema) continue;
    const parsed = schema.safeParse(event.data);
    if (!parsed.success) throw new Error(`${event.subject} does not match its schema: ${JSON.stringify(parsed.error.issues)}`);
    checked++;
  }
  return checked;
}
