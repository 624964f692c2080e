/**
 * Automatic merge on evidence (docs/contacts.md) through real signed webhooks and the
 * ingest path: a verified phone (WhatsApp sender), a phone a Telegram user shared about
 * themself, a WeChat UnionID, a phone or email set through the API; and what is NOT merged.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InboundIdentity } from '../../src/core/adapter.ts';
import { WA } from '../support/daemon.ts';
import { inboundMessageEvent } from '../support/events.ts';
import { learnIdentity } from '../../src/merge/auto-merge.ts';
import type { MergePolicy } from '../../src/merge/evidence.ts';

const DEFAULT_MERGE_POLICY: MergePolicy = { auto: ['phone', 'wechat_unionid'], defaultRegion: null };
import { subjects as subjectsFor } from '../../src/core/schemas/subjects.ts';
import { WA2, api, contactEvents, contactOf, graphViolations, postWa, startContactsDaemon, waText, type ContactsDaemon } from './helpers.ts';

let phoneSeq = 100;
/** A fresh US number, as WhatsApp sends it (digits) and as E.164. */
function newPhone(): { digits: string; e164: string } {
  const digits = `1631555${String(phoneSeq++).padStart(4, '0')}`;
  return { digits, e164: `+${digits}` };
}

/** Records synthetic events as if an adapter of `channel` had parsed them. */
async function ingest(t: ContactsDaemon, channel: string, account: string, sender: InboundIdentity, text = 'hi'): Promise<void> {
  const capabilities = t.daemon.registry.all()[0]!.adapter.capabilities;
  const event = inboundMessageEvent(sender, { dedupeKey: `${account}:${Math.random()}`, timestamp: t.manualClock.now(), parts: [{ type: 'text', text }], sessionGrant: null });
  await t.daemon.ingestor.record({ adapter: { channel, account, capabilities }, window: 'none' }, null, [event]);
}

describe('automatic merge with the default policy (phone, wechat_unionid)', () => {
  let t: ContactsDaemon;
  beforeAll(async () => {
    t = await startContactsDaemon();
  });
  afterAll(async () => {
    await t?.stop();
    await t?.dropDatabase();
  });

  it('merges one person writing to two WhatsApp accounts; the older contact survives', async () => {
    const phone = newPhone();
    expect(await postWa(t, waText({ from: phone.digits, name: 'Kerry Fisher' }).body)).toBe(200);
    const first = await contactOf(t.sql, WA.account, phone.digits);
    t.manualClock.advance(1_000);
    expect(await postWa(t, waText({ from: phone.digits, name: 'Kerry F.', account: 'acme-wa2' }).body, WA2.account)).toBe(200);
    expect(await contactOf(t.sql, WA2.account, phone.digits)).toBe(first);

    const profile = (await api(t, 'GET', `/contacts/${first}`)).body.contact;
    expect(profile.phones).toEqual([phone.e164]);
    expect(profile.identities.map((i: any) => i.account)).toEqual([WA.account, WA2.account]);
    expect(profile.identities.every((i: any) => i.sessionOpen === true)).toBe(true);
    expect(profile.displayName).toBe('Kerry Fisher');
    expect(profile.mergedFrom).toHaveLength(1);
    expect(profile.conflicts).toEqual([expect.objectContaining({ field: 'displayName', value: 'Kerry F.', source: profile.mergedFrom[0] })]);

    const merged = (await contactEvents(t, 'merged')).filter((e) => e.data.survivorId === first);
    expect(merged).toHaveLength(1);
    expect(merged[0]!.data).toMatchObject({ event: 'merged', mergedIds: profile.mergedFrom, evidence: { type: 'phone', value: phone.e164 } });
    // The merged-away contact was announced before it was merged away.
    const created = await contactEvents(t, 'created');
    expect(created.filter((e) => e.data.contact.id === profile.mergedFrom[0])).toHaveLength(1);
    // The second message already names the survivor.
    const messages = await t.events(`${t.prefix}.v1.evt.message.in.whatsapp.${WA2.account}`);
    expect(messages.at(-1)!.data.contact.id).toBe(first);

    const log = (await api(t, 'GET', `/contacts/${profile.mergedFrom[0]}/merges`)).body.merges;
    expect(log).toEqual([
      expect.objectContaining({ action: 'merge', contactId: first, actor: 'auto', via: 'inbound', evidence: { type: 'phone', value: phone.e164 }, identities: [{ channel: 'whatsapp', account: WA2.account, externalId: phone.digits }] }),
    ]);
    expect(await graphViolations(t.sql)).toEqual([]);
  });

  it('merges a Telegram user who later shares their own phone with the WhatsApp contact of that phone', async () => {
    const phone = newPhone();
    await postWa(t, waText({ from: phone.digits, name: 'Ana' }).body);
    const whatsapp = await contactOf(t.sql, WA.account, phone.digits);
    t.manualClock.advance(1_000);
    await ingest(t, 'telegram', 'acme-tg', { externalId: `tg${phoneSeq}`, displayName: 'Ana' });
    const telegram = await contactOf(t.sql, 'acme-tg', `tg${phoneSeq}`);
    expect(telegram).not.toBe(whatsapp);
    // Telegram's contact message with user_id == sender: verified, written without a `+`.
    await ingest(t, 'telegram', 'acme-tg', { externalId: `tg${phoneSeq}`, phone: phone.digits, phoneVerified: true });
    expect(await contactOf(t.sql, 'acme-tg', `tg${phoneSeq}`)).toBe(whatsapp);
    expect((await api(t, 'GET', `/contacts/${telegram}`)).body.contact.id).toBe(whatsapp);
  });

  it('puts a phone a user verifies later on their contact and announces the update once', async () => {
    const phone = newPhone();
    await ingest(t, 'telegram', 'acme-tg', { externalId: `tg-solo-${phoneSeq}` });
    const contact = await contactOf(t.sql, 'acme-tg', `tg-solo-${phoneSeq}`);
    await ingest(t, 'telegram', 'acme-tg', { externalId: `tg-solo-${phoneSeq}`, phone: phone.digits, phoneVerified: true });
    await ingest(t, 'telegram', 'acme-tg', { externalId: `tg-solo-${phoneSeq}`, phone: phone.digits, phoneVerified: true });
    expect((await api(t, 'GET', `/contacts/${contact}`)).body.contact.phones).toEqual([phone.e164]);
    const updated = (await contactEvents(t, 'updated')).filter((e) => e.data.contact.id === contact);
    expect(updated).toHaveLength(1);
    expect(updated[0]!.data.contact.phones).toEqual([phone.e164]);
  });

  it('merges two WeChat official accounts on the same UnionID', async () => {
    const unionId = `oUnion${phoneSeq++}`;
    await ingest(t, 'wechat', 'acme-wc', { externalId: 'openid-a', evidence: [{ type: 'platform_id', namespace: 'wechat_unionid', value: unionId }] });
    t.manualClock.advance(1_000);
    await ingest(t, 'wechat', 'acme-wc2', { externalId: 'openid-b', evidence: [{ type: 'platform_id', namespace: 'wechat_unionid', value: unionId }] });
    expect(await contactOf(t.sql, 'acme-wc2', 'openid-b')).toBe(await contactOf(t.sql, 'acme-wc', 'openid-a'));
  });

  it('merges when a UnionID is learned later, outside a webhook (learnIdentity)', async () => {
    const unionId = `oUnionLate${phoneSeq++}`;
    await ingest(t, 'wechat', 'acme-wc', { externalId: 'openid-late-a', evidence: [{ type: 'platform_id', namespace: 'wechat_unionid', value: unionId }] });
    t.manualClock.advance(1_000);
    await ingest(t, 'wechat', 'acme-wc2', { externalId: 'openid-late-b' });
    const [a, b] = [await contactOf(t.sql, 'acme-wc', 'openid-late-a'), await contactOf(t.sql, 'acme-wc2', 'openid-late-b')];
    expect(a).not.toBe(b);
    const subjects = subjectsFor(t.prefix);
    const learned = await learnIdentity(t.daemon.database.db, subjects, DEFAULT_MERGE_POLICY, { channel: 'wechat', account: 'acme-wc2' }, { externalId: 'openid-late-b', evidence: [{ type: 'platform_id', namespace: 'wechat_unionid', value: unionId }] }, t.manualClock.now());
    expect(learned.contactId).toBe(a);
    expect(await contactOf(t.sql, 'acme-wc2', 'openid-late-b')).toBe(a);
  });

  it('never merges on an unverified phone or a name: those are suggestions', async () => {
    const phone = newPhone();
    await postWa(t, waText({ from: phone.digits, name: 'Bo Lind' }).body);
    const whatsapp = await contactOf(t.sql, WA.account, phone.digits);
    t.manualClock.advance(1_000);
    await ingest(t, 'telegram', 'acme-tg', { externalId: `tg-bo-${phoneSeq}`, displayName: 'Bo Lind', phone: phone.e164, phoneVerified: false });
    const telegram = await contactOf(t.sql, 'acme-tg', `tg-bo-${phoneSeq}`);
    expect(telegram).not.toBe(whatsapp);
    const { body } = await api(t, 'GET', `/contacts/${telegram}/suggestions`);
    expect(body.suggestions[0].contact.id).toBe(whatsapp);
    expect(body.suggestions[0].reasons).toEqual(
      expect.arrayContaining([
        { type: 'phone', value: phone.e164, verified: false },
        { type: 'name', value: 'Bo Lind', verified: false },
      ]),
    );
  });

  it('merges on a phone set through the API (national format read in no region fails loudly)', async () => {
    const phone = newPhone();
    await postWa(t, waText({ from: phone.digits }).body);
    const whatsapp = await contactOf(t.sql, WA.account, phone.digits);
    t.manualClock.advance(1_000);
    await ingest(t, 'line', 'acme-line', { externalId: `U${phoneSeq}` });
    const line = await contactOf(t.sql, 'acme-line', `U${phoneSeq}`);
    const refused = await api(t, 'PATCH', `/contacts/${line}`, { phones: ['(631) 555-0000'] });
    expect(refused.status).toBe(400);
    expect(refused.body.error).toMatchObject({ code: 'invalid_request', details: { field: 'phones.0' } });
    const { status, body } = await api(t, 'PATCH', `/contacts/${line}`, { phones: [phone.e164.replace('+1', '+1 ')] });
    expect(status).toBe(200);
    expect(body.contact.id).toBe(whatsapp);
    const log = (await api(t, 'GET', `/contacts/${whatsapp}/merges`)).body.merges;
    expect(log[0]).toMatchObject({ action: 'merge', actor: 'auto', via: 'update', otherId: line, evidence: { type: 'phone', value: phone.e164 } });
  });

  it('does not merge on email by default: a shared email is a suggestion', async () => {
    await ingest(t, 'line', 'acme-line', { externalId: 'U-mail-1' });
    t.manualClock.advance(1_000);
    await ingest(t, 'line', 'acme-line', { externalId: 'U-mail-2' });
    const [a, b] = [await contactOf(t.sql, 'acme-line', 'U-mail-1'), await contactOf(t.sql, 'acme-line', 'U-mail-2')];
    await api(t, 'PATCH', `/contacts/${a}`, { emails: ['Kerry@Example.com'] });
    const patched = await api(t, 'PATCH', `/contacts/${b}`, { emails: ['kerry@example.com'] });
    expect(patched.body.contact.id).toBe(b);
    const { body } = await api(t, 'GET', `/contacts/${b}/suggestions`);
    expect(body.suggestions.map((s: any) => s.contact.id)).toContain(a);
    expect(await graphViolations(t.sql)).toEqual([]);
  });
});

describe('automatic merge with merge.auto configured', () => {
  let t: ContactsDaemon;
  beforeAll(async () => {
    t = await startContactsDaemon({ merge: '{ auto: [email], defaultRegion: us }' });
  });
  afterAll(async () => {
    await t?.stop();
    await t?.dropDatabase();
  });

  it('leaves verified phones alone when phone is not in merge.auto, and suggests them', async () => {
    const phone = newPhone();
    await postWa(t, waText({ from: phone.digits }).body);
    t.manualClock.advance(1_000);
    await postWa(t, waText({ from: phone.digits, account: 'acme-wa2' }).body, WA2.account);
    const [a, b] = [await contactOf(t.sql, WA.account, phone.digits), await contactOf(t.sql, WA2.account, phone.digits)];
    expect(a).not.toBe(b);
    const { body } = await api(t, 'GET', `/contacts/${b}/suggestions`);
    expect(body.suggestions[0].contact.id).toBe(a);
    expect(body.suggestions[0].reasons).toContainEqual({ type: 'phone', value: phone.e164, verified: true });
  });

  it('merges on an email set through the API, and reads national phones in the default region', async () => {
    await ingest(t, 'line', 'acme-line', { externalId: 'U-auto-1' });
    t.manualClock.advance(1_000);
    await ingest(t, 'line', 'acme-line', { externalId: 'U-auto-2' });
    const [a, b] = [await contactOf(t.sql, 'acme-line', 'U-auto-1'), await contactOf(t.sql, 'acme-line', 'U-auto-2')];
    const first = await api(t, 'PATCH', `/contacts/${b}`, { emails: ['ana@example.com'], phones: ['(631) 555-0199'] });
    expect(first.body.contact).toMatchObject({ id: b, phones: ['+16315550199'], emails: ['ana@example.com'] });
    const { body } = await api(t, 'PATCH', `/contacts/${a}`, { emails: ['ANA@example.com'] });
    expect(body.contact.id).toBe(a);
    expect(body.contact.mergedFrom).toEqual([b]);
    expect(body.contact.phones).toEqual(['+16315550199']);
  });
});
