/**
 * The hono application: webhooks, health, metrics, media, the built-in sandbox fakes and the
 * `/v1` API. Every route is a small function; the daemon supplies what they need.
 */
import { Hono } from 'hono';
import { eq } from 'drizzle-orm';
import type { Logger } from 'pino';
import type { SandboxFake } from '../adapter.ts';
import type { ApiToken } from '../config/types.ts';
import type { Db } from '../storage/db.ts';
import { media } from '../storage/schema.ts';
import type { MediaStore } from '../media/store.ts';
import type { Metrics } from '../metrics.ts';
import { bearerAuth } from './auth.ts';
import { webhookHandler, type WebhookDeps } from './webhooks.ts';

/** What the routes need. */
export interface AppDeps extends WebhookDeps {
  db: Db;
  store: MediaStore;
  metrics: Metrics;
  logger: Logger;
  tokens(): ReadonlyArray<ApiToken>;
  /** 'ok' when the database and NATS are usable, otherwise what is not. */
  readiness(): Promise<{ ready: boolean; checks: Record<string, boolean> }>;
  /** Refreshes gauges computed on scrape (outbox lag). */
  beforeScrape(): Promise<void>;
  fakes: ReadonlyMap<string, SandboxFake>;
  /** Extra `/v1` routes (outbound, contacts) mounted by later modules. */
  mountApi?(api: Hono): void;
}

/** Builds the application. */
export function createApp(deps: AppDeps): Hono {
  const app = new Hono();

  app.get('/healthz', (c) => c.json({ ok: true }));
  app.get('/readyz', async (c) => {
    const { ready, checks } = await deps.readiness();
    return c.json({ ready, checks }, ready ? 200 : 503);
  });
  app.get('/metrics', async (c) => {
    await deps.beforeScrape().catch(() => {});
    return c.text(await deps.metrics.registry.metrics(), 200, { 'content-type': deps.metrics.registry.contentType });
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

  const api = new Hono();
  api.use('*', bearerAuth(deps.tokens));
  api.get('/media/:id', async (c) => {
    const [row] = await deps.db.select().from(media).where(eq(media.id, c.req.param('id'))).limit(1);
    // Rejected media stays quarantined: it is never served, whoever asks.
    if (!row || row.status !== 'ready' || !row.storageKey) {
      return c.json({ error: { code: 'not_found', message: 'no such media' } }, 404);
    }
    const stream = await deps.store.open(row.storageKey);
    if (!stream) return c.json({ error: { code: 'not_found', message: 'media bytes are gone' } }, 404);
    const body = ReadableStream.from(stream as AsyncIterable<Uint8Array>);
    return new Response(body as unknown as ConstructorParameters<typeof Response>[0], {
      headers: {
        'content-type': row.mime ?? 'application/octet-stream',
        'content-disposition': `attachment; filename="${row.id}.${row.ext ?? 'bin'}"`,
        'x-content-type-options': 'nosniff',
        ...(row.size !== null ? { 'content-length': String(row.size) } : {}),
        ...(row.sha256 ? { etag: `"${row.sha256}"` } : {}),
      },
    });
  });
  deps.mountApi?.(api);
  app.route('/v1', api);

  app.notFound((c) => c.json({ error: { code: 'not_found', message: 'no such route' } }, 404));
  app.onError((error, c) => {
    deps.logger.error({ err: error, path: c.req.path }, 'unhandled error in route');
    return c.json({ error: { code: 'internal', message: 'internal error' } }, 500);
  });
  return app;
}
