/**
 * The hono application: webhooks, health, metrics, media, the built-in sandbox fakes and the
 * `/v1` API. Every route is a small function; the daemon supplies what they need.
 */
import { Hono, type MiddlewareHandler } from 'hono';
import { eq } from 'drizzle-orm';
import type { Logger } from 'pino';
import type { SandboxFake } from '../adapter.ts';
import type { ApiToken } from '../config/types.ts';
import type { Db } from '../storage/db.ts';
import { media } from '../storage/schema.ts';
import type { MediaStore } from '../media/store.ts';
import type { Metrics } from '../metrics.ts';
import { bearerAuth } from './auth.ts';
import { MAX_LINK_SECONDS, type MediaLinkSigner } from './media-links.ts';
import { webhookHandler, type WebhookDeps } from './webhooks.ts';
import { API_BODY_LIMIT, bodyTooLarge } from '../api/operations.ts';
import { rateLimitedError, type ApiLimiter } from '../api/limiter.ts';

/** What the routes need. */
export interface AppDeps extends WebhookDeps {
  db: Db;
  store: MediaStore;
  metrics: Metrics;
  logger: Logger;
  tokens(): ReadonlyArray<ApiToken>;
  /** Whether the daemon (database and NATS) or only webhook recording (database) is usable, and each check. */
  readiness(scope?: 'daemon' | 'webhooks'): Promise<{ ready: boolean; checks: Record<string, boolean>; details?: object }>;
  /** Refreshes gauges computed on scrape (outbox lag). */
  beforeScrape(): Promise<void>;
  fakes: ReadonlyMap<string, SandboxFake>;
  links: MediaLinkSigner;
  /** `http.publicUrl`, for absolute links. */
  publicUrl(): string | null;
  /** The OpenAPI document served at `/openapi.json` (built once, on first request). */
  openapi(): Record<string, unknown>;
  /** Extra `/v1` routes (outbound, contacts) mounted by later modules. */
  mountApi?(api: Hono): void;
  /** Extra routes outside `/v1` (the console), mounted by later modules. */
  mountApp?(app: Hono): void;
  /** Bounds of `/v1` work: the limiter shared with NATS request/reply, and `api.bodyLimitBytes`. */
  api: { limiter: ApiLimiter; bodyLimitBytes: number };
}

/**
 * Types a browser only ever displays (never runs): others, whatever the bytes said, are served
 * as `application/octet-stream`. `text/html`, `image/svg+xml` and XML can carry scripts.
 */
const DISPLAYABLE_MEDIA = /^(image\/(jpeg|png|gif|webp|avif|bmp)|audio\/[a-z0-9.+-]+|video\/[a-z0-9.+-]+|application\/pdf)$/;

/** The type media is served with: the stored one when a browser cannot execute it. */
export function servedMediaType(mime: string | null): string {
  return mime && DISPLAYABLE_MEDIA.test(mime) && !/xml|html|script/.test(mime) ? mime : 'application/octet-stream';
}

/** Streams stored media; rejected media stays quarantined and is never served, whoever asks. */
async function serveMedia(deps: AppDeps, id: string): Promise<Response> {
  const [row] = await deps.db.select().from(media).where(eq(media.id, id)).limit(1);
  const notFound = (message: string) =>
    new Response(JSON.stringify({ error: { code: 'not_found', message } }), { status: 404, headers: { 'content-type': 'application/json' } });
  if (!row || row.status !== 'ready' || !row.storageKey) return notFound('no such media');
  const stream = await deps.store.open(row.storageKey);
  if (!stream) return notFound('media bytes are gone');
  const body = ReadableStream.from(stream as AsyncIterable<Uint8Array>);
  return new Response(body as unknown as ConstructorParameters<typeof Response>[0], {
    headers: {
      'content-type': servedMediaType(row.mime),
      'content-disposition': `attachment; filename="${row.id}.${row.ext ?? 'bin'}"`,
      'x-content-type-options': 'nosniff',
      // Opened directly, the file runs nothing and embeds nothing.
      'content-security-policy': "default-src 'none'; sandbox",
      ...(row.size !== null ? { 'content-length': String(row.size) } : {}),
      ...(row.sha256 ? { etag: `"${row.sha256}"` } : {}),
    },
  });
}

/**
 * `/v1` under its bounds: a declared body over `api.bodyLimitBytes` is refused before a byte
 * is read (a streamed one is counted by the route), and the route runs under the shared API
 * limiter: over its bound, 429 `rate_limited` at once. Webhooks never wait here.
 */
function apiBounds(bounds: AppDeps['api']): MiddlewareHandler {
  return async (c, next) => {
    const declared = c.req.header('content-length');
    if (declared !== undefined && Number(declared) > bounds.bodyLimitBytes) return bodyTooLarge(c, bounds.bodyLimitBytes);
    c.set(API_BODY_LIMIT as never, bounds.bodyLimitBytes as never);
    const work = bounds.limiter.tryRun('http', () => next());
    if (work === null) return c.json({ ok: false, error: rateLimitedError().toBody() }, 429, { 'retry-after': '1' });
    await work;
  };
}

/** Builds the application. */
export function createApp(deps: AppDeps): Hono {
  const app = new Hono();

  app.get('/healthz', (c) => c.json({ ok: true }));
  app.get('/readyz', async (c) => {
    const { ready, checks, details } = await deps.readiness();
    return c.json({ ready, checks, ...(details ? { details } : {}) }, ready ? 200 : 503);
  });
  // Webhooks need only the database: route platform traffic by this during a NATS outage.
  app.get('/readyz/webhooks', async (c) => {
    const { ready, checks } = await deps.readiness('webhooks');
    return c.json({ ready, checks }, ready ? 200 : 503);
  });
  app.get('/metrics', async (c) => {
    await deps.beforeScrape().catch(() => {});
    return c.text(await deps.metrics.registry.metrics(), 200, { 'content-type': deps.metrics.registry.contentType });
  });

  let openapi: string | null = null;
  app.get('/openapi.json', (c) => {
    openapi ??= JSON.stringify(deps.openapi());
    return c.body(openapi, 200, { 'content-type': 'application/json' });
  });

  app.all('/webhooks/:channel/:account', webhookHandler(deps));

  for (const [channel, fake] of deps.fakes) {
    // Lets `omnibus simulate --file` place media in the fake from another process.
    app.post(`/sandbox/${channel}/_omnibus/media`, async (c) => {
      const bytes = new Uint8Array(await c.req.arrayBuffer());
      if (bytes.byteLength === 0) return c.json({ error: { code: 'invalid_request', message: 'empty file' } }, 400);
      const stored = fake.putMedia(bytes, c.req.header('content-type') ?? 'application/octet-stream', c.req.query('filename'));
      return c.json(stored);
    });
    app.all(`/sandbox/${channel}/*`, (c) => fake.fetch(c.req.raw));
  }

  // Media: an API token, or a signed link that expires (minted with GET /v1/media/{id}/link).
  app.get('/v1/media/:id', async (c, next) => {
    const id = c.req.param('id');
    // No valid signature: fall through to the token-protected route below.
    if (!(await deps.links.verify(id, c.req.query('expires'), c.req.query('signature'), Date.now()))) return next();
    return serveMedia(deps, id);
  });

  const api = new Hono();
  api.use('*', bearerAuth(deps.tokens));
  api.use('*', apiBounds(deps.api));
  api.get('/media/:id', (c) => serveMedia(deps, c.req.param('id')));
  api.get('/media/:id/link', async (c) => {
    const id = c.req.param('id');
    const [row] = await deps.db.select({ status: media.status }).from(media).where(eq(media.id, id)).limit(1);
    if (!row || row.status !== 'ready') return c.json({ error: { code: 'not_found', message: 'no such media' } }, 404);
    const ttl = Math.min(MAX_LINK_SECONDS, Math.max(60, Number(c.req.query('ttl') ?? 3600) || 3600));
    const expires = Math.floor(Date.now() / 1000) + ttl;
    const signature = await deps.links.sign(id, expires);
    const base = deps.publicUrl() ?? new URL(c.req.url).origin;
    return c.json({ ok: true, url: `${base}/v1/media/${id}?expires=${expires}&signature=${signature}`, expiresAt: new Date(expires * 1000).toISOString() });
  });
  deps.mountApi?.(api);
  app.route('/v1', api);
  deps.mountApp?.(app);

  app.notFound((c) => c.json({ error: { code: 'not_found', message: 'no such route' } }, 404));
  app.onError((error, c) => {
    deps.logger.error({ err: error, path: c.req.path }, 'unhandled error in route');
    return c.json({ error: { code: 'internal', message: 'internal error' } }, 500);
  });
  return app;
}
