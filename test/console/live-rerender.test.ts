/**
 * What the agent has typed survives the console's live updates: a window change (SSE
 * `session`) updates the reply box in place, a contact change (SSE `contact`) rebuilds the page
 * with the draft, the caret, the chosen identity, an open template picker and a half-typed
 * merge id as they were, and a retried send keeps its idempotency key across both.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { systemClock } from '../../src/core/clock.ts';
import { API_TOKEN, metaSignature, startTestDaemon, type TestDaemon } from '../support/daemon.ts';
import { whatsappText } from '../support/inbound-whatsapp.ts';
import { openBrowser } from './browser.ts';

/** The little of a text field the test reads (the test code compiles without the DOM types). */
interface Field {
  value: string;
  selectionStart: number | null;
  selectionEnd: number | null;
  ownerDocument: { activeElement: unknown };
  setSelectionRange(start: number, end: number): void;
}

const OPEN = { wa: '15551240001', name: 'Olive Open' };
const CLOSED = { wa: '15551240002', name: 'Carl Closed' };
const CHATTY = { wa: '15551240009', name: 'Chatty Cathy' };

describe('console pages keep what the agent typed across live updates', () => {
  let t: TestDaemon;
  let browser: Awaited<ReturnType<typeof openBrowser>>;

  const customerWrites = async (from: string, name: string, at: Date) => {
    const { body } = whatsappText({ from, text: `hello from ${name}`, name, at });
    expect((await t.postWhatsApp(body)).status).toBe(200);
    const noted = await fetch(`${t.daemon.url}/sandbox/whatsapp/_omnibus/inbound`, { method: 'POST', headers: { 'x-hub-signature-256': metaSignature(body) }, body });
    expect(noted.status).toBe(200);
  };
  const contactOf = async (phone: string) => {
    const find = async () => {
      const response = await fetch(`${t.daemon.url}/v1/contacts?phone=%2B${phone}`, { headers: { authorization: `Bearer ${API_TOKEN}` } });
      return ((await response.json()) as any).contacts?.[0]?.id as string | undefined;
    };
    await expect.poll(find, { timeout: 15_000 }).toMatch(/^ct_/);
    return (await find())!;
  };
  const openContact = async (contactId: string) => {
    const page = await browser.context.newPage();
    page.on('pageerror', (error) => process.stderr.write(`page error: ${error.message}\n`));
    await page.goto(`${t.daemon.url}/console/login`);
    await page.fill('#token', API_TOKEN);
    await Promise.all([page.waitForURL(/\/console$/), page.click('button[type=submit]')]);
    await page.goto(`${t.daemon.url}/console#/contacts/${contactId}`);
    await waitLive(page);
    await page.locator('#reply-form:not([hidden])').waitFor();
    return page;
  };
  const waitLive = (page: Page) => expect.poll(() => page.textContent('#live'), { timeout: 15_000 }).toBe('live');

  /** A window-change event as the session tracker publishes it; returns once the page re-rendered its windows. */
  const windowChanges = async (page: Page, contactId: string) => {
    await page.locator('#identities tbody tr').evaluateAll((rows) => rows.forEach((row) => row.setAttribute('data-probe', 'before')));
    const expiresAt = new Date(Date.now() + 24 * 3_600_000).toISOString();
    t.nc.publish(`${t.prefix}.v1.evt.session.opened.whatsapp.acme-wa`, JSON.stringify({ schema: 'omni.session/v1', contactId, channel: 'whatsapp', account: 'acme-wa', state: 'open', window: '24h', expiresAt }));
    await page.locator('#identities tbody tr:not([data-probe])').first().waitFor({ timeout: 15_000 });
  };
  /** A contact-change event (another agent edited the profile); returns once the page was rebuilt. */
  const contactChanges = async (page: Page, contactId: string) => {
    await page.locator('#contact-name').evaluate((node) => node.setAttribute('data-probe', 'before'));
    t.nc.publish(`${t.prefix}.v1.evt.contact.updated`, JSON.stringify({ schema: 'omni.contact/v1', event: 'updated', contact: { id: contactId } }));
    await page.locator('#contact-name:not([data-probe])').waitFor({ timeout: 15_000 });
    await waitLive(page);
  };
  const caret = (page: Page, selector: string) =>
    page.locator(selector).evaluate((node) => {
      const field = node as unknown as Field;
      return { focused: field.ownerDocument.activeElement === node, start: field.selectionStart, end: field.selectionEnd, value: field.value };
    });
  const selectRange = (page: Page, selector: string, start: number, end: number) =>
    page.locator(selector).evaluate((node, [from, to]) => (node as unknown as Field).setSelectionRange(from!, to!), [start, end]);

  beforeAll(async () => {
    t = await startTestDaemon({ clock: systemClock });
    await customerWrites(OPEN.wa, OPEN.name, new Date());
    await customerWrites(CLOSED.wa, CLOSED.name, new Date(Date.now() - 30 * 3_600_000));
    browser = await openBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await t?.stop();
  });

  it('refreshes the contact list live with the search last submitted, never a half-typed one', async () => {
    const page = await browser.context.newPage();
    await page.goto(`${t.daemon.url}/console/login`);
    await page.fill('#token', API_TOKEN);
    await Promise.all([page.waitForURL(/\/console$/), page.click('button[type=submit]')]);
    await page.locator('#contact-list a', { hasText: OPEN.name }).waitFor({ timeout: 15_000 });
    await page.fill('input[name=q]', 'zzz half typ');
    await customerWrites('15551240003', 'Nina Next', new Date());
    await page.locator('#contact-list a', { hasText: 'Nina Next' }).waitFor({ timeout: 15_000 });
    expect(await page.getAttribute('#contact-list', 'data-query')).toBe('');
    expect(await page.inputValue('input[name=q]')).toBe('zzz half typ');
    await page.close();
  });

  it('keeps the draft, its caret and its idempotency key when a window changes or the page is rebuilt', async () => {
    const contactId = await contactOf(OPEN.wa);
    const page = await openContact(contactId);
    const draft = 'Your parcel left the depot this morn';
    await page.fill('#reply-form textarea', draft);
    await selectRange(page, '#reply-form textarea', 5, 11);

    await windowChanges(page, contactId);
    expect(await caret(page, '#reply-form textarea')).toEqual({ focused: true, start: 5, end: 11, value: draft });
    await contactChanges(page, contactId);
    await expect.poll(() => caret(page, '#reply-form textarea')).toEqual({ focused: true, start: 5, end: 11, value: draft });

    // The first send is lost on the way; its retry after live updates carries the same key.
    const keys: string[] = [];
    let dropNext = true;
    await page.route('**/console/api/v1/messages', async (route) => {
      keys.push((route.request().postDataJSON() as { idempotencyKey: string }).idempotencyKey);
      if (dropNext) {
        dropNext = false;
        await route.abort();
      } else await route.continue();
    });
    await page.click('#send');
    await page.locator('#reply-outcome[data-code]').waitFor();
    await windowChanges(page, contactId);
    await contactChanges(page, contactId);
    expect(await page.inputValue('#reply-form textarea')).toBe(draft);
    await page.click('#send');
    await expect.poll(() => page.textContent('#reply-outcome'), { timeout: 15_000 }).toMatch(/^Message accepted/);
    expect(await page.inputValue('#reply-form textarea')).toBe('');
    // A new text is a new message with a new key.
    await page.fill('#reply-form textarea', 'And a second message.');
    await page.click('#send');
    await expect.poll(() => keys.length, { timeout: 15_000 }).toBe(3);
    expect(keys[1]).toBe(keys[0]);
    expect(keys[2]).not.toBe(keys[0]);
    await page.close();
  });

  it('keeps an open template picker, a refusal and a half-typed merge id when a window changes or the page is rebuilt', async () => {
    const contactId = await contactOf(CLOSED.wa);
    const page = await openContact(contactId);
    await page.locator('#templates .template-form').waitFor({ timeout: 15_000 });
    await page.fill('#reply-form textarea', 'Hello?');
    await page.click('#send');
    await page.locator('#reply-outcome[data-code="session_expired"]').waitFor({ timeout: 15_000 });
    const refusal = await page.textContent('#reply-outcome');
    await page.fill('#templates input[name=template]', 'order_upd');
    await page.fill('#templates input[name=params]', 'Carl | #99');
    await page.fill('#merge-form input[name=otherId]', 'ct_half');
    await selectRange(page, '#merge-form input[name=otherId]', 3, 3);

    await windowChanges(page, contactId);
    expect(await page.inputValue('#templates input[name=template]')).toBe('order_upd');
    expect(await page.inputValue('#templates input[name=params]')).toBe('Carl | #99');
    expect(await caret(page, '#merge-form input[name=otherId]')).toEqual({ focused: true, start: 3, end: 3, value: 'ct_half' });

    await contactChanges(page, contactId);
    // The refusal in words is still said on the rebuilt page.
    expect(await page.textContent('#reply-outcome[data-code="session_expired"]')).toBe(refusal);
    await page.locator('#templates .template-form').waitFor({ timeout: 15_000 });
    expect(await page.inputValue('#templates input[name=template]')).toBe('order_upd');
    expect(await page.inputValue('#templates input[name=params]')).toBe('Carl | #99');
    expect(await caret(page, '#merge-form input[name=otherId]')).toEqual({ focused: true, start: 3, end: 3, value: 'ct_half' });

    // The template sends from the rebuilt page, and the used fields are emptied.
    await page.fill('#templates input[name=template]', 'order_update');
    await page.click('#templates button[type=submit]');
    await expect.poll(() => page.textContent('#reply-outcome'), { timeout: 15_000 }).toMatch(/^Template accepted/);
    expect(await page.inputValue('#templates input[name=template]')).toBe('');
    await page.close();
  });

  it('brings the agent back to where they had scrolled in a long timeline when the page is rebuilt', async () => {
    // Three pages of history: reaching far down loads the older ones as the end scrolls into view.
    const start = Date.now() - 90 * 60_000;
    for (let i = 0; i < 90; i++) {
      const { body } = whatsappText({ from: CHATTY.wa, text: `message number ${i}`, name: CHATTY.name, at: new Date(start + i * 60_000) });
      expect((await t.postWhatsApp(body)).status).toBe(200);
    }
    const contactId = await contactOf(CHATTY.wa);
    const page = await openContact(contactId);
    await page.locator('#timeline li.message').first().waitFor();
    // Scroll down until an older page is on screen.
    await expect
      .poll(async () => {
        await page.evaluate(() => (globalThis as unknown as { scrollBy(x: number, y: number): void }).scrollBy(0, 1_500));
        return page.locator('#timeline li.message').count();
      }, { timeout: 15_000 })
      .toBeGreaterThan(60);
    const target = 2_400;
    await page.evaluate((y) => (globalThis as unknown as { scrollTo(x: number, y: number): void }).scrollTo(0, y), target);
    const scrolled = () => page.evaluate(() => Math.round((globalThis as unknown as { scrollY: number }).scrollY));
    expect(await scrolled()).toBe(target);
    const inView = () => page.evaluate(() => {
      const doc = (globalThis as unknown as { document: { elementFromPoint(x: number, y: number): { closest(s: string): { textContent: string } | null } | null } }).document;
      return doc.elementFromPoint(400, 300)?.closest('li.message')?.textContent ?? null;
    });
    const before = await inView();
    expect(before).toMatch(/message number \d+/);
    const topOf = (text: string) => page.evaluate((wanted) => {
      const doc = (globalThis as unknown as { document: { querySelectorAll(s: string): ArrayLike<{ textContent: string; getBoundingClientRect(): { top: number } }> } }).document;
      return Array.from(doc.querySelectorAll('li.message')).find((node) => node.textContent === wanted)?.getBoundingClientRect().top ?? null;
    }, text);
    const topBefore = (await topOf(before!))!;

    await contactChanges(page, contactId);
    // The same message at the same place on the screen, the older pages loaded again.
    await expect.poll(inView, { timeout: 15_000 }).toBe(before);
    // Where on the screen, too (the profile above may have changed height; the scroll offset with it).
    expect(Math.abs((await topOf(before!))! - topBefore)).toBeLessThan(5);
    await page.close();
  });
});
