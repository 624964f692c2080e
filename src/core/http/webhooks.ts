/**
 * `GET/POST /webhooks/{channel}/{account}`: raw bytes → adapter verifies → adapter parses →
 * one transaction records everything → the platform gets its answer. Nothing slow happens
 * before the answer; media and publishing run afterwards.
 */
import type { Context } from 'hono';
import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import type { ChannelAdapter, WebhookAnswer, WebhookRequest } from '../adapter.ts';
import { OmniError, WebhookPayloadError, WebhookVerificationError } from '../errors.ts';
import type { Ingestor } from '../ingest.ts';
import type { Metrics } from '../metrics.ts';
import { BodyTooLargeError, readRawBody } from './body.ts';

/** Finds the live adapter of an account (hot reload swaps them; requests keep theirs). */
export interface AdapterLookup {
  get(account: string): { adapter: ChannelAdapter; window: string } | undefined;
}

/** What the webhook route needs from the daemon. */
export interface WebhookDeps {
  adapters: AdapterLookup;
  ingestor: Ingestor;
  metrics: Metrics;
  logger: Logger;
  bodyLimitBytes: number;
  /** Called after a commit so the relay and media worker start at once. */
  onRecorded(mediaQueued: number): void;
  /** Identities seen for the first time on this account: the platform may know more about them. */
  onNewIdentities(adapter: ChannelAdapter, externalIds: string[]): void;
}

/** The hono handler for the webhook route. */
export function webhookHandler(deps: WebhookDeps) {
  return async (c: Context) => {
    const channel = c.req.param('channel') ?? '';
    const accountId = c.req.param('account') ?? '';
    const entry = deps.adapters.get(accountId);
    if (!entry || entry.adapter.channel !== channel) {
      deps.metrics.webhooksRejected.inc({ channel: 'unknown', account: 'unknown', reason: 'unknown_account' });
      return c.json({ error: { code: 'not_found', message: 'no such webhook' } }, 404);
    }
    const { adapter } = entry;
    const labels = { channel, account: accountId };
    const log = deps.logger.child(labels);
    const method = c.req.method === 'GET' ? 'GET' : c.req.method === 'POST' ? 'POST' : null;
    if (!method) return c.json({ error: { code: 'invalid_request', message: 'method not allowed' } }, 405);
    deps.metrics.webhooksReceived.inc({ ...labels, method });
    const timer = deps.metrics.webhookDuration.startTimer(labels);
    try {
      const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
      const body = method === 'POST' ? await readRawBody(c.req.raw, incoming, deps.bodyLimitBytes) : new Uint8Array();
      const request: WebhookRequest = { method, url: new URL(c.req.url), headers: headerMap(c.req.raw.headers), body };
      if (method === 'GET') {
        if (!adapter.handshake) return c.json({ error: { code: 'invalid_request', message: 'this channel has no GET handshake' } }, 405);
        return send(adapter.handshake(request));
      }
      const verified = await adapter.verify(request);
      const events = adapter.parse(verified);
      const result = await deps.ingestor.record({ adapter, window: entry.window }, verified, events);
      deps.metrics.eventsRecorded.inc(labels, result.recorded);
      if (result.duplicates) deps.metrics.eventsDeduplicated.inc(labels, result.duplicates);
      for (const [reason, n] of Object.entries(result.ignored)) deps.metrics.eventsIgnored.inc({ ...labels, reason }, n);
      log.debug({ recorded: result.recorded, duplicates: result.duplicates, ignored: result.ignored }, 'webhook recorded');
      deps.onRecorded(result.mediaQueued);
      if (result.newIdentities.length > 0 && adapter.lookupIdentity) deps.onNewIdentities(adapter, result.newIdentities);
      return send(adapter.answer ? adapter.answer(verified, events) : { status: 200, body: '{}', contentType: 'application/json' });
    } catch (error) {
      if (error instanceof WebhookVerificationError) {
        deps.metrics.webhooksRejected.inc({ ...labels, reason: error.reason });
        log.warn({ reason: error.reason, method }, 'webhook verification failed');
        return method === 'GET' ? c.text('forbidden', 403) : c.text('unauthorized', 401);
      }
      if (error instanceof BodyTooLargeError) {
        deps.metrics.webhooksRejected.inc({ ...labels, reason: 'too_large' });
        log.warn({ limit: error.limit }, 'webhook body too large');
        return c.json({ error: { code: 'invalid_request', message: error.message } }, 413);
      }
      if (error instanceof WebhookPayloadError) {
        deps.metrics.webhooksRejected.inc({ ...labels, reason: error.reason });
        log.warn({ reason: error.reason }, 'webhook payload rejected');
        return c.json({ error: { code: 'invalid_request', message: error.message } }, 400);
      }
      if (error instanceof OmniError && error.code !== 'internal') {
        log.warn({ code: error.code }, 'webhook refused');
        return c.json({ error: error.toBody() }, error.httpStatus as 400);
      }
      // Storage failed: the platform must retry, so never 2xx here.
      log.error({ err: error }, 'webhook could not be recorded');
      return c.json({ error: { code: 'channel_unavailable', message: 'temporarily unable to record; retry later' } }, 503);
    } finally {
      timer();
    }
  };
}

function headerMap(headers: Headers): ReadonlyMap<string, string> {
  const map = new Map<string, string>();
  headers.forEach((value, key) => map.set(key.toLowerCase(), value));
  return map;
}

function send(answer: WebhookAnswer): Response {
  const headers: Record<string, string> = {};
  if (answer.contentType) headers['content-type'] = answer.contentType;
  return new Response((answer.body ?? '') as ConstructorParameters<typeof Response>[0], { status: answer.status, headers });
}
