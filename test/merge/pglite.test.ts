/**
 * The same contact rules on the embedded PGlite (the default when `database.url` is null):
 * automatic merge on inbound, the profile, the timeline, unmerge, the contact list and search.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WA, startTestDaemon, whatsappAccountYaml, type TestDaemon } from '../support/daemon.ts';
import { contactsExtension } from '../../src/merge/extension.ts';
import { WA2, api, postWa, waText } from './helpers.ts';

let t: TestDaemon;

beforeAll(async () => {
  t = await startTestDaemon({
    pglite: true,
    accounts: {
      'acme-wa.yaml': whatsappAccountYaml(),
      'acme-wa2.yaml': whatsappAccountYaml({ id: WA2.account, phoneNumberId: `"${WA2.phoneNumberId}"` }),
    },
    extra: { extensions: [contactsExtension()] },
  });
});
afterAll(async () => {
  await t?.stop();
});

describe('contacts on PGlite', () => {
  it('merges on the verified phone, pages the timeline and unmerges', async () => {
    const digits = '16315559001';
    expect(await postWa(t, waText({ from: digits }).body, WA.account)).toBe(200);
    expect(await postWa(t, waText({ from: digits, account: 'acme-wa2' }).body, WA2.account)).toBe(200);
    const found = (await api(t, 'GET', `/contacts?channel=whatsapp&account=${WA2.account}&externalId=${digits}`)).body.contacts;
    expect(found).toHaveLength(1);
    const contact = found[0];
    expect(contact.identities).toHaveLength(2);
    const page = (await api(t, 'GET', `/contacts/${contact.id}/timeline?limit=1`)).body;
    expect(page.messages).toHaveLength(1);
    const next = (await api(t, 'GET', `/contacts/${contact.id}/timeline?limit=1&before=${page.nextCursor}`)).body;
    expect(next.messages).toHaveLength(1);
    expect(next.messages[0].id).not.toBe(page.messages[0].id);
    const split = await api(t, 'POST', `/contacts/${contact.id}/unmerge`, { identity: { channel: 'whatsapp', account: WA2.account, externalId: digits } });
    expect(split.status).toBe(200);
    expect(split.body.contact.identities).toHaveLength(1);
    expect(split.body.detached.identities).toHaveLength(1);
    expect((await api(t, 'GET', `/contacts/${contact.id}/merges`)).body.merges.map((m: any) => m.action)).toEqual(['unmerge', 'merge']);
  });

  it('lists and searches contacts by name word prefix, phone and platform id (no extension needed)', async () => {
    const digits = '16315559002';
    expect(await postWa(t, waText({ from: digits, name: 'Zelda Quartermaine' }).body, WA.account)).toBe(200);
    const all = (await api(t, 'GET', '/contacts?limit=1')).body;
    expect(all.items).toHaveLength(1);
    expect(all.nextCursor).not.toBeNull();
    for (const q of ['quarter', 'ZEL', `%2B${digits}`, digits]) {
      const found = (await api(t, 'GET', `/contacts?q=${q}`)).body.items;
      expect(found.map((item: any) => item.displayName), q).toEqual(['Zelda Quartermaine']);
    }
  });
});
