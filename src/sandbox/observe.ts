/**
 * The routes every fake serves for a simulator in another process (`omnibus simulate`): the
 * real platform knows what a customer did because every webhook starts there; a fake has to be
 * shown. `POST {base}/_omnibus/observe` takes the simulator's whole request as JSON
 * `{ method, path, headers, body }` and hands it to the channel to note.
 */
import type { Hono } from 'hono';
import type { WebhookRequestSpec } from '../core/adapter.ts';
import { isRecord, jsonAnswer } from './answers.ts';

/** The path of the observe route, relative to the fake's base path. */
export const OBSERVE_PATH = '/_omnibus/observe';

/** Parse an observe body into a request spec with a string body; undefined when it is not one. */
export function parseObservedSpec(value: unknown): WebhookRequestSpec | undefined {
  if (!isRecord(value) || typeof value.body !== 'string') return undefined;
  const headers: Record<string, string> = {};
  if (isRecord(value.headers)) for (const [name, header] of Object.entries(value.headers)) if (typeof header === 'string') headers[name.toLowerCase()] = header;
  const method = value.method === 'GET' ? 'GET' : 'POST';
  return { method, path: typeof value.path === 'string' ? value.path : '', headers, body: value.body };
}

/**
 * Register `POST /_omnibus/observe`: `note` reads the request and answers what it learned
 * (`{ status, body }`); a body that is no request spec is answered 400.
 */
export function registerObserveRoute(app: Hono, note: (spec: WebhookRequestSpec) => { status: number; body: unknown }): void {
  app.post(OBSERVE_PATH, async (c) => {
    const spec = parseObservedSpec(await c.req.json().catch(() => undefined));
    if (spec === undefined) {
      return jsonAnswer({ error: { code: 'invalid_request', message: 'give the simulated request as JSON { method, path, headers, body }' } }, { status: 400 });
    }
    const answer = note(spec);
    return jsonAnswer(answer.body, { status: answer.status });
  });
}
