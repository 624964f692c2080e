/**
 * The adapter conformance suite (docs/adapters.md). Every channel calls
 * `runAdapterConformance` from `test/conformance/<channel>.test.ts`; a third-party adapter can
 * call it on itself. It checks what the core relies on without knowing the platform: declared
 * capabilities, webhook authentication, parsing robustness, determinism and secret hygiene.
 */
import { describe, expect, it } from 'vitest';
import type {
  AdapterContext, ChannelAdapter, ChannelDefinition, InboundEvent, OutboundMessage, VerifiedWebhook, WebhookRequest,
} from '../../src/core/adapter.ts';
import { ManualClock } from '../../src/core/clock.ts';
import type { AccountConfig } from '../../src/core/config/types.ts';
import { OmniError, WebhookPayloadError, WebhookVerificationError } from '../../src/core/errors.ts';
import { HttpClientError, type HttpClient } from '../../src/core/http-client.ts';
import type { InboundMediaRef } from '../../src/core/model.ts';
import { capabilityProblems, defaultsProblems, eventProblems, pollutedObjects } from './checks.ts';
import {
  deeplyNestedVariants, garbageBodies, memorySharedState, refusingHttpClient, scriptedHttpClient, silentLogger, typeConfusedVariants,
  withProtoKeys,
} from './fakes.ts';

/** What a channel provides to be checked. */
export interface ConformanceHarness<C = any> {
  definition: ChannelDefinition<C>;
  /** A valid account of the channel with EVERY secret field set (settings as the loader outputs them). */
  account: AccountConfig<C>;
  /** Realistic, correctly authenticated webhook requests: at least one per fixture. */
  validRequests(): WebhookRequest[];
  /** Variants of a valid request that must fail verification (wrong key, changed body, bad header). */
  tamper(request: WebhookRequest): WebhookRequest[];
  /** Authenticates arbitrary plaintext exactly as the platform would (garbage is fed past verify). */
  sign(plaintext: Uint8Array): WebhookRequest;
  /** The GET handshake, required when the adapter has one: a valid request and some that must fail. */
  handshake?: { valid: WebhookRequest; invalid: WebhookRequest[] };
  /** A media reference for the fetchMedia checks when no valid request carries media. */
  mediaRef?: InboundMediaRef;
  /** A plain message the adapter can send (one text part); given = the `send` failure checks run. */
  sendMessage?: OutboundMessage;
}

const SECRET_LOOKING = /secret|token|password|passphrase|credential|key$/i;

/** Registers the conformance tests for one adapter. */
export function runAdapterConformance<C>(harness: ConformanceHarness<C>): void {
  const { definition, account } = harness;
  const create = (http: HttpClient = refusingHttpClient()): ChannelAdapter => {
    const context: AdapterContext<C> = { account, logger: silentLogger(), http, clock: new ManualClock(), shared: memorySharedState() };
    return definition.create(context);
  };
  const secrets = definition.secretFields
    .map((field) => (account.settings as Record<string, unknown>)[field])
    .filter((value): value is string => typeof value === 'string' && value.length >= 4);
  const leaks = (error: unknown) => secrets.filter((secret) => describeError(error).includes(secret));

  /** Verifies then parses, asserting that only the two webhook error types ever escape. */
  const run = async (adapter: ChannelAdapter, request: WebhookRequest) => {
    const verified: VerifiedWebhook = await adapter.verify(request);
    return { verified, events: adapter.parse(verified) };
  };
  const plaintexts = async () => {
    const adapter = create();
    return Promise.all(harness.validRequests().map(async (request) => (await adapter.verify(request)).body));
  };
  /** Feeds a signed body through; returns events, or the error, which must be a payload error. */
  const feed = async (adapter: ChannelAdapter, plaintext: Uint8Array): Promise<InboundEvent[] | WebhookPayloadError> => {
    try {
      return (await run(adapter, harness.sign(plaintext))).events;
    } catch (error) {
      if (error instanceof WebhookPayloadError) return error;
      throw error;
    }
  };

  describe(`adapter conformance: ${definition.id}`, () => {
    describe('definition', () => {
      it('settingsSchema rejects an empty object and accepts the test account', () => {
        expect(definition.settingsSchema.safeParse({}).success).toBe(false);
        expect(definition.settingsSchema.safeParse(account.settings).success).toBe(true);
      });

      it('declares every secret setting, and every declared secret exists', () => {
        const keys = Object.keys(account.settings as object);
        const undeclared = keys.filter((key) => SECRET_LOOKING.test(key) && !definition.secretFields.includes(key));
        expect(undeclared).toEqual([]);
        expect(definition.secretFields.filter((field) => !keys.includes(field))).toEqual([]);
      });

      it('has well-formed defaults', () => {
        expect(defaultsProblems(definition.defaults)).toEqual([]);
      });

      it('creates an adapter for the account without network I/O', () => {
        const http = refusingHttpClient();
        const adapter = create(http);
        expect(adapter.channel).toBe(definition.id);
        expect(adapter.account).toBe(account.id);
        expect(http.requests).toEqual([]);
      });

      it('declares well-formed, consistent capabilities', () => {
        const adapter = create();
        expect(capabilityProblems(adapter.capabilities)).toEqual([]);
        if (adapter.capabilities.inbound.includes('polling')) expect(typeof adapter.fetchUpdates).toBe('function');
      });
    });

    describe('valid webhooks', () => {
      it('verify and parse into well-formed events with unique dedupe keys, without network I/O', async () => {
        const requests = harness.validRequests();
        expect(requests.length).toBeGreaterThan(0);
        const http = refusingHttpClient();
        const adapter = create(http);
        for (const [index, request] of requests.entries()) {
          const { verified, events } = await run(adapter, request);
          expect(verified.body, `request #${index}`).toBeInstanceOf(Uint8Array);
          expect(events.filter((event) => event.kind !== 'ignored').length, `request #${index} yields events`).toBeGreaterThan(0);
          expect(events.flatMap((event) => eventProblems(event, adapter.capabilities)), `request #${index}`).toEqual([]);
          const keys = events.flatMap((event) => (event.kind === 'ignored' ? [] : [event.dedupeKey]));
          expect(new Set(keys).size, `request #${index} dedupe keys are unique`).toBe(keys.length);
        }
        expect(http.requests).toEqual([]);
      });

      it('parse deterministically: the same request twice gives the same events', async () => {
        for (const request of harness.validRequests()) {
          const first = await run(create(), request);
          const second = await run(create(), request);
          expect(second.events).toEqual(first.events);
        }
      });
    });

    describe('authentication', () => {
      it('throws WebhookVerificationError, and nothing else, for every tampered request', async () => {
        const adapter = create();
        for (const [index, request] of harness.validRequests().entries()) {
          const variants = harness.tamper(request);
          expect(variants.length, `tamper variants of request #${index}`).toBeGreaterThan(0);
          for (const [variant, tampered] of variants.entries()) {
            const error = await rejectionOf(() => adapter.verify(tampered));
            expect(error, `request #${index} variant #${variant}`).toBeInstanceOf(WebhookVerificationError);
            expect(leaks(error)).toEqual([]);
          }
        }
      });

      it('throws WebhookVerificationError for a request stripped of its headers and query', async () => {
        const adapter = create();
        for (const request of harness.validRequests()) {
          const url = new URL(request.url);
          url.search = '';
          const error = await rejectionOf(() => adapter.verify({ ...request, url, headers: new Map() }));
          expect(error).toBeInstanceOf(WebhookVerificationError);
        }
      });

      it('answers the handshake, and rejects a wrong one (when the platform has a handshake)', () => {
        const adapter = create();
        if (adapter.handshake === undefined) {
          expect(harness.handshake, 'a harness handshake without adapter.handshake').toBeUndefined();
          return;
        }
        expect(harness.handshake, 'the adapter has a handshake: the harness must provide one').toBeDefined();
        const answer = adapter.handshake(harness.handshake!.valid);
        expect(answer.status).toBeGreaterThanOrEqual(200);
        expect(answer.status).toBeLessThan(300);
        expect(harness.handshake!.invalid.length).toBeGreaterThan(0);
        for (const request of harness.handshake!.invalid) {
          let caught: unknown;
          try {
            adapter.handshake(request);
          } catch (error) {
            caught = error;
          }
          expect(caught).toBeInstanceOf(WebhookVerificationError);
          expect(leaks(caught)).toEqual([]);
        }
      });
    });

    describe('hostile but authentic bodies', () => {
      it('garbage throws only WebhookPayloadError or parses to ignored events', async () => {
        const adapter = create();
        for (const { name, body } of garbageBodies(await plaintexts())) {
          const outcome = await feed(adapter, body);
          if (outcome instanceof WebhookPayloadError) {
            expect(leaks(outcome), name).toEqual([]);
            continue;
          }
          expect(outcome.filter((event) => event.kind !== 'ignored'), name).toEqual([]);
        }
      });

      it('wrong-typed values anywhere never crash the parser and never yield malformed events', async () => {
        const adapter = create();
        for (const plaintext of await plaintexts()) {
          const document = tryJson(plaintext);
          if (document === undefined) continue; // not a JSON channel
          for (const { path, value } of typeConfusedVariants(document)) {
            const outcome = await feed(adapter, new TextEncoder().encode(JSON.stringify(value)));
            if (outcome instanceof WebhookPayloadError) continue;
            expect(outcome.flatMap((event) => eventProblems(event, adapter.capabilities)), path).toEqual([]);
          }
        }
      });

      it('deep nesting inside a webhook is refused or parsed into events that still serialise', async () => {
        const adapter = create();
        for (const plaintext of await plaintexts()) {
          const document = tryJson(plaintext);
          if (document === undefined) continue;
          for (const { path, text } of deeplyNestedVariants(document)) {
            const outcome = await feed(adapter, new TextEncoder().encode(text));
            if (outcome instanceof WebhookPayloadError) continue;
            expect(outcome.flatMap((event) => eventProblems(event, adapter.capabilities)), path).toEqual([]);
          }
        }
      });

      it('__proto__ and constructor keys never pollute prototypes', async () => {
        const adapter = create();
        for (const plaintext of await plaintexts()) {
          const document = tryJson(plaintext);
          if (document === undefined) continue;
          const outcome = await feed(adapter, new TextEncoder().encode(withProtoKeys(document)));
          expect(({} as Record<string, unknown>).polluted).toBeUndefined();
          expect(Object.prototype).not.toHaveProperty('polluted');
          if (!(outcome instanceof WebhookPayloadError)) {
            expect(pollutedObjects(outcome)).toEqual([]);
            expect(outcome.flatMap((event) => eventProblems(event, adapter.capabilities))).toEqual([]);
          }
        }
      });
    });

    describe('platform failures', () => {
      const statusAnswer = (status: number) => scriptedHttpClient(() => new Response('{}', { status, headers: { 'content-type': 'application/json' } }));
      const networkDown = () => scriptedHttpClient(() => new HttpClientError('network', 'connection refused'));
      const mediaRef = async (): Promise<InboundMediaRef> => {
        const adapter = create();
        for (const request of harness.validRequests()) {
          for (const event of (await run(adapter, request)).events) {
            const part = event.kind === 'message' ? event.parts.find((p) => 'media' in p) : undefined;
            if (part !== undefined && 'media' in part) return part.media;
          }
        }
        expect(harness.mediaRef, 'no valid request carries media: the harness must give mediaRef').toBeDefined();
        return harness.mediaRef!;
      };

      it('checkCredentials: an unreachable or failing platform is a retryable OmniError without secrets', async () => {
        for (const http of [networkDown(), statusAnswer(503)]) {
          const error = await rejectionOf(() => create(http).checkCredentials());
          expect(error).toBeInstanceOf(OmniError);
          expect((error as OmniError).retryable).toBe(true);
          expect(leaks(error)).toEqual([]);
        }
      });

      it('checkCredentials: a 401 is a final OmniError naming the config field at fault', async () => {
        const error = await rejectionOf(() => create(statusAnswer(401)).checkCredentials());
        expect(error).toBeInstanceOf(OmniError);
        expect((error as OmniError).retryable).toBe(false);
        expect(Object.keys(account.settings as object)).toContain((error as OmniError).details?.field);
        expect(leaks(error)).toEqual([]);
      });

      it('fetchMedia: failures are OmniErrors (5xx and network retryable) without secrets', async () => {
        const ref = await mediaRef();
        const cases: Array<[HttpClient, boolean | undefined]> = [[networkDown(), true], [statusAnswer(503), true], [statusAnswer(404), undefined]];
        for (const [http, retryable] of cases) {
          const error = await rejectionOf(() => create(http).fetchMedia(ref, new AbortController().signal));
          expect(error).toBeInstanceOf(OmniError);
          if (retryable !== undefined) expect((error as OmniError).retryable).toBe(retryable);
          expect(leaks(error)).toEqual([]);
        }
      });

      if (harness.sendMessage !== undefined) {
        const message = harness.sendMessage;
        const sendWith = (http: HttpClient) => {
          const adapter = create(http);
          expect(typeof adapter.send, 'the harness gives sendMessage: the adapter must have send').toBe('function');
          return rejectionOf(() => adapter.send!(message, new AbortController().signal));
        };

        it('send: an unreachable or failing platform is a retryable OmniError without secrets', async () => {
          for (const http of [networkDown(), statusAnswer(503)]) {
            const error = await sendWith(http);
            expect(error).toBeInstanceOf(OmniError);
            expect((error as OmniError).retryable).toBe(true);
            expect(leaks(error)).toEqual([]);
          }
        });

        it('send: a 401 is a final OmniError naming the config field at fault', async () => {
          const error = await sendWith(statusAnswer(401));
          expect(error).toBeInstanceOf(OmniError);
          expect((error as OmniError).retryable).toBe(false);
          expect(Object.keys(account.settings as object)).toContain((error as OmniError).details?.field);
          expect(leaks(error)).toEqual([]);
        });

        it('send: a 429 with Retry-After is rate_limited with retryAfterSeconds', async () => {
          const http = scriptedHttpClient(() => new Response('{}', { status: 429, headers: { 'content-type': 'application/json', 'retry-after': '7' } }));
          const error = await sendWith(http);
          expect(error).toBeInstanceOf(OmniError);
          expect((error as OmniError).code).toBe('rate_limited');
          expect((error as OmniError).retryAfterSeconds).toBe(7);
        });
      }
    });
  });
}

/** The error a call throws or rejects with; fails the test when it succeeds. */
async function rejectionOf(call: () => unknown): Promise<unknown> {
  try {
    await call();
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to fail, but it succeeded');
}

/** Everything an error would show in a log or an answer: message, reason, details, causes. */
function describeError(error: unknown, depth = 0): string {
  if (!(error instanceof Error) || depth > 5) return String(error);
  const fields = error as Error & { reason?: unknown; details?: unknown };
  const parts = [error.message, String(fields.reason ?? ''), JSON.stringify(fields.details ?? null)];
  if (error.cause !== undefined) parts.push(describeError(error.cause, depth + 1));
  return parts.join(' | ');
}

function tryJson(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return undefined; // XML or binary plaintext: the JSON-specific checks do not apply
  }
}
