/**
 * Aliases in send commands: a helpdesk that still holds a merged-away contact id can send to
 * it, and the message goes to the person (the survivor), on the account asked or on the
 * conversation most recently active. Runs the shipped extensions (outbound and contacts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WA } from '../support/daemon.ts';
import { extensions } from '../../src/extensions.ts';
import { resolveContactId } from '../../src/merge/store.ts';
import { WA2, api, contactOf, postWa, startContactsDaemon, waText, type ContactsDaemon } from './helpers.ts';

let t: ContactsDaemon;

beforeAll(async () => {
  t = await startContactsDaemon({ extensions: extensions() });
});
afterAll(async () => {
  await t?.stop();
  await t?.dropDatabase();
});

describe('a merged-away contact id in a send command', () => {
  it('resolves to the survivor, with or without an account', async () => {
    const [a, b] = ['16315558001', '16315558002'];
    expect(await postWa(t, waText({ from: a }).body, WA.account)).toBe(200);
    t.manualClock.advance(1_000);
    expect(await postWa(t, waText({ from: b, account: 'acme-wa2' }).body, WA2.account)).toBe(200);
    const [survivor, alias] = [await contactOf(t.sql, WA.account, a), await contactOf(t.sql, WA2.account, b)];
    expect((await api(t, 'POST', `/contacts/${alias}/merge`, { otherId: survivor })).body.contact.id).toBe(survivor);
    expect(await resolveContactId(t.daemon.database.db, alias)).toBe(survivor);
    expect(await resolveContactId(t.daemon.database.db, 'ct_unknown')).toBeNull();

    const onAccount = await api(t, 'POST', '/messages', { idempotencyKey: 'alias-1', account: WA.account, to: { contactId: alias }, parts: [{ type: 'text', text: 'hi' }] });
    expect(onAccount.body).toMatchObject({ ok: true, status: 'queued' });
    const latest = await api(t, 'POST', '/messages', { idempotencyKey: 'alias-2', to: { contactId: alias }, parts: [{ type: 'text', text: 'hi again' }] });
    expect(latest.body).toMatchObject({ ok: true });
    for (const [answer, account, externalId] of [[onAccount, WA.account, a], [latest, WA2.account, b]] as const) {
      const message = (await api(t, 'GET', `/messages/${answer.body.messageId}`)).body.message;
      expect(message).toMatchObject({ direction: 'out', account, contact: { id: survivor, identity: { externalId } } });
    }
    // Outbound messages are part of the person's history too.
    const timeline = (await api(t, 'GET', `/contacts/${alias}/timeline`)).body.messages;
    expect(timeline.filter((m: any) => m.direction === 'out')).toHaveLength(2);
  });
});
