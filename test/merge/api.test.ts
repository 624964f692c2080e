/**
 * The contact API over HTTP and NATS against a real daemon: profile, lookups, PATCH, manual
 * merge (survivor rules, attribute conflicts, aliases everywhere, transitive merges), the
 * merge log, and the events — each exactly once per change.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_TOKEN, WA } from '../support/daemon.ts';
import { contactAnswerSchema, contactFindAnswerSchema, contactMergesAnswerSchema } from '../../src/core/schemas/api.ts';
import { WA2, api, contactEvents, contactOf, graphViolations, nats, postWa, startContactsDaemon, waText, type ContactsDaemon } from './helpers.ts';

let t: ContactsDaemon;
let seq = 300;

/** A new person writing once on an account; returns their contact id and number. */
async function person(options: { name?: string; account?: 'acme-wa' | 'acme-wa2' } = {}): Promise<{ id: string; digits: string }> {
  const digits = `1631555${String(seq++).padStart(4, '0')}`;
  t.manualClock.advance(1_000);
  expect(await postWa(t, waText({ from: digits, name: options.name ?? `Person ${seq}`, ...(options.account ? { account: options.account } : {}) }).body, options.account ?? WA.account)).toBe(200);
  return { id: await contactOf(t.sql, options.account ?? WA.account, digits), digits };
}

/** Contact events of one kind mentioning a contact (as the contact, survivor or detached). */
async function eventsAbout(kind: 'created' | 'updated' | 'merged' | 'unmerged', id: string) {
  const all = await contactEvents(t, kind);
  return all.filter((e) => e.data.contact.id === id || e.data.survivorId === id || e.data.detached?.id === id || e.data.mergedIds?.includes(id));
}

beforeAll(async () => {
  t = await startContactsDaemon();
});
afterAll(async () => {
  await t?.stop();
  await t?.dropDatabase();
});

describe('reading contacts', () => {
  it('answers the 360° profile the same over HTTP and NATS', async () => {
    const { id, digits } = await person({ name: 'Kerry Fisher' });
    const http = await api(t, 'GET', `/contacts/${id}`);
    expect(http.status).toBe(200);
    expect(http.body.contact).toMatchObject({
      id,
      displayName: 'Kerry Fisher',
      phones: [`+${digits}`],
      emails: [],
      attributes: {},
      mergedFrom: [],
      identities: [{ channel: 'whatsapp', account: WA.account, externalId: digits, displayName: 'Kerry Fisher', phone: `+${digits}`, sessionOpen: true }],
    });
    expect(await nats(t, 'contact.get', { id })).toEqual(http.body);
    expect(() => contactAnswerSchema.parse(http.body)).not.toThrow();
  });

  it('says unknown_contact for an unknown id, invalid_request for a malformed one, 401 without a token', async () => {
    expect(await api(t, 'GET', '/contacts/ct_nope')).toMatchObject({ status: 404, body: { error: { code: 'unknown_contact' } } });
    expect(await nats(t, 'contact.get', { id: 'ct_nope' })).toMatchObject({ ok: false, error: { code: 'unknown_contact' } });
    expect(await api(t, 'GET', '/contacts/msg_1')).toMatchObject({ status: 400, body: { error: { code: 'invalid_request' } } });
    const anonymous = await fetch(`${t.daemon.url}/v1/contacts/ct_nope`);
    expect(anonymous.status).toBe(401);
    expect(API_TOKEN).toBeTruthy();
  });

  it('finds a contact by channel identity, by phone (with or without an encoded +) and by email', async () => {
    const { id, digits } = await person();
    await api(t, 'PATCH', `/contacts/${id}`, { emails: ['Find.Me@example.com'] });
    const byIdentity = await api(t, 'GET', `/contacts?channel=whatsapp&account=${WA.account}&externalId=${digits}`);
    expect(byIdentity.body.contacts.map((c: any) => c.id)).toEqual([id]);
    expect(() => contactFindAnswerSchema.parse(byIdentity.body)).not.toThrow();
    expect((await api(t, 'GET', `/contacts?phone=+${digits}`)).body.contacts.map((c: any) => c.id)).toEqual([id]);
    expect((await api(t, 'GET', `/contacts?phone=%2B${digits}`)).body.contacts.map((c: any) => c.id)).toEqual([id]);
    expect((await api(t, 'GET', '/contacts?email=find.me@EXAMPLE.com')).body.contacts.map((c: any) => c.id)).toEqual([id]);
    expect((await nats(t, 'contact.find', { phone: `+${digits}` })).contacts.map((c: any) => c.id)).toEqual([id]);
    expect((await api(t, 'GET', '/contacts?email=nobody@example.com')).body).toEqual({ ok: true, contacts: [] });
    // Half an identity is neither a lookup nor a list filter; a channel alone is a list filter.
    expect((await api(t, 'GET', `/contacts?channel=whatsapp&externalId=${digits}`)).status).toBe(400);
    expect((await api(t, 'GET', '/contacts?channel=whatsapp')).body.items.map((c: any) => c.id)).toContain(id);
  });
});

describe('updating contacts', () => {
  it('sets name, phones (E.164), emails and attributes (merge patch), announcing each change once', async () => {
    const { id, digits } = await person();
    const first = await api(t, 'PATCH', `/contacts/${id}`, { displayName: 'Kim', attributes: { tier: 'gold', address: { city: 'Oslo', zip: '0150' } } });
    expect(first.body.contact).toMatchObject({ displayName: 'Kim', attributes: { tier: 'gold', address: { city: 'Oslo', zip: '0150' } } });
    const second = await nats(t, 'contact.update', { id, phones: ['+47 912 34 567'], attributes: { tier: null, address: { zip: null } } });
    expect(second.contact.attributes).toEqual({ address: { city: 'Oslo' } });
    // The platform-verified number stays whatever the list says.
    expect(second.contact.phones).toEqual(['+4791234567', `+${digits}`]);
    const unchanged = await api(t, 'PATCH', `/contacts/${id}`, { displayName: 'Kim' });
    expect(unchanged.status).toBe(200);
    const updated = await eventsAbout('updated', id);
    expect(updated).toHaveLength(2);
    expect(new Set(updated.map((e) => e.msgId)).size).toBe(2);
    expect(updated.at(-1)!.data.contact.attributes).toEqual({ address: { city: 'Oslo' } });
    expect((await api(t, 'PATCH', `/contacts/${id}`, {})).status).toBe(400);
    expect((await api(t, 'PATCH', `/contacts/${id}`, { nickname: 'K' })).status).toBe(400);
  });
});

describe('manual merge', () => {
  it('keeps the older contact, combines attributes without loss, and logs and announces once', async () => {
    const older = await person({ name: 'Ann Lee' });
    const younger = await person({ name: 'Annie Lee', account: 'acme-wa2' });
    await api(t, 'PATCH', `/contacts/${older.id}`, { emails: ['ann@example.com'], attributes: { tier: 'gold', city: 'Oslo' } });
    await api(t, 'PATCH', `/contacts/${younger.id}`, { emails: ['annie@example.com'], attributes: { tier: 'silver', lang: 'no' } });
    const { status, body } = await api(t, 'POST', `/contacts/${younger.id}/merge`, { otherId: older.id, actor: 'agent:kim' });
    expect(status).toBe(200);
    const merged = body.contact;
    expect(merged.id).toBe(older.id);
    expect(merged.mergedFrom).toEqual([younger.id]);
    expect(merged.displayName).toBe('Ann Lee');
    expect(merged.emails).toEqual(['ann@example.com', 'annie@example.com']);
    expect(merged.phones).toEqual([`+${older.digits}`, `+${younger.digits}`]);
    expect(merged.attributes).toEqual({ tier: 'gold', city: 'Oslo', lang: 'no' });
    expect(merged.conflicts).toEqual([
      expect.objectContaining({ field: 'displayName', value: 'Annie Lee', source: younger.id }),
      expect.objectContaining({ field: 'attributes.tier', value: 'silver', source: younger.id }),
    ]);
    expect(merged.identities.map((i: any) => i.externalId)).toEqual([older.digits, younger.digits]);

    const events = await eventsAbout('merged', older.id);
    expect(events).toHaveLength(1);
    expect(events[0]!.data).toMatchObject({ survivorId: older.id, mergedIds: [younger.id], evidence: { type: 'manual' } });
    const history = (await api(t, 'GET', `/contacts/${older.id}/merges`)).body;
    expect(() => contactMergesAnswerSchema.parse(history)).not.toThrow();
    const log = history.merges;
    expect(log).toHaveLength(1);
    expect(log[0]).toMatchObject({ action: 'merge', contactId: older.id, otherId: younger.id, actor: 'agent:kim', via: 'http', evidence: { type: 'manual' } });
    expect(events[0]!.msgId).toBe(`${log[0].id}:merged`);

    // Merging what is already one contact is a no-op: no second log entry, no second event.
    const again = await nats(t, 'contact.merge', { id: older.id, otherId: younger.id });
    expect(again).toMatchObject({ ok: true, contact: { id: older.id } });
    expect((await api(t, 'GET', `/contacts/${older.id}/merges`)).body.merges).toHaveLength(1);
    expect(await eventsAbout('merged', older.id)).toHaveLength(1);
  });

  it('lets the caller name the younger contact as survivor', async () => {
    const older = await person();
    const younger = await person();
    const answer = await nats(t, 'contact.merge', { id: older.id, otherId: younger.id, survivorId: younger.id });
    expect(answer.contact.id).toBe(younger.id);
    expect(answer.contact.mergedFrom).toEqual([older.id]);
    const log = (await api(t, 'GET', `/contacts/${younger.id}/merges`)).body.merges;
    expect(log[0]).toMatchObject({ actor: 'api', via: 'nats' });
  });

  it('keeps a merged-away id valid everywhere and resolves merges transitively', async () => {
    const a = await person();
    const b = await person();
    const c = await person();
    await api(t, 'POST', `/contacts/${b.id}/merge`, { otherId: c.id }); // b survives, c is an alias of b
    await api(t, 'POST', `/contacts/${c.id}/merge`, { otherId: a.id }); // through the alias: a (oldest) survives
    for (const alias of [b.id, c.id]) {
      expect((await api(t, 'GET', `/contacts/${alias}`)).body.contact.id).toBe(a.id);
      expect((await nats(t, 'contact.get', { id: alias })).contact.id).toBe(a.id);
      expect((await api(t, 'GET', `/contacts/${alias}/timeline`)).body.messages).toHaveLength(3);
      expect((await api(t, 'GET', `/contacts/${alias}/merges`)).body.merges).toHaveLength(2);
    }
    const profile = (await api(t, 'PATCH', `/contacts/${c.id}`, { attributes: { vip: true } })).body.contact;
    expect(profile).toMatchObject({ id: a.id, attributes: { vip: true } });
    expect([...profile.mergedFrom].sort()).toEqual([b.id, c.id].sort());
    const [row] = await t.sql`select merged_into from contacts where id = ${c.id}`;
    expect(row!.merged_into).toBe(a.id);
    expect(await graphViolations(t.sql)).toEqual([]);
  });

  it('refuses a self-merge, an unknown other contact, and a survivor that is neither', async () => {
    const a = await person();
    const b = await person();
    expect((await api(t, 'POST', `/contacts/${a.id}/merge`, { otherId: a.id })).status).toBe(400);
    expect((await api(t, 'POST', `/contacts/${a.id}/merge`, { otherId: 'ct_unknown' })).status).toBe(404);
    expect((await api(t, 'POST', `/contacts/${a.id}/merge`, { otherId: b.id, survivorId: 'ct_third' })).status).toBe(400);
  });
});

describe('identities on two accounts', () => {
  it('lists every identity with its channel and account', async () => {
    const a = await person({ account: 'acme-wa' });
    const b = await person({ account: 'acme-wa2' });
    const merged = (await api(t, 'POST', `/contacts/${a.id}/merge`, { otherId: b.id })).body.contact;
    expect(merged.identities.map((i: any) => `${i.channel}/${i.account}`)).toEqual([`whatsapp/${WA.account}`, `whatsapp/${WA2.account}`]);
  });
});
