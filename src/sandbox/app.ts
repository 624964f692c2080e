/**
 * The HTTP shell of a fake platform: a Hono app under the fake's base path, an answer for
 * paths it has no route for, and a last-resort answer so a throwing route never takes the
 * daemon's sandbox down. A route deep in a check can `throw new FakeRefusal(response)` and the
 * app answers that response as it is.
 *
 * Mounting: fakes match full request paths, so pass them the request unchanged
 * (`app.all('/sandbox/x/*', (c) => fake.fetch(c.req.raw))`). Hono's `app.mount` strips the
 * prefix, which the fake needs to hand out absolute URLs.
 */
import { Hono } from 'hono';

/** A platform answer thrown from inside a route's checks; the fake app answers it unchanged. */
export class FakeRefusal extends Error {
  /** The platform-shaped answer to send. */
  readonly response: Response;
  constructor(response: Response) {
    super('sandbox fake refusal');
    this.response = response;
  }
}

/** How a fake answers what its routes do not. */
export interface FakeAppOptions {
  /** The prefix of every route (`/sandbox/whatsapp` in the daemon); '' or absent = served at `/`. */
  basePath?: string;
  /** The answer to a path with no route, given the path relative to the base path. */
  notFound(path: string): Response;
  /** The answer when a route throws anything but a `FakeRefusal` (the platform's 5xx shape). */
  onError(): Response;
}

/** A fake's app and the normalised base path it is served under. */
export interface FakeApp {
  /** Register routes relative to the base path. */
  app: Hono;
  /** '' or `/prefix` without a trailing slash. */
  basePath: string;
  /** The fetch handler to hand out as `SandboxFake.fetch`. */
  fetch(request: Request): Response | Promise<Response>;
}

/** Strip a trailing slash and make sure of a leading one, so `''`, `/x` and `/x/` all work. */
export function normaliseBasePath(basePath: string | undefined): string {
  const trimmed = (basePath ?? '').replace(/\/+$/, '');
  return trimmed === '' ? '' : trimmed.startsWith('/') ? trimmed : `/${trimmed}`;
}

/** Build a fake's app; register routes on `app`, then serve `fetch`. */
export function createFakeApp(options: FakeAppOptions): FakeApp {
  const basePath = normaliseBasePath(options.basePath);
  const app = new Hono().basePath(basePath || '/');
  app.notFound((c) => {
    const path = c.req.path;
    return options.notFound(basePath !== '' && path.startsWith(basePath) ? path.slice(basePath.length) || '/' : path);
  });
  app.onError((error) => (error instanceof FakeRefusal ? error.response : options.onError()));
  return { app, basePath, fetch: (request) => app.fetch(request) };
}

/** The absolute URL of a path under the fake, on the origin the request came in on. */
export function fakeUrl(request: Request, basePath: string, path: string): URL {
  return new URL(`${basePath}${path}`, new URL(request.url).origin);
}
