/**
 * The console's server side without a browser: off outside sandbox unless enabled, sessions
 * kept in PostgreSQL (a second replica accepts the cookie; the token is never stored), the
 * login form's own CSRF check, security headers, and media never served with a type a
 * browser would run.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_TOKEN, startTestDaemon, type TestDaemon } from '../support/daemon.ts';
import { servedMediaType } from '../../src/core/http/app.ts';
import { consoleEnabled } from '../../src/console/extension.ts';

/** The cookies of an answer as `name=value` pairs. */
const cookiesOf = (response: Response) => new Map(response.headers.getSetCookie().map((line) => line.split(';')[0]!.split('=') as [string, string]));

async function login(url: string, token: string): Promise<Response> {
  const form = await fetch(`${url}/console/login`);
  const csrf = /name="csrf" value="([^"]+)"/.exec(await form.text())![1]!;
  const loginCookie = cookiesOf(form).get('omnibus_console_login')!;
  return fetch(`${url}/console/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: `omnibus_console_login=${loginCookie}` },
    body: new URLSearchParams({ csrf, token }).toString(),
  });
}

describe('console server', () => {
  let a: TestDaemon;
  let b: TestDaemon;
  beforeAll(async () => {
    a = await startTestDaemon();
    // A second replica on the same database and NATS prefix.
    b = await startTestDaemon({ databaseUrl: a.databaseUrl!, prefix: a.prefix });
  });
  afterAll(async () => {
    await b?.stop();
    await a?.stop();
  });

  it('is on in sandbox mode, and off outside it unless console.enabled', async () => {
    const sandbox = { daemon: { sandbox: true, console: { enabled: false } } };
    const production = { daemon: { sandbox: false, console: { enabled: false } } };
    const enabled = { daemon: { sandbox: false, console: { enabled: true } } };
    expect([sandbox, production, enabled].map((config) => consoleEnabled({ config } as never))).toEqual([true, false, true]);
    const off = await startTestDaemon({ sandbox: false });
    try {
      expect((await fetch(`${off.daemon.url}/console`)).status).toBe(404);
      expect((await fetch(`${off.daemon.url}/console/login`)).status).toBe(404);
    } finally {
      await off.stop();
    }
  });

  it('serves the login page with strict headers and refuses a login without its CSRF cookie', async () => {
    const page = await fetch(`${a.daemon.url}/console/login`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toMatch(/default-src 'self'.*frame-ancestors 'none'/);
    expect(page.headers.get('content-security-policy')).not.toMatch(/unsafe/);
    expect(page.headers.get('x-frame-options')).toBe('DENY');
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    const html = await page.text();
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)/);
    expect(html).not.toMatch(/style=/);
    const forged = await fetch(`${a.daemon.url}/console/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ csrf: 'anything', token: API_TOKEN }).toString(),
    });
    expect(forged.status).toBe(403);
    const huge = await fetch(`${a.daemon.url}/console/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `token=${'x'.repeat(64 * 1024)}`,
    });
    expect(huge.status).toBe(413);
    expect(cookiesOf(forged).has('omnibus_console')).toBe(false);
    expect((await fetch(`${a.daemon.url}/console/api/session`)).status).toBe(401);
    expect((await fetch(`${a.daemon.url}/console/api/events?contactId=ct_x`)).status).toBe(401);
  });

  it('keeps sessions in PostgreSQL: a second replica accepts the cookie, and the token is not stored', async () => {
    const answer = await login(a.daemon.url, API_TOKEN);
    expect(answer.status).toBe(303);
    const setCookie = answer.headers.getSetCookie().find((line) => line.startsWith('omnibus_console='))!;
    expect(setCookie).toMatch(/HttpOnly/i);
    expect(setCookie).toMatch(/SameSite=Strict/i);
    expect(setCookie).toMatch(/Path=\/console/);
    expect(setCookie).not.toMatch(/Secure/); // plain http here; https (or X-Forwarded-Proto: https) adds it
    const cookie = `omnibus_console=${cookiesOf(answer).get('omnibus_console')}`;
    const onB = await fetch(`${b.daemon.url}/console/api/session`, { headers: { cookie } });
    expect(onB.status).toBe(200);
    const session = (await onB.json()) as { csrf: string };
    expect(session).toMatchObject({ ok: true, readOnly: false, csrf: expect.any(String) });
    const rows = await a.sql!`select key, value from shared_state where key like 'console:session:%'`;
    expect(rows.length).toBeGreaterThan(0);
    expect(JSON.stringify(rows)).not.toContain(API_TOKEN);
    expect(JSON.stringify(rows)).not.toContain(cookiesOf(answer).get('omnibus_console'));

    // Behind an https proxy the cookie is Secure.
    const form = await fetch(`${a.daemon.url}/console/login`, { headers: { 'x-forwarded-proto': 'https' } });
    expect(form.headers.getSetCookie().join('\n')).toMatch(/Secure/);

    // Logging out (with the CSRF token) ends the session on every replica.
    const { csrf } = session;
    expect((await fetch(`${a.daemon.url}/console/logout`, { method: 'POST', headers: { cookie } })).status).toBe(403);
    expect((await fetch(`${a.daemon.url}/console/logout`, { method: 'POST', headers: { cookie, 'x-csrf-token': csrf } })).status).toBe(200);
    expect((await fetch(`${b.daemon.url}/console/api/session`, { headers: { cookie } })).status).toBe(401);
  });

  it('ships a front end that never parses strings as HTML and has nothing inline', () => {
    const dir = new URL('../../src/console/assets/', import.meta.url);
    const files = readdirSync(dir);
    expect(files.filter((name) => name.endsWith('.js')).length).toBeGreaterThan(3);
    for (const name of files) {
      // Comments may name what the code never does.
      const source = readFileSync(new URL(name, dir), 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
      expect(source, name).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function\(|\.setAttribute\(\s*['"]on/);
      if (name.endsWith('.html')) {
        expect(source, name).not.toMatch(/<script(?![^>]*\bsrc=)|\sstyle=|\son[a-z]+=|https?:\/\//);
      }
    }
  });

  it('never serves media with a type a browser runs', () => {
    expect(servedMediaType('image/png')).toBe('image/png');
    expect(servedMediaType('audio/ogg')).toBe('audio/ogg');
    expect(servedMediaType('video/mp4')).toBe('video/mp4');
    for (const risky of ['text/html', 'image/svg+xml', 'application/xhtml+xml', 'text/javascript', 'application/xml', 'text/plain', null]) {
      expect(servedMediaType(risky)).toBe('application/octet-stream');
    }
  });
});
