/**
 * The console's routes under `/console`: the login form (an API token, exchanged once for a
 * session cookie), the page and its static modules, the session facts the page needs (CSRF
 * token, read-only or not), the live event stream, and the `/v1` door (proxy.ts).
 */
import { readdirSync, readFileSync } from 'node:fs';
import type { Context, Hono } from 'hono';
import { getCookie, setCookie } from 'hono/cookie';
import { streamSSE } from 'hono/streaming';
import { bodyLimit } from 'hono/body-limit';
import { escapeHtml, securityHeaders } from './headers.ts';
import { forward, csrfOk, refuse } from './proxy.ts';
import { ConsoleSessions, LOGIN_COOKIE, SESSION_COOKIE, newSecret, sameSecret, type ConsoleSession } from './sessions.ts';
import type { LiveHub, LiveEvent } from './live.ts';

/** What the routes need from the extension. */
export interface ConsoleRouteDeps {
  sessions: ConsoleSessions;
  live: LiveHub;
  now(): Date;
  /** The accounts to offer in filters and the reply box. */
  accounts(): Array<{ id: string; channel: string }>;
  /** `http.publicUrl`: an https one makes cookies Secure even behind a plain-HTTP proxy hop. */
  publicUrl(): string | null;
  /** `api.bodyLimitBytes`: the largest write the console passes on to `/v1`. */
  bodyLimitBytes(): number;
}

/** The login form is a token and a CSRF field: a few hundred bytes. */
const LOGIN_BODY_LIMIT = 8 * 1024;

const ASSETS_DIR = new URL('./assets/', import.meta.url);
const TYPES: Record<string, string> = { js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8', html: 'text/html; charset=utf-8' };
const KEEPALIVE_MS = 20_000;
/** Events held for one slow page before it is told to reload instead. */
const MAX_QUEUED = 1_000;

/** The shipped front end, read once: name → bytes and type. */
function loadAssets(): Map<string, { body: string; type: string }> {
  const assets = new Map<string, { body: string; type: string }>();
  for (const name of readdirSync(ASSETS_DIR)) {
    const ext = /\.([a-z]+)$/.exec(name)?.[1] ?? '';
    if (!TYPES[ext]) continue;
    assets.set(name, { body: readFileSync(new URL(name, ASSETS_DIR), 'utf8'), type: TYPES[ext]! });
  }
  return assets;
}

const isHttps = (c: Context, publicUrl: string | null) =>
  new URL(c.req.url).protocol === 'https:' || c.req.header('x-forwarded-proto')?.split(',')[0]?.trim() === 'https' || (publicUrl?.startsWith('https:') ?? false);

/** Mounts `/console` on the root app. */
export function mountConsole(app: Hono, deps: ConsoleRouteDeps): void {
  const assets = loadAssets();
  const page = (name: string) => assets.get(name)!.body;
  const cookieOptions = (c: Context, maxAge: number) =>
    ({ path: '/console', httpOnly: true, sameSite: 'Strict', secure: isHttps(c, deps.publicUrl()), maxAge }) as const;
  const sessionOf = (c: Context) => deps.sessions.find(getCookie(c, SESSION_COOKIE), deps.now());

  const loginPage = (c: Context, status: 200 | 401 | 403, error = '') => {
    const csrf = newSecret();
    setCookie(c, LOGIN_COOKIE, csrf, cookieOptions(c, 3600));
    const html = page('login.html')
      .replace('{{csrf}}', escapeHtml(csrf))
      .replace('{{error}}', escapeHtml(error))
      .replace('{{errorHidden}}', error ? '' : 'hidden');
    return c.html(html, status);
  };

  app.use('/console', securityHeaders());
  app.use('/console/*', securityHeaders());

  app.get('/console', async (c) => ((await sessionOf(c)) ? c.html(page('index.html')) : c.redirect('/console/login', 303)));
  app.get('/console/', (c) => c.redirect('/console', 301));
  app.get('/console/login', (c) => loginPage(c, 200));
  const tooLarge = (c: Context) => refuse(c, 413, 'invalid_request', 'the request body is too large');
  app.post('/console/login', bodyLimit({ maxSize: LOGIN_BODY_LIMIT, onError: tooLarge }), async (c) => {
    const form = await c.req.parseBody().catch(() => ({}) as Record<string, unknown>);
    const expected = getCookie(c, LOGIN_COOKIE);
    const presentedCsrf = typeof form.csrf === 'string' ? form.csrf : '';
    if (!expected || !presentedCsrf || !sameSecret(expected, presentedCsrf)) return loginPage(c, 403, 'The form expired. Please try again.');
    const token = typeof form.token === 'string' ? form.token.trim() : '';
    const opened = token ? await deps.sessions.open(token, deps.now()) : null;
    if (!opened) return loginPage(c, 401, 'That token is not valid here.');
    setCookie(c, SESSION_COOKIE, opened.id, cookieOptions(c, Math.floor((opened.expiresAt.getTime() - deps.now().getTime()) / 1000)));
    setCookie(c, LOGIN_COOKIE, '', cookieOptions(c, 0));
    return c.redirect('/console', 303);
  });
  app.post('/console/logout', async (c) => {
    const session = await sessionOf(c);
    if (session && !csrfOk(c, session)) return refuse(c, 403, 'csrf_failed', 'the request lacks this page’s CSRF token; reload the page');
    await deps.sessions.close(getCookie(c, SESSION_COOKIE));
    setCookie(c, SESSION_COOKIE, '', cookieOptions(c, 0));
    return c.json({ ok: true });
  });

  app.get('/console/assets/:name', (c) => {
    const asset = assets.get(c.req.param('name'));
    if (!asset || asset.type.startsWith('text/html')) return c.json({ error: { code: 'not_found', message: 'no such asset' } }, 404);
    return c.body(asset.body, 200, { 'content-type': asset.type, 'cache-control': 'no-cache' });
  });

  // Everything below needs a session.
  const withSession = (handler: (c: Context, session: ConsoleSession) => Promise<Response> | Response) => async (c: Context) => {
    const session = await sessionOf(c);
    if (!session) return refuse(c, 401, 'unauthorized', 'not logged in, or the login expired');
    return handler(c, session);
  };

  app.get(
    '/console/api/session',
    withSession((c, session) => c.json({ ok: true, csrf: session.csrf, readOnly: session.readOnly, expiresAt: session.expiresAt.toISOString(), accounts: deps.accounts() })),
  );

  /**
   * A page's event stream. A page too slow to keep up (more than {@link MAX_QUEUED} events
   * behind) is told to reload what it shows (`resync`) instead of holding memory here.
   */
  const liveStream = (c: Context, ids: ReadonlySet<string> | 'all', shown: string | null) =>
    streamSSE(c, async (stream) => {
      let queue: LiveEvent[] = [];
      let behind = false;
      let wake: (() => void) | null = null;
      const stop = deps.live.listen(ids, (event) => {
        if (queue.length >= MAX_QUEUED) {
          queue = [];
          behind = true;
        } else queue.push(event);
        wake?.();
      });
      let closed = false;
      stream.onAbort(() => {
        closed = true;
        stop();
        wake?.();
      });
      await stream.writeSSE({ event: 'ready', data: JSON.stringify({ contactId: shown, live: deps.live.attached }) });
      while (!closed) {
        if (behind) {
          behind = false;
          await stream.writeSSE({ event: 'resync', data: '{}' });
          continue;
        }
        const event = queue.shift();
        if (event) {
          const data = event.kind === 'message' ? { ...(event.data as object), raw: undefined } : event.data;
          await stream.writeSSE({ event: event.kind, data: JSON.stringify(data) });
          continue;
        }
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, KEEPALIVE_MS);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wake = null;
        if (!closed && queue.length === 0 && !behind) await stream.write(': keep-alive\n\n');
      }
      stop();
    });

  app.get(
    '/console/api/events',
    withSession(async (c, session) => {
      const contactId = c.req.query('contactId') ?? '';
      if (contactId === '') return liveStream(c, 'all', null);
      if (!/^ct_[A-Za-z0-9]{1,64}$/.test(contactId)) return refuse(c, 404, 'not_found', 'no such contact');
      // The profile says which ids are this contact now (the survivor and those merged into it).
      const profile = await app.fetch(new Request(`${new URL(c.req.url).origin}/v1/contacts/${contactId}`, { headers: { authorization: `Bearer ${session.token}` } }));
      if (!profile.ok) return refuse(c, 404, 'not_found', 'no such contact');
      const { contact } = (await profile.json()) as { contact: { id: string; mergedFrom: string[] } };
      const ids = new Set([contact.id, contactId, ...contact.mergedFrom]);
      return liveStream(c, ids, contact.id);
    }),
  );

  app.all(
    '/console/api/v1/*',
    (c, next) => (c.req.method === 'GET' ? next() : bodyLimit({ maxSize: deps.bodyLimitBytes(), onError: tooLarge })(c, next)),
    withSession((c, session) => forward(c, app, session)),
  );
  app.all('/console/*', (c) => refuse(c, 404, 'not_found', 'no such console route'));
}
