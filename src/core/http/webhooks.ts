/**
 * `GET/POST /webhooks/{channel}/{account}`: a door of the inbound pipeline. It hands over the
 * raw bytes and sends back the pipeline's answer; verifying, parsing and recording (before any
 * 2xx) all happen in `src/core/inbound/pipeline.ts`.
 */
import type { Context } from 'hono';
import type { IncomingMessage } from 'node:http';
import type { WebhookAnswer } from '../adapter.ts';
import type { InboundPipeline } from '../inbound/pipeline.ts';
import { readRawBody } from './body.ts';

/** What the webhook route needs from the daemon. */
export interface WebhookDeps {
  inbound: InboundPipeline;
  bodyLimitBytes: number;
}

/** The hono handler for the webhook route. */
export function webhookHandler(deps: WebhookDeps) {
  return async (c: Context) => {
    const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
    const answer = await deps.inbound.webhook({
      channel: c.req.param('channel') ?? '',
      account: c.req.param('account') ?? '',
      method: c.req.method,
      url: new URL(c.req.url),
      headers: headerMap(c.req.raw.headers),
      readBody: () => readRawBody(c.req.raw, incoming, deps.bodyLimitBytes),
    });
    return send(answer);
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
