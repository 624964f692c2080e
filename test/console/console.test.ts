/**
 * The agent console in a real Chromium against a running sandbox daemon: log in, search, the
 * merged WhatsApp + WeChat profile and timeline, a live message, a send that turns to read, a
 * refusal in words outside the window, hostile customer content shown as text, a read-only
 * token, and a write without the CSRF token. Screenshots of the main pages go to docs/images/.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Page } from 'playwright-core';
import { simulateInbound } from '../../src/channels/wechat/sandbox.ts';
import { systemClock } from '../../src/core/clock.ts';
import { API_TOKEN, WA, metaSignature, startTestDaemon, whatsappAccountYaml, type TestDaemon } from '../support/daemon.ts';
import { whatsappCustomer, whatsappText } from '../support/inbound-whatsapp.ts';
import type { SimulateInput } from '../../src/core/adapter.ts';
import { createTestDatabase, natsUrl, tempDir, uniquePrefix } from '../support/services.ts';
import { testAccount } from '../channels/wechat/helpers.ts';
import { openBrowser } from './browser.ts';

const READ_ONLY_TOKEN = 'read-only-token-0123456789';
const IMAGES = fileURLToPath(new URL('../../docs/images/', import.meta.url));
const wechat = testAccount({ id: 'acme-wechat', settings: { appId: 'wx0123456789abcdef' } });
const KERRY = { wa: '15551230001', wx: 'oKerryFisher01', name: 'Kerry Fisher' };
const STALE = { wa: '15551230002', name: 'Sam Stale' };
const PNG = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c626001000000ffff03000006000557bfabd40000000049454e44ae426082', 'hex');
const HOSTILE = { wa: '15551230003', name: '<img src=x onerror="window.__pwned=1">Mallory', text: '<script>window.__pwned=2</script><b>bold?</b>' };

describe('the agent console in Chromium', () => {
  let t: TestDaemon;
  let browser: Awaited<ReturnType<typeof openBrowser>>;
  let drop: () => Promise<void>;

  const customerWhatsApp = async (from: string, text: string, name: string, at = new Date(), media?: SimulateInput['media']) => {
    const { body } = media ? whatsappCustomer({ from, text, name, media }) : whatsappText({ from, text, name, at });
    const response = await t.postWhatsApp(body);
    expect(response.status).toBe(200);
    // The fake platform learns that the customer wrote, as Meta would: its window opens too.
    const noted = await fetch(`${t.daemon.url}/sandbox/whatsapp/_omnibus/inbound`, { method: 'POST', headers: { 'x-hub-signature-256': metaSignature(body) }, body });
    expect(noted.status).toBe(200);
  };
  const customerWeChat = async (from: string, text: string) => {
    const spec = simulateInbound(wechat, { from, text, timestamp: new Date() });
    const response = await fetch(`${t.daemon.url}${spec.path}`, { method: spec.method, headers: spec.headers, body: spec.body as string });
    expect(response.status).toBe(200);
  };
  const api = async (route: string) => {
    const response = await fetch(`${t.daemon.url}/v1${route}`, { headers: { authorization: `Bearer ${API_TOKEN}` } });
    return (await response.json()) as any;
  };
  const contactOf = async (query: string) => (await api(`/contacts?${query}`)).contacts[0]?.id as string;
  const login = async (page: Page, token: string) => {
    page.on('pageerror', (error) => process.stderr.write(`page error: ${error.message}\n`));
    await page.goto(`${t.daemon.url}/console/login`);
    await page.fill('#token', token);
    await Promise.all([page.waitForURL(/\/console$/), page.click('button[type=submit]')]);
    await page.waitForSelector('h1');
  };
  // Fails, instead of going on with fewer messages, if they are not all recorded in time.
  const waitForRows = (count: number) =>
    vi.waitFor(async () => expect((await t.sql!`select count(*)::int as n from messages`)[0]!.n).toBeGreaterThanOrEqual(count), { timeout: 20_000, interval: 50 });

  beforeAll(async () => {
    const dir = await tempDir();
    const prefix = uniquePrefix();
    const database = await createTestDatabase();
    drop = database.drop;
    await mkdir(path.join(dir, 'channels'), { recursive: true });
    const { appId, appSecret, token, encodingAesKey, mode } = wechat.settings;
    await writeFile(
      path.join(dir, 'omnibus.yaml'),
      [
        `http: { host: 127.0.0.1, port: 0 }`,
        `nats: { url: "${natsUrl()}", prefix: ${prefix} }`,
        `database: { url: "${database.url}" }`,
        `dataDir: "${path.join(dir, 'data')}"`,
        `api: { tokens: [{ token: ${API_TOKEN}, scopes: [read, write] }, { token: ${READ_ONLY_TOKEN}, scopes: [read] }] }`,
        `log: { level: ${process.env.OMNIBUS_TEST_LOG ?? 'silent'} }`,
        `sandbox: true`,
      ].join('\n') + '\n',
    );
    await writeFile(path.join(dir, 'channels', 'acme-wa.yaml'), whatsappAccountYaml());
    await writeFile(
      path.join(dir, 'channels', 'acme-wechat.yaml'),
      [`id: ${wechat.id}`, 'channel: wechat', `appId: ${appId}`, `appSecret: ${appSecret}`, `token: ${token}`, `encodingAesKey: ${encodingAesKey}`, `mode: ${mode}`].join('\n') + '\n',
    );
    t = await startTestDaemon({ dir, prefix, databaseUrl: database.url, clock: systemClock });
    await customerWhatsApp(KERRY.wa, 'Hi, my parcel is late (WhatsApp)', KERRY.name);
    await customerWeChat(KERRY.wx, 'Hello again from WeChat');
    const stored = t.daemon.fakes.get('whatsapp')!.putMedia(new Uint8Array(PNG), 'image/png');
    await customerWhatsApp(KERRY.wa, 'my receipt <b>here</b>', KERRY.name, new Date(), { id: stored.id, mime: 'image/png', sha256: stored.sha256 });
    await customerWhatsApp(STALE.wa, 'Are you there?', STALE.name, new Date(Date.now() - 30 * 3_600_000));
    await customerWhatsApp(HOSTILE.wa, HOSTILE.text, HOSTILE.name);
    await waitForRows(5);
    browser = await openBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await t?.stop();
    await drop?.();
  });

  it('refuses a wrong token and logs in with a right one; the page carries a strict CSP', async () => {
    const page = await browser.context.newPage();
    const first = await page.goto(`${t.daemon.url}/console`);
    expect(page.url()).toMatch(/\/console\/login$/);
    const csp = first!.headers()['content-security-policy'];
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(first!.headers()['x-content-type-options']).toBe('nosniff');
    await mkdir(IMAGES, { recursive: true });
    await page.screenshot({ path: path.join(IMAGES, 'console-login.png') });
    await page.fill('#token', 'not-a-real-token-at-all');
    await page.click('button[type=submit]');
    await expect.poll(() => page.textContent('#login-error')).toContain('not valid');
    await login(page, API_TOKEN);
    const cookies = await browser.context.cookies(`${t.daemon.url}/console`);
    const session = cookies.find((c) => c.name === 'omnibus_console')!;
    expect(session).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/console' });
    // The token itself is nowhere in the page or its cookies.
    expect(JSON.stringify(cookies)).not.toContain(API_TOKEN);
    expect(await page.content()).not.toContain(API_TOKEN);
    await page.close();
  });

  it('finds a contact, merges the WeChat identity in, and shows both channels with their windows', async () => {
    const page = await browser.context.newPage();
    await login(page, API_TOKEN);
    await page.fill('input[name=q]', 'kerry');
    await page.click('form.search button[type=submit]');
    await page.locator('#contact-list[data-query="kerry"]').waitFor();
    expect(await page.locator('#contact-list').textContent()).not.toContain(STALE.name);
    const link = page.locator('#contact-list a', { hasText: KERRY.name });
    await link.waitFor({ timeout: 10_000 }).catch(async (error) => {
      process.stderr.write(`list: ${await page.textContent('#view')}\n`);
      throw error;
    });
    await page.screenshot({ path: path.join(IMAGES, 'console-contacts.png') });
    // A new customer shows up in the open list without a reload.
    await page.fill('input[name=q]', '');
    await page.click('form.search button[type=submit]');
    await page.locator('#contact-list[data-query=""]').waitFor();
    await customerWhatsApp('15551230009', 'First time here', 'Nora Newcomer');
    await page.locator('#contact-list a', { hasText: 'Nora Newcomer' }).waitFor({ timeout: 15_000 });
    await page.fill('input[name=q]', 'kerry');
    await page.click('form.search button[type=submit]');
    await page.locator('#contact-list[data-query="kerry"]').waitFor();
    await link.click();
    await page.waitForSelector('#identities tbody tr');
    expect(await page.textContent('#contact-name')).toBe(KERRY.name);
    const wechatContact = await contactOf(`channel=wechat&account=${wechat.id}&externalId=${KERRY.wx}`);
    expect(wechatContact).toMatch(/^ct_/);
    await page.fill('#merge-form input[name=otherId]', wechatContact);
    await page.click('#merge-form button[type=submit]');
    // The merged profile: both identities, each with its window right now, both channels in the timeline.
    await expect.poll(() => page.locator('#identities tbody tr').count(), { timeout: 15_000 }).toBe(2);
    // The merge rebuilds the page; its outcome is still said, and the used id is cleared.
    await expect.poll(() => page.textContent('#contact-notice'), { timeout: 15_000 }).toBe('Merged.');
    await expect.poll(() => page.inputValue('#merge-form input[name=otherId]')).toBe('');
    await expect.poll(() => page.locator('#identities [data-window="open"]').count(), { timeout: 15_000 }).toBe(2);
    // A live update may rebuild the rows between two reads: wait for the words, not just the cells.
    const windowWords = async () => (await page.locator('#identities [data-window]').allTextContents()).join(' ');
    await expect.poll(windowWords, { timeout: 15_000 }).toMatch(/open until/);
    await expect.poll(windowWords, { timeout: 15_000 }).toMatch(/5 messages left/);
    await page.locator('#timeline [data-channel="wechat"]').first().waitFor();
    await page.locator('#timeline [data-channel="whatsapp"]').first().waitFor();
    expect(await page.locator('#merges li').first().textContent()).toContain('merge');
    // The customer's image, through a short-lived signed link (never the token), shown inline.
    const image = page.locator('#timeline figure.media-image img');
    await image.waitFor({ timeout: 15_000 });
    expect(await image.getAttribute('src')).toMatch(/^\/v1\/media\/med_[^?]+\?expires=\d+&signature=[0-9a-f]{64}$/);
    await expect.poll(() => image.evaluate((node) => (node as unknown as { naturalWidth: number }).naturalWidth), { timeout: 10_000 }).toBe(1);
    expect(await page.locator('#timeline figure.media-image figcaption').textContent()).toBe('my receipt <b>here</b>');
    await page.close();
  });

  it('shows a new message live, and a send inside the window turns to read', async () => {
    const page = await browser.context.newPage();
    await login(page, API_TOKEN);
    const contactId = await contactOf(`phone=%2B${KERRY.wa}`);
    await page.goto(`${t.daemon.url}/console#/contacts/${contactId}`);
    await expect.poll(() => page.textContent('#live'), { timeout: 15_000 }).toBe('live');
    await customerWhatsApp(KERRY.wa, 'Any news on my parcel?', KERRY.name);
    await page.locator('#timeline .message.in', { hasText: 'Any news on my parcel?' }).waitFor({ timeout: 15_000 });
    const whatsappOption = await page.locator('#reply-target option', { hasText: 'whatsapp' }).getAttribute('value');
    await page.selectOption('#reply-target', whatsappOption!);
    expect(await page.locator('#reply-target option:checked').textContent()).toContain('whatsapp');
    await page.fill('#reply-form textarea', 'It ships today, sorry for the wait.');
    await page.click('#send');
    const sent = page.locator('#timeline .message.out', { hasText: 'It ships today' });
    await sent.waitFor({ timeout: 15_000 });
    await sent.locator('[data-status="read"]').waitFor({ timeout: 20_000 }).catch(async (error) => {
      const id = await sent.getAttribute('data-message-id');
      process.stderr.write(`badge ${await sent.locator('.status').textContent()} api ${JSON.stringify((await api(`/messages/${id}`)).delivery)}\n`);
      process.stderr.write(`events ${JSON.stringify((await t.events(`${t.prefix}.v1.evt.message.status.>`)).map((e) => e.data.status))}\n`);
      throw error;
    });
    await page.screenshot({ path: path.join(IMAGES, 'console-contact.png'), fullPage: true });
    await page.close();
  });

  it('says in words why a send outside the window is refused, and offers a template', async () => {
    const page = await browser.context.newPage();
    await login(page, API_TOKEN);
    const contactId = await contactOf(`phone=%2B${STALE.wa}`);
    await page.goto(`${t.daemon.url}/console#/contacts/${contactId}`);
    await page.locator('#identities [data-window="closed"]').waitFor({ timeout: 15_000 });
    expect(await page.textContent('#identities [data-window]')).toMatch(/closed since/);
    await page.fill('#reply-form textarea', 'Hello?');
    await page.click('#send');
    const outcome = page.locator('#reply-outcome[data-code="session_expired"]');
    await outcome.waitFor({ timeout: 15_000 });
    expect(await outcome.textContent()).toMatch(/^The 24 h window closed at .+; send a template\.$/);
    await page.locator('#templates .template-form').waitFor();
    // A template is what may go out now; the same box sends it.
    await page.fill('#templates input[name=template]', 'order_update');
    await page.fill('#templates input[name=params]', 'Sam | #1234');
    await page.click('#templates button[type=submit]');
    await expect.poll(() => page.textContent('#reply-outcome'), { timeout: 15_000 }).toMatch(/^Template accepted/);
    await page.locator('#timeline .message.out').first().waitFor({ timeout: 15_000 });
    await page.close();
  });

  it('shows hostile names and texts as text and never runs them', async () => {
    const page = await browser.context.newPage();
    const dialogs: string[] = [];
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message());
      void dialog.dismiss();
    });
    await login(page, API_TOKEN);
    const contactId = await contactOf(`phone=%2B${HOSTILE.wa}`);
    await page.goto(`${t.daemon.url}/console#/contacts/${contactId}`);
    await page.locator('#timeline .message.in').first().waitFor({ timeout: 15_000 });
    expect(await page.textContent('#contact-name')).toBe(HOSTILE.name);
    expect(await page.locator('#timeline .message.in .text').first().textContent()).toBe(HOSTILE.text);
    expect(await page.locator('img[src="x"], #timeline script, #timeline b, #contact-name img').count()).toBe(0);
    expect(await page.evaluate(() => (globalThis as { __pwned?: number }).__pwned)).toBeUndefined();
    expect(dialogs).toEqual([]);
    await page.close();
  });

  it('refuses a write without the CSRF token, and any write with a read-only token', async () => {
    const page = await browser.context.newPage();
    await login(page, API_TOKEN);
    const contactId = await contactOf(`phone=%2B${KERRY.wa}`);
    const body = { idempotencyKey: 'csrf-probe', account: WA.account, to: { externalId: KERRY.wa }, parts: [{ type: 'text', text: 'should not go' }] };
    const noCsrf = await page.evaluate(async (payload) => {
      const response = await fetch('/console/api/v1/messages', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(payload) });
      return { status: response.status, body: await response.json() };
    }, body);
    expect(noCsrf).toMatchObject({ status: 403, body: { error: { code: 'csrf_failed' } } });
    const wrongCsrf = await page.evaluate(async (payload) => {
      const response = await fetch('/console/api/v1/messages', { method: 'POST', headers: { 'content-type': 'application/json', 'x-csrf-token': 'guessed' }, body: JSON.stringify(payload) });
      return response.status;
    }, body);
    expect(wrongCsrf).toBe(403);
    expect((await t.sql!`select count(*)::int as n from messages where idempotency_key = 'csrf-probe'`)[0]!.n).toBe(0);

    // A second browser profile logs in with the read-only token.
    const readOnly = await openBrowser();
    try {
      const viewer = await readOnly.context.newPage();
      await login(viewer, READ_ONLY_TOKEN);
      await viewer.goto(`${t.daemon.url}/console#/contacts/${contactId}`);
      await viewer.locator('#timeline .message').first().waitFor({ timeout: 15_000 });
      expect(await viewer.locator('#send').isDisabled()).toBe(true);
      expect(await viewer.locator('#merge-form').count()).toBe(0);
      const attempt = await viewer.evaluate(async (payload) => {
        const session = (await (await fetch('/console/api/session')).json()) as { csrf: string; readOnly: boolean };
        const send = await fetch('/console/api/v1/messages', { method: 'POST', headers: { 'content-type': 'application/json', 'x-csrf-token': session.csrf }, body: JSON.stringify(payload) });
        const merge = await fetch(`/console/api/v1/contacts/${payload.to.externalId}/merge`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-csrf-token': session.csrf }, body: '{}' });
        return { readOnly: session.readOnly, send: send.status, code: ((await send.json()) as { error: { code: string } }).error.code, merge: merge.status };
      }, { ...body, idempotencyKey: 'read-only-probe' });
      expect(attempt).toEqual({ readOnly: true, send: 403, code: 'forbidden', merge: 403 });
    } finally {
      await readOnly.close();
    }
    expect((await t.sql!`select count(*)::int as n from messages where idempotency_key = 'read-only-probe'`)[0]!.n).toBe(0);
    await page.close();
  });
});
