/**
 * API operations, defined once and served twice: over NATS request/reply (`<p>.v1.api.*`,
 * queue group `omnibus`, so any replica answers) and over HTTP (`/v1/*`). Both validate the
 * same schema and answer the same JSON: `{ ok: true, ... }` or `{ ok: false, error }`.
 */
import type { Context, Hono } from 'hono';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type { ZodType } from 'zod';
import type { Logger } from 'pino';
import { OmniError, toOmniError } from '../errors.ts';
import { API_QUEUE_GROUP, type ApiEndpoint } from '../schemas/subjects.ts';

/** One operation: a request schema and a handler. The handler throws OmniError to fail. */
export interface Operation<Req = any, Res extends Record<string, unknown> = Record<string, unknown>> {
  endpoint: ApiEndpoint;
  schema: ZodType<Req>;
  handle(request: Req): Promise<Res>;
}

/** Runs an operation on an untrusted body; never throws. */
export async function runOperation(operation: Operation, body: unknown, logger: Logger): Promise<{ status: number; answer: Record<string, unknown> }> {
  const parsed = operation.schema.safeParse(body);
  if (!parsed.success) {
    const error = new OmniError('invalid_request', 'the request does not match the schema', {
      details: { issues: parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })) },
    });
    return { status: error.httpStatus, answer: { ok: false, error: error.toBody() } };
  }
  try {
    return { status: 200, answer: { ok: true, ...(await operation.handle(parsed.data)) } };
  } catch (thrown) {
    const error = toOmniError(thrown);
    if (error.code === 'internal') logger.error({ err: thrown, endpoint: operation.endpoint }, 'api operation failed');
    return { status: error.httpStatus, answer: { ok: false, error: error.toBody() } };
  }
}

/** Serves operations on their NATS subjects in the `omnibus` queue group. */
export function serveOverNats(nc: NatsConnection, subjects: Record<ApiEndpoint, string>, operations: ReadonlyArray<Operation>, logger: Logger): { stop(): Promise<void> } {
  const subscriptions: Subscription[] = [];
  for (const operation of operations) {
    const subject = subjects[operation.endpoint];
    const sub = nc.subscribe(subject, { queue: API_QUEUE_GROUP });
    subscriptions.push(sub);
    void (async () => {
      for await (const msg of sub) {
        let body: unknown;
        try {
          body = msg.data.length ? msg.json() : {};
        } catch {
          body = Symbol('unparsable');
        }
        const { answer } =
          typeof body === 'symbol'
            ? { answer: { ok: false, error: new OmniError('invalid_request', 'the request body is not JSON').toBody() } }
            : await runOperation(operation, body, logger);
        if (msg.reply) msg.respond(JSON.stringify(answer));
      }
    })();
  }
  return {
    async stop() {
      for (const sub of subscriptions) await sub.drain().catch(() => {});
    },
  };
}

/** Mounts one operation on an HTTP route; `toRequest` builds the request from path, query and body. */
export function mountHttp(
  api: Hono,
  method: 'get' | 'post' | 'patch',
  path: string,
  operation: Operation,
  logger: Logger,
  toRequest: (c: Context, body: unknown) => unknown = (_c, body) => body,
): void {
  api[method](path, async (c) => {
    let body: unknown = {};
    if (method !== 'get') {
      const text = await c.req.text();
      if (text.length > 0) {
        try {
          body = JSON.parse(text);
        } catch {
          const error = new OmniError('invalid_request', 'the request body is not JSON');
          return c.json({ ok: false, error: error.toBody() }, 400);
        }
      }
    }
    const { status, answer } = await runOperation(operation, toRequest(c, body), logger);
    // The contract's HTTP error shape is `{ error }`; `ok` rides along for NATS parity.
    return c.json(answer, status as 200);
  });
}
