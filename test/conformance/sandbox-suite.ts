/**
 * The sandbox conformance suite: every adapter round-trips through its own fake. Written from
 * `ChannelDefinition` alone, so a channel's test file is a few lines:
 *
 *   runSandboxConformance({ definition: telegram, account: testAccount(), customer: '123456789' });
 *
 * It checks that the simulator builds a webhook the adapter verifies and parses into the
 * customer's message (text and media, whose bytes the adapter fetches back from the fake), that
 * the fake answers the observe convention, that the adapter's credential check and a text send
 * pass against the fake (which records the text in the platform's own format), that status
 * callbacks the fake posts verify and parse into receipts of that send in order, and that a
 * reload that drops the account locks it out.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type {
  ChannelAdapter, ChannelDefinition, InboundMessage, InboundStatus, OutboundMessage, SandboxFake, SimulateInput, WebhookRequestSpec,
} from '../../src/core/adapter.ts';
import { ManualClock } from '../../src/core/clock.ts';
import type { AccountConfig } from '../../src/core/config/types.ts';
import { OmniError } from '../../src/core/errors.ts';
import { HttpClientError, type HttpClient } from '../../src/core/http-client.ts';
import { toWebhookRequest } from '../support/inbound.ts';
import { eventProblems } from './checks.ts';
import { hostAllowed, memorySharedState, silentLogger, toHttpResponse } from './fakes.ts';

/** What a channel provides to be checked against its own fake. */
export interface SandboxHarness<C = any> {
  definition: ChannelDefinition<C>;
  /** A valid account of the channel (its `apiBase` is pointed at the fake by the suite). */
  account: AccountConfig<C>;
  /** A customer id the simulator takes as `from` (phone digits, OpenID, user id). */
  customer: string;
  /** Media the simulator can send, default a tiny PNG; `false` when the simulator takes no media. */
  media?: { bytes: Uint8Array; mime: string } | false;
  /** The texts the fake accepted, read from its records in the platform's format; stronger than the default check. */
  received?(fake: SandboxFake<C>): string[];
  /** Deliver every queued status callback now (required when the channel declares receipts). */
  flushCallbacks?(fake: SandboxFake<C>): Promise<void>;
}

const ORIGIN = 'http://sandbox.test';
const PNG = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, 0x49, 0x48, 0x44, 0x52, 0, 0, 0, 1, 0, 0, 0, 1, 8, 6, 0, 0, 0]);

/** One HTTP request the adapter made to the fake, with the fake's answer status. */
interface FakeCall {
  method: string;
  url: string;
  body: string | undefined;
  status: number;
}

/** An HttpClient that hands every request to the fake in memory, with credentials only for trusted hosts. */
function fakeClient(fake: SandboxFake): HttpClient & { calls: FakeCall[] } {
  const calls: FakeCall[] = [];
  return {
    calls,
    async request(url, options = {}) {
      if (!hostAllowed(new URL(url).hostname, options.trustedHosts)) throw new HttpClientError('untrusted_host', 'host not trusted');
      const headers = { ...options.headers, ...(options.trustedHosts !== undefined ? options.credentialHeaders : {}) };
      const init: RequestInit = { method: options.method ?? 'GET', headers };
      if (options.body !== undefined) init.body = options.body as RequestInit['body'];
      const response = await fake.fetch(new Request(url, init));
      calls.push({ method: init.method!, url, body: typeof options.body === 'string' ? options.body : undefined, status: response.status });
      return toHttpResponse(response, url, options.maxBytes);
    },
  };
}

/** Whether a JSON (or any text) body carries `text` as one whole string value. */
function carriesText(body: string | undefined, text: string): boolean {
  if (body === undefined) return false;
  const visit = (value: unknown): boolean =>
    value === text || (typeof value === 'object' && value !== null && Object.values(value).some(visit));
  try {
    return visit(JSON.parse(body));
  } catch {
    return body.includes(text);
  }
}

/** Registers the sandbox round-trip tests for one channel. */
export function runSandboxConformance<C>(harness: SandboxHarness<C>): void {
  const { definition } = harness;
  const basePath = `/sandbox/${definition.id}`;
  const account: AccountConfig<C> = Object.freeze({ ...harness.account, apiBase: `${ORIGIN}${basePath}` });

  /** A fake, an adapter talking to it, and the callbacks the fake posted. */
  const setup = () => {
    const sandbox = definition.sandbox;
    if (sandbox === undefined) throw new Error(`${definition.id} has no sandbox`);
    const clock = new ManualClock(Date.now());
    const callbacks: WebhookRequestSpec[] = [];
    const fake = sandbox.createFake({ accounts: [account], clock, basePath, deliverWebhook: async (spec) => void callbacks.push(spec) });
    const http = fakeClient(fake);
    const adapter: ChannelAdapter = definition.create({ account, logger: silentLogger(), http, clock, shared: memorySharedState() });
    const simulate = (input: Omit<SimulateInput, 'from'>) => sandbox.simulateInbound(account, { from: harness.customer, timestamp: clock.now(), ...input });
    const read = async (spec: WebhookRequestSpec) => adapter.parse(await adapter.verify(toWebhookRequest(spec)));
    const observe = (spec: WebhookRequestSpec) =>
      fake.fetch(new Request(`${ORIGIN}${basePath}/_omnibus/observe`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(spec) }));
    return { fake, http, clock, adapter, callbacks, simulate, read, observe };
  };
  const messagesOf = (events: Awaited<ReturnType<ReturnType<typeof setup>['read']>>) => events.filter((event): event is InboundMessage => event.kind === 'message');

  describe(`sandbox conformance: ${definition.id}`, () => {
    it('has a sandbox with a fake and a simulator', () => {
      expect(typeof definition.sandbox?.createFake).toBe('function');
      expect(typeof definition.sandbox?.simulateInbound).toBe('function');
    });

    it('simulates a customer text the adapter verifies and parses into that message, with a fresh id each time', async () => {
      const { simulate, read, adapter } = setup();
      const spec = simulate({ text: 'hello from the sandbox 👋' });
      expect(spec.method).toBe('POST');
      expect(new URL(spec.path, ORIGIN).pathname).toBe(`/webhooks/${definition.id}/${encodeURIComponent(account.id)}`);
      const messages = messagesOf(await read(spec));
      expect(messages).toHaveLength(1);
      const [message] = messages;
      expect([message!.sender.externalId, ...(message!.sender.aliases ?? [])]).toContain(harness.customer);
      expect(message!.parts).toContainEqual(expect.objectContaining({ type: 'text', text: 'hello from the sandbox 👋' }));
      expect(eventProblems(message!, adapter.capabilities)).toEqual([]);
      const again = messagesOf(await read(simulate({ text: 'hello from the sandbox 👋' })));
      expect(again[0]!.dedupeKey).not.toBe(message!.dedupeKey);
    });

    if (harness.media !== false) {
      const sample = harness.media ?? { bytes: PNG, mime: 'image/png' };
      it('simulates customer media the adapter fetches back from the fake, byte for byte', async () => {
        const { fake, simulate, read, adapter } = setup();
        const stored = fake.putMedia(sample.bytes, sample.mime, 'sample');
        expect(stored.sha256).toBe(createHash('sha256').update(sample.bytes).digest('hex'));
        const [message] = messagesOf(await read(simulate({ media: { id: stored.id, mime: sample.mime, sha256: stored.sha256 } })));
        const part = message?.parts.find((candidate) => 'media' in candidate);
        expect(part, 'the message carries a media part').toBeDefined();
        const fetched = await adapter.fetchMedia((part as { media: Parameters<ChannelAdapter['fetchMedia']>[0] }).media, new AbortController().signal);
        const chunks: Uint8Array[] = [];
        for await (const chunk of fetched.body) chunks.push(chunk);
        expect(new Uint8Array(Buffer.concat(chunks))).toEqual(sample.bytes);
      });
    }

    it('answers the observe convention with 2xx for a simulated webhook, and 4xx for garbage', async () => {
      const { simulate, observe, fake } = setup();
      expect((await observe(simulate({ text: 'observed' }))).status).toBeLessThan(300);
      const garbage = await fake.fetch(new Request(`${ORIGIN}${basePath}/_omnibus/observe`, { method: 'POST', body: 'not a request' }));
      expect(garbage.status).toBeGreaterThanOrEqual(400);
      expect(garbage.status).toBeLessThan(500);
    });

    it('passes the credential check against the fake', async () => {
      const { adapter, http } = setup();
      await adapter.checkCredentials(new AbortController().signal);
      expect(http.calls.length).toBeGreaterThan(0);
      expect(http.calls.every((call) => call.url.startsWith(`${ORIGIN}${basePath}/`))).toBe(true);
    });

    it('sends a text to the customer who wrote: the fake takes it in its format, and its receipts come back in order', async () => {
      const { fake, http, adapter, callbacks, simulate, read, observe } = setup();
      const inbound = simulate({ text: 'please answer' });
      expect((await observe(inbound)).status).toBeLessThan(300);
      const [message] = messagesOf(await read(inbound));
      const text = `answer ${Date.now()} ✓`;
      const outbound: OutboundMessage = {
        messageId: 'msg_sandbox_conformance',
        idempotencyKey: 'sandbox-conformance-1',
        to: { externalId: message!.sender.externalId, conversationExternalId: message!.conversation.externalId, conversationKind: message!.conversation.kind },
        parts: [{ type: 'text', text }],
      };
      const result = await adapter.send!(outbound, new AbortController().signal);
      expect(result.externalId).toMatch(/\S/);
      const accepted = http.calls.filter((call) => call.method === 'POST' && call.status < 300 && carriesText(call.body, text));
      expect(accepted, 'a 2xx POST to the fake carrying the text').toHaveLength(1);
      if (harness.received !== undefined) expect(harness.received(fake)).toContain(text);

      const receipts = adapter.capabilities.receipts;
      if (receipts.length === 0) return;
      expect(harness.flushCallbacks, 'the channel declares receipts: the harness must give flushCallbacks').toBeDefined();
      await harness.flushCallbacks!(fake);
      const statuses: InboundStatus[] = [];
      for (const spec of callbacks) statuses.push(...(await read(spec)).filter((event): event is InboundStatus => event.kind === 'status'));
      const mine = statuses.filter((status) => status.externalId === result.externalId);
      expect(mine.length, 'status callbacks for the send').toBeGreaterThan(0);
      const order = mine.map((status) => receipts.indexOf(status.status as (typeof receipts)[number]));
      expect(order.every((index) => index >= 0), `statuses ${mine.map((s) => s.status).join(',')} are declared receipts`).toBe(true);
      expect(order).toEqual([...order].sort((a, b) => a - b));
      for (const status of mine) expect(eventProblems(status, adapter.capabilities)).toEqual([]);
    });

    it('locks out an account a reload dropped', async () => {
      const { fake, adapter } = setup();
      fake.setAccounts([]);
      const error = await adapter.checkCredentials(new AbortController().signal).then(() => undefined, (caught: unknown) => caught);
      expect(error).toBeInstanceOf(OmniError);
    });
  });
}
