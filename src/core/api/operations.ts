/**
 * API operations, defined once and served twice: over NATS request/reply (`<p>.v1.api.*`,
 * queue group `omnibus`, so any replica answers) and over HTTP (`/v1/*`). Both validate the
 * same schema and answer the same JSON: `{ ok: true, ... }` or `{ ok: false, error }`.
 */
import type { Context, Hono } from 'hono';
import type { IncomingMessage } from 'node:http';
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import type { ZodType } from 'zod';
import type { Logger } from 'pino';
import { OmniError, toOmniError } from '../errors.ts';
import { API_QUEUE_GROUP, type ApiEndpoint } from '../schemas/subjects.ts';
import { BodyTooLargeError, readRawBody } from '../http/body.ts';
import { rateLimitedError, type ApiLimiter } from './limiter.ts';

/** One operation: a request schema and a handler. The handler throws OmniError to fail. */
export interface Operation<Req = any, Res extends Record<string, unknown> = Record<string, unknown>> {
  endpoint: ApiEndpoint;
  schema: ZodType<Req>;
  handle(request: Req): Promise<Res>;
}

/** Runs an operation on an untrusted body; never throws. */
export async function runOperation(operation: Operation, body: unknown, logger: Logger): Promise<{ status: number; answer: Record<string, unknown> }> {
  try {
    const parsed = operation.schema.safeParse(body);
    if (!parsed.success) {
      const error = new OmniError('invalid_request', 'the request does not match the schema', {
        details: { issues: parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })) },
      });
      return { status: error.httpStatus, answer: { ok: false, error: error.toBody() } };
    }
    return { status: 200, answer: { ok: true, ...(await operation.handle(parsed.data)) } };
  } catch (thrown) {
    const error = toOmniError(thrown);
    if (error.code === 'internal') logger.error({ err: thrown, endpoint: operation.endpoint }, 'api operation failed');
    return { status: error.httpStatus, answer: { ok: false, error: error.toBody() } };
  }
}

/** The NATS server's `max_payload` when it said one, else NATS's default of 1 MiB. */
function maxPayloadOf(nc: NatsConnection): number {
  return nc.info?.max_payload ?? 1_048_576;
}

/**
 * The answer to an API request whose answer does not fit in one NATS message. Documented
 * (docs/api.md): `invalid_request` because asking again the same way gets the same answer.
 */
export function answerTooLargeError(bytes: number, maxPayload: number): OmniError {
  return new OmniError(
    'invalid_request',
    `the answer (${bytes} bytes) exceeds the NATS max payload (${maxPayload} bytes); use the HTTP API or ask for less (a smaller limit)`,
    { details: { reason: 'answer_too_large', bytes, maxPayload } },
  );
}

/**
 * Serves operations on their NATS subjects in the `omnibus` queue group. Each request runs
 * on its own under the shared `limiter` (over its bound: `rate_limited` at once); whatever a
 * request does, it is answered or logged, never thrown out of here.
 */
export function serveOverNats(
  nc: NatsConnection,
  subjects: Record<ApiEndpoint, string>,
  operations: ReadonlyArray<Operation>,
  logger: Logger,
  limiter?: ApiLimiter,
): { stop(): Promise<void> } {
  const subscriptions: Subscription[] = [];
  const loops: Promise<void>[] = [];
  const inFlight = new Set<Promise<void>>();
  const answer = async (operation: Operation, msg: Msg): Promise<void> => {
    let body: unknown;
    try {
      body = msg.data.length ? msg.json() : {};
    } catch {
      return reply(nc, msg, operation, { ok: false, error: new OmniError('invalid_request', 'the request body is not JSON').toBody() }, logger);
    }
    const run = () => runOperation(operation, body, logger);
    const work = limiter ? limiter.tryRun('nats', run) : run();
    const result = work === null ? { answer: { ok: false, error: rateLimitedError().toBody() } } : await work;
    reply(nc, msg, operation, result.answer, logger);
  };
  for (const operation of operations) {
    const subject = subjects[operation.endpoint];
    const sub = nc.subscribe(subject, { queue: API_QUEUE_GROUP });
    subscriptions.push(sub);
    const loop = (async () => {
      for await (const msg of sub) {
        // Not awaited: the loop keeps reading, so a flood is refused quickly instead of queueing in the client.
        const task = answer(operation, msg).catch((error: unknown) => logger.error({ err: error, endpoint: operation.endpoint }, 'api request failed'));
        inFlight.add(task);
        void task.finally(() => inFlight.delete(task));
      }
    })().catch((error: unknown) => logger.error({ err: error, endpoint: operation.endpoint }, 'api subscription ended'));
    loops.push(loop);
  }
  return {
    async stop() {
      for (const sub of subscriptions) await sub.drain().catch(() => {});
      await Promise.allSettled(loops);
      await Promise.allSettled([...inFlight]);
    },
  };
}

/** Sends an answer that fits in one NATS message, or the error saying it did not; never throws. */
function reply(nc: NatsConnection, msg: Msg, operation: Operation, answer: Record<string, unknown>, logger: Logger): void {
  if (!msg.reply) return;
  try {
    let bytes = encoder.encode(JSON.stringify(answer));
    const maxPayload = maxPayloadOf(nc);
    if (bytes.byteLength > maxPayload) {
      logger.warn({ endpoint: operation.endpoint, bytes: bytes.byteLength, maxPayload }, 'api answer exceeds the NATS max payload; answered with an error');
      bytes = encoder.encode(JSON.stringify({ ok: false, error: answerTooLargeError(bytes.byteLength, maxPayload).toBody() }));
    }
    msg.respond(bytes);
  } catch (error) {
    // Connection closing or draining: the requester times out, the daemon carries on.
    logger.warn({ err: error, endpoint: operation.endpoint }, 'could not send an api answer');
  }
}

const encoder = new TextEncoder();

/** Body limit of `/v1` requests (`api.bodyLimitBytes`), set on the context by the app. */
export const API_BODY_LIMIT = 'omnibusApiBodyLimit';
const DEFAULT_API_BODY_LIMIT = 1_048_576;

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
      let bytes: Uint8Array;
      try {
        const limit = (c.get(API_BODY_LIMIT as never) as number | undefined) ?? DEFAULT_API_BODY_LIMIT;
        bytes = await readRawBody(c.req.raw, (c.env as { incoming?: IncomingMessage } | undefined)?.incoming, limit);
      } catch (thrown) {
        if (thrown instanceof BodyTooLargeError) return bodyTooLarge(c, thrown.limit);
        throw thrown;
      }
      if (bytes.byteLength > 0) {
        try {
          body = JSON.parse(decoder.decode(bytes));
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

const decoder = new TextDecoder();

/** 413 with the JSON error; the connection is closed after it, so the rest of the body is never read. */
export function bodyTooLarge(c: Context, limit: number): Response {
  const error = new OmniError('invalid_request', `request body exceeds ${limit} bytes`, { details: { reason: 'body_too_large', limit } });
  return c.json({ ok: false, error: error.toBody() }, 413, { connection: 'close' });
}
