/**
 * docs/openapi.json: a valid OpenAPI 3.1 document (checked by a real validator; json-schema-files
 * .test.ts keeps it equal to what `npm run schemas` generates), served at /openapi.json, and listing every route
 * the daemon's hono app mounts, so a new route without docs fails here.
 */
import { readFile } from 'node:fs/promises';
import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { channels } from '../../src/channels/index.ts';
import { openApiDocument, openApiPath } from '../../src/core/http/openapi.ts';
import { ROUTES, UNDOCUMENTED_ROUTES } from '../../src/core/http/openapi-routes.ts';
import { API_TOKEN, startTestDaemon, type TestDaemon } from '../support/daemon.ts';

const committedPath = new URL('../../docs/openapi.json', import.meta.url);
type Doc = { paths: Record<string, Record<string, { operationId: string; responses: Record<string, unknown> }>> };

/** Whether a mounted hono path (`/v1/contacts/:id`, `/sandbox/whatsapp/*`) is the template `path`. */
function sameRoute(mounted: string, template: string): boolean {
  const a = openApiPath(mounted).split('/');
  const b = template.split('/');
  return a.length === b.length && a.every((segment, i) => segment === b[i] || (/^\{.+\}$/.test(b[i]!) && !/^\{.+\}$/.test(segment) && segment !== '*'));
}

/** The documented operations of a mounted route; ALL (app.all) is documented by any method. */
function documented(doc: Doc, method: string, path: string): string[] {
  const found: string[] = [];
  for (const [template, item] of Object.entries(doc.paths)) {
    if (!sameRoute(path, template) && openApiPath(path) !== template) continue;
    for (const verb of Object.keys(item)) if (method === 'ALL' || verb === method.toLowerCase()) found.push(`${verb} ${template}`);
  }
  return found;
}

describe('docs/openapi.json', () => {
  it('is a valid OpenAPI 3.1 document', async () => {
    const validator = new Validator();
    const result = await validator.validate(JSON.parse(await readFile(committedPath, 'utf8')));
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
  });

  it('the validator refuses a broken document (so the check above can fail)', async () => {
    const broken = openApiDocument({ channels: channels.values(), version: '0.0.0' }) as Record<string, any>;
    broken.paths['/healthz'].get.responses = { 200: { content: {} } }; // a response without its description
    const result = await new Validator().validate(broken);
    expect(result.valid).toBe(false);
  });

  it('has unique operation ids and one webhook path per channel', () => {
    const doc = openApiDocument({ channels: channels.values(), version: '0.0.0' }) as Doc;
    const ids = Object.values(doc.paths).flatMap((item) => Object.values(item).map((op) => op.operationId));
    expect(new Set(ids).size).toBe(ids.length);
    for (const channel of channels.keys()) expect(Object.keys(doc.paths)).toContain(`/webhooks/${channel}/{account}`);
    expect(doc.paths['/webhooks/whatsapp/{account}']).toHaveProperty('get');
    expect(doc.paths['/webhooks/telegram/{account}']).not.toHaveProperty('get');
    expect(doc.paths['/v1/contacts/{id}']).toHaveProperty('patch');
    expect(Object.keys(doc.paths['/v1/messages/{id}']!.get!.responses)).toEqual(expect.arrayContaining(['200', '401', '404', '429']));
  });

  it('resolves every $ref to a component and keeps answers open (v1 may add fields)', () => {
    const doc = openApiDocument({ channels: channels.values(), version: '0.0.0' }) as Doc & { components: { schemas: Record<string, Record<string, unknown>>; responses: object } };
    const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/(schemas|responses)\/([^"]+)"/g)];
    expect(refs.length).toBeGreaterThan(10);
    for (const [, kind, name] of refs) expect(Object.keys(doc.components[kind as 'schemas'])).toContain(name);
    for (const [name, schema] of Object.entries(doc.components.schemas)) expect(schema.additionalProperties, name).not.toBe(false);
    // Requests stay strict: a misspelt field is refused, and the document says so.
    expect((doc.paths['/v1/messages']!.post as unknown as { requestBody: { content: Record<string, { schema: { additionalProperties: unknown } }> } }).requestBody.content['application/json']!.schema.additionalProperties).toBe(false);
  });
});

describe('the daemon', () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await startTestDaemon({ sandbox: true });
  });
  afterAll(async () => {
    await d?.stop();
  });

  it('serves the committed document at /openapi.json without a token', async () => {
    const response = await fetch(`${d.daemon.url}/openapi.json`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('application/json');
    expect(await response.json()).toEqual(JSON.parse(await readFile(committedPath, 'utf8')));
  });

  it('mounts no route the document leaves out', () => {
    const doc = openApiDocument({ channels: channels.values(), version: '0.0.0' }) as Doc;
    const routes = d.daemon.httpApp!.routes;
    expect(routes.length).toBeGreaterThan(10);
    const missing = routes
      .filter((route) => !UNDOCUMENTED_ROUTES.some((u) => (u.prefix ? route.path === u.path || route.path.startsWith(`${u.path}/`) : u.method === route.method && sameRoute(route.path, openApiPath(u.path)))))
      // A `:channel` route is documented once per registered channel.
      .flatMap((route) => (route.path.includes(':channel') ? [...channels.keys()].map((id) => ({ ...route, path: route.path.replace(':channel', id) })) : [route]))
      .filter((route) => documented(doc, route.method, route.path).length === 0)
      .map((route) => `${route.method} ${route.path}`);
    expect(missing, 'add these routes to src/core/http/openapi-routes.ts (docs/api.md, "Adding an HTTP route")').toEqual([]);
  });

  it('documents no route it does not mount', () => {
    const mounted = d.daemon.httpApp!.routes.map((route) => ({ method: route.method, path: openApiPath(route.path) }));
    const stale = ROUTES.filter(
      (route) => !mounted.some((m) => (m.method === route.method.toUpperCase() || m.method === 'ALL') && sameRoute(m.path, openApiPath(route.path))),
    ).map((route) => `${route.method} ${route.path}`);
    expect(stale).toEqual([]);
  });

  it('answers /readyz and a /v1 error in the documented shapes', async () => {
    const ready = await fetch(`${d.daemon.url}/readyz`);
    expect(await ready.json()).toMatchObject({ ready: expect.any(Boolean), checks: { database: true } });
    const missing = await fetch(`${d.daemon.url}/v1/messages/msg_00000000000000000000000000`, { headers: { authorization: `Bearer ${API_TOKEN}` } });
    expect([400, 404]).toContain(missing.status);
    expect(await missing.json()).toMatchObject({ error: { code: expect.any(String), message: expect.any(String) } });
  });
});
