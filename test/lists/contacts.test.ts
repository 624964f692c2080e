/**
 * Listing and searching contacts (`GET /v1/contacts`, `api.contact.list`): newest activity
 * first, every search kind (name word prefix, phone in any notation, email, platform id,
 * contact id), filters, cursor paging while messages arrive, merged contacts, and the same
 * pages over NATS.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contactListAnswerSchema } from '../../src/core/schemas/api.ts';
import { WA } from '../support/daemon.ts';
import { ask, call, everyPage, startLists, writes, type ListsTest } from './helpers.ts';

let o: ListsTest;
const people = [
  { from: '16315550101', name: 'Kerry Fisher' },
  { from: '16315550102', name: 'Ana María López' },
  { from: '16315550103', name: 'Kerrigan Smith' },
  { from: '16315550104', name: 'Bob Stone' },
  { from: '16315550105', name: '王小明' },
];
const ids = new Map<string, string>();

beforeAll(async () => {
  o = await startLists();
  for (const person of people) ids.set(person.from, (await writes(o, person.from, `hi from ${person.name}`, person.name)).contactId);
});
afterAll(async () => {
  await o?.stop();
});

const list = async (query: string) => {
  const { status, body } = await call(o, 'GET', `/contacts${query}`);
  expect(status, query).toBe(200);
  expect(() => contactListAnswerSchema.parse(body)).not.toThrow();
  return body as { items: any[]; nextCursor: string | null };
};
const idsOf = (page: { items: any[] }) => page.items.map((item) => item.id);
const idOf = (from: string) => ids.get(from)!;

describe('contact list', () => {
  it('lists every contact newest activity first, with its identities', async () => {
    const page = await list('');
    expect(idsOf(page)).toEqual([...people].reverse().map((p) => idOf(p.from)));
    expect(page.nextCursor).toBeNull();
    const kerry = page.items.find((item) => item.id === idOf('16315550101'));
    expect(kerry).toMatchObject({
      displayName: 'Kerry Fisher',
      phones: ['+16315550101'],
      identities: [{ channel: 'whatsapp', account: WA.account, externalId: '16315550101', displayName: 'Kerry Fisher' }],
    });
    expect(kerry.identities[0].id).toMatch(/^idn_/);
    expect(kerry.lastActivityAt).toBe(kerry.identities[0].lastSeenAt);
  });

  it('finds names by any word prefix, in any case and script', async () => {
    expect(idsOf(await list('?q=kerr'))).toEqual([idOf('16315550103'), idOf('16315550101')]);
    expect(idsOf(await list('?q=FISH'))).toEqual([idOf('16315550101')]);
    expect(idsOf(await list('?q=kerry%20fi'))).toEqual([idOf('16315550101')]);
    expect(idsOf(await list('?q=mar%C3%ADa'))).toEqual([idOf('16315550102')]);
    expect(idsOf(await list(`?q=${encodeURIComponent('王')}`))).toEqual([idOf('16315550105')]);
    expect(idsOf(await list('?q=isher'))).toEqual([]);
    // tsquery syntax in q is only text.
    expect(idsOf(await list(`?q=${encodeURIComponent("kerr & !'|:*")}`))).toEqual([idOf('16315550103'), idOf('16315550101')]);
  });

  it('finds a phone in any notation, a platform id, an email and a contact id', async () => {
    const stone = idOf('16315550104');
    for (const q of ['+16315550104', '+1 631-555-0104', '+1 (631) 555 0104', '16315550104']) {
      expect(idsOf(await list(`?q=${encodeURIComponent(q)}`)), q).toEqual([stone]);
    }
    // An unencoded + arrives as a space and is put back.
    expect(idsOf(await list('?q=+16315550104'))).toEqual([stone]);
    expect((await call(o, 'PATCH', `/contacts/${stone}`, { emails: ['Bob.Stone@Example.com'] })).status).toBe(200);
    expect(idsOf(await list(`?q=${encodeURIComponent('bob.stone@example.COM')}`))).toEqual([stone]);
    expect(idsOf(await list(`?q=${stone}`))).toEqual([stone]);
    expect(idsOf(await list('?q=ct_nobody'))).toEqual([]);
  });

  it('filters by channel, account and activeSince', async () => {
    expect(idsOf(await list(`?account=${WA.account}`))).toHaveLength(people.length);
    expect(idsOf(await list('?channel=whatsapp&q=kerr'))).toHaveLength(2);
    expect(idsOf(await list('?channel=telegram'))).toEqual([]);
    expect(idsOf(await list('?account=other-account'))).toEqual([]);
    const all = await list('');
    const since = all.items[1].lastActivityAt;
    expect(idsOf(await list(`?activeSince=${since}`))).toEqual(idsOf(all).slice(0, 2));
  });

  it('pages by cursor over HTTP and NATS alike; refuses bad limits and foreign cursors', async () => {
    const http = await everyPage(async (cursor) => list(`?limit=2${cursor ? `&cursor=${cursor}` : ''}`), 2);
    expect(http.pages).toBe(3);
    expect(http.items.map((item) => item.id)).toEqual(idsOf(await list('')));
    const natsPages = await everyPage(async (cursor) => {
      const answer = await ask(o, 'contact.list', { limit: 2, ...(cursor ? { cursor } : {}) });
      expect(answer.ok).toBe(true);
      return answer;
    }, 2);
    expect(natsPages.items).toEqual(http.items);
    expect((await ask(o, 'contact.list', { q: 'kerr' })).items.map((item: any) => item.id)).toEqual([idOf('16315550103'), idOf('16315550101')]);
    for (const query of ['?limit=0', '?limit=201', '?limit=abc', '?cursor=bm9wZQ', '?activeSince=yesterday', '?colour=red']) {
      const { status, body } = await call(o, 'GET', `/contacts${query}`);
      expect(status, query).toBe(400);
      expect(body.error.code).toBe('invalid_request');
    }
    expect(await ask(o, 'contact.list', { cursor: 'bm9wZQ' })).toMatchObject({ ok: false, error: { code: 'invalid_request' } });
  });

  it('never lists a contact twice, and misses none that stayed quiet, while messages arrive between pages', async () => {
    const before = idsOf(await list(''));
    const first = await list('?limit=2');
    // One already listed and one not yet listed write again: both move to the top.
    const personOf = (id: string) => people.find((p) => idOf(p.from) === id)!;
    await writes(o, personOf(first.items[0].id).from, 'again', personOf(first.items[0].id).name);
    const movedUp = before[3]!;
    await writes(o, personOf(movedUp).from, 'again', personOf(movedUp).name);
    const seen = [...idsOf(first)];
    let cursor = first.nextCursor;
    while (cursor) {
      const page = await list(`?limit=2&cursor=${cursor}`);
      seen.push(...idsOf(page));
      cursor = page.nextCursor;
    }
    expect(new Set(seen).size).toBe(seen.length);
    const quiet = before.filter((id) => id !== movedUp);
    for (const id of quiet) expect(seen).toContain(id);
    // A fresh first page shows the two that wrote on top.
    expect(idsOf(await list('?limit=2')).sort()).toEqual([first.items[0].id, movedUp].sort());
  });

  it('lists a merged contact once with every identity; its merged-away id finds the survivor', async () => {
    const survivor = idOf('16315550101');
    const other = idOf('16315550102');
    expect((await call(o, 'POST', `/contacts/${survivor}/merge`, { otherId: other })).status).toBe(200);
    const page = await list('');
    expect(idsOf(page)).not.toContain(other);
    const merged = page.items.find((item) => item.id === survivor);
    expect(merged.identities.map((identity: any) => identity.externalId).sort()).toEqual(['16315550101', '16315550102']);
    expect(idsOf(await list(`?q=${other}`))).toEqual([survivor]);
    // Either person's name, phone or number finds the merged contact.
    expect(idsOf(await list('?q=l%C3%B3pez'))).toEqual([survivor]);
    expect(idsOf(await list('?q=16315550102'))).toEqual([survivor]);
    expect(idsOf(await list('?q=%2B16315550102'))).toEqual([survivor]);
  });
});
