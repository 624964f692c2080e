/**
 * Unmerge over HTTP and NATS: the identity leaves with its conversations and messages, the
 * contact it came with is revived under its old id with what it had, the remaining contact
 * gives back what came only with it, and automatic merge does not undo the human's decision.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WA } from '../support/daemon.ts';
import { contactUnmergeAnswerSchema } from '../../src/core/schemas/api.ts';
import { WA2, api, contactEvents, contactOf, graphViolations, nats, postWa, startContactsDaemon, waText, type ContactsDaemon } from './helpers.ts';

let t: ContactsDaemon;
let seq = 500;

beforeAll(async () => {
  t = await startContactsDaemon();
});
afterAll(async () => {
  await t?.stop();
  await t?.dropDatabase();
});

/** Posts `count` messages from `digits` on an account, a second apart; returns the contact. */
async function writes(digits: string, account: 'acme-wa' | 'acme-wa2', count: number, name = 'Kerry'): Promise<string> {
  for (let i = 0; i < count; i++) {
    t.manualClock.advance(1_000);
    expect(await postWa(t, waText({ from: digits, account, name, text: `${account} ${i}` }).body, account === 'acme-wa2' ? WA2.account : WA.account)).toBe(200);
  }
  return contactOf(t.sql, account === 'acme-wa2' ? WA2.account : WA.account, digits);
}

const nextDigits = () => `1631555${String(seq++).padStart(4, '0')}`;

describe('unmerge', () => {
  it('revives the merged-away contact with its own fields, conversations and messages', async () => {
    const [a, b] = [nextDigits(), nextDigits()];
    const older = await writes(a, 'acme-wa', 2, 'Ann');
    const younger = await writes(b, 'acme-wa2', 2, 'Bea');
    await api(t, 'PATCH', `/contacts/${older}`, { attributes: { tier: 'gold' } });
    await api(t, 'PATCH', `/contacts/${younger}`, { emails: ['bea@example.com'], attributes: { tier: 'silver', lang: 'no' } });
    const merged = (await api(t, 'POST', `/contacts/${older}/merge`, { otherId: younger })).body.contact;
    expect(merged).toMatchObject({ emails: ['bea@example.com'], attributes: { tier: 'gold', lang: 'no' } });
    expect((await api(t, 'GET', `/contacts/${older}/timeline`)).body.messages).toHaveLength(4);

    const { status, body } = await api(t, 'POST', `/contacts/${younger}/unmerge`, {
      identity: { channel: 'whatsapp', account: WA2.account, externalId: b },
      actor: 'agent:kim',
    });
    expect(status).toBe(200);
    expect(() => contactUnmergeAnswerSchema.parse(body)).not.toThrow();
    expect(body.contact).toMatchObject({ id: older, displayName: 'Ann', emails: [], phones: [`+${a}`], attributes: { tier: 'gold' }, conflicts: [], mergedFrom: [] });
    expect(body.detached).toMatchObject({ id: younger, displayName: 'Bea', emails: ['bea@example.com'], phones: [`+${b}`], attributes: { tier: 'silver', lang: 'no' }, mergedFrom: [] });
    expect(body.contact.identities.map((i: any) => i.externalId)).toEqual([a]);
    expect(body.detached.identities.map((i: any) => i.externalId)).toEqual([b]);

    const olderTimeline = (await api(t, 'GET', `/contacts/${older}/timeline`)).body.messages;
    const youngerTimeline = (await api(t, 'GET', `/contacts/${younger}/timeline`)).body.messages;
    expect(olderTimeline.map((m: any) => m.account)).toEqual([WA.account, WA.account]);
    expect(youngerTimeline.map((m: any) => [m.account, m.contact.id])).toEqual([[WA2.account, younger], [WA2.account, younger]]);
    expect((await api(t, 'GET', `/contacts/${younger}`)).body.contact.id).toBe(younger);

    const log = (await api(t, 'GET', `/contacts/${older}/merges`)).body.merges;
    expect(log.map((e: any) => e.action)).toEqual(['unmerge', 'merge']);
    expect(log[0]).toMatchObject({ contactId: older, otherId: younger, actor: 'agent:kim', via: 'http', identities: [{ channel: 'whatsapp', account: WA2.account, externalId: b }] });
    const unmerged = (await contactEvents(t, 'unmerged')).filter((e) => e.data.contact.id === older);
    expect(unmerged).toHaveLength(1);
    expect(unmerged[0]!.msgId).toBe(`${log[0].id}:unmerged`);
    expect(unmerged[0]!.data.detached.id).toBe(younger);
    expect(await graphViolations(t.sql)).toEqual([]);
  });

  it('gives an identity a new contact when it came with the contact that keeps the rest', async () => {
    const [a, b] = [nextDigits(), nextDigits()];
    const older = await writes(a, 'acme-wa', 1);
    const younger = await writes(b, 'acme-wa2', 1);
    await api(t, 'POST', `/contacts/${older}/merge`, { otherId: younger });
    const answer = await nats(t, 'contact.unmerge', { id: younger, identity: { channel: 'whatsapp', account: WA.account, externalId: a } });
    expect(answer.ok).toBe(true);
    expect(answer.contact.id).toBe(older);
    expect(answer.detached.id).not.toBe(older);
    expect(answer.detached.id).not.toBe(younger);
    expect(answer.contact.identities.map((i: any) => i.externalId)).toEqual([b]);
    expect(answer.detached).toMatchObject({ phones: [`+${a}`], identities: [{ externalId: a }] });
    const created = (await contactEvents(t, 'created')).filter((e) => e.data.contact.id === answer.detached.id);
    expect(created).toHaveLength(1);
    expect((await api(t, 'GET', `/contacts/${older}/merges`)).body.merges[0]).toMatchObject({ action: 'unmerge', via: 'nats', actor: 'api' });
  });

  it('refuses to split off the only identity, or one the contact does not have', async () => {
    const digits = nextDigits();
    const alone = await writes(digits, 'acme-wa', 1);
    const only = await api(t, 'POST', `/contacts/${alone}/unmerge`, { identity: { channel: 'whatsapp', account: WA.account, externalId: digits } });
    expect(only).toMatchObject({ status: 409, body: { error: { code: 'conflict' } } });
    const foreign = await api(t, 'POST', `/contacts/${alone}/unmerge`, { identity: { channel: 'whatsapp', account: WA2.account, externalId: digits } });
    expect(foreign).toMatchObject({ status: 404, body: { error: { code: 'not_found' } } });
    expect((await api(t, 'POST', `/contacts/${alone}/unmerge`, { identity: { channel: 'whatsapp' } })).status).toBe(400);
  });

  it('is not undone by the next message carrying the same verified phone; a manual merge still may', async () => {
    const digits = nextDigits();
    const first = await writes(digits, 'acme-wa', 1);
    expect(await writes(digits, 'acme-wa2', 1)).toBe(first);
    const split = await api(t, 'POST', `/contacts/${first}/unmerge`, { identity: { channel: 'whatsapp', account: WA2.account, externalId: digits } });
    const detached = split.body.detached.id;
    expect(await writes(digits, 'acme-wa2', 2)).toBe(detached);
    expect(await writes(digits, 'acme-wa', 1)).toBe(first);
    expect((await api(t, 'GET', `/contacts/${first}/suggestions`)).body.suggestions.map((s: any) => s.contact.id)).not.toContain(detached);
    const rejoined = await api(t, 'POST', `/contacts/${detached}/merge`, { otherId: first });
    expect(rejoined.body.contact.id).toBe(first);
    expect(rejoined.body.contact.identities).toHaveLength(2);
    expect(await graphViolations(t.sql)).toEqual([]);
  });
});
