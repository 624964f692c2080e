/**
 * Every refusal of the acceptance path, answered synchronously with the contract's code:
 * schema, account, recipient, open session, window, quota, templates, reachability. A refusal
 * is the key's first answer: the same key gets it again even once the cause is gone.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.ts';
import { WA } from '../support/daemon.ts';
import { customerWrites, httpSend, natsRequest, newCustomer, startOutbound, testCustomerWrites, textCommand, type OutboundTest } from './helpers.ts';


let o: OutboundTest;
beforeAll(async () => {
  o = await startOutbound({
    testAccounts: { 'tc-quota': { session: '{ window: 24h }' }, 'tc-free': {} },
    testQuota: 2,
  });
});
afterAll(async () => {
  await o?.stop();
});

/** Closes every window of a conversation, as if its 24 h had passed. */
async function expireWindows(conversationId: string): Promise<Date> {
  const ended = new Date(o.clock.now().getTime() - 3_600_000);
  await o.t.sql!`update session_windows set expires_at = ${ended} where conversation_id = ${conversationId}`;
  return ended;
}

describe('refusals', () => {
  it('invalid_request: schema failures, over HTTP and NATS, never remembered', async () => {
    const missingKey = await httpSend(o, { account: WA.account, to: { externalId: '1' }, parts: [{ type: 'text', text: 'x' }] });
    expect(missingKey.status).toBe(400);
    expect(missingKey.json.error.code).toBe('invalid_request');
    const both = await natsRequest(o, 'send', { ...textCommand('bad-both', '1'), template: { name: 'x', language: 'en' } });
    expect(both).toMatchObject({ ok: false, error: { code: 'invalid_request' } });
    const noAccount = await natsRequest(o, 'send', { idempotencyKey: 'bad-noacct', to: { externalId: '1' }, parts: [{ type: 'text', text: 'x' }] });
    expect(noAccount).toMatchObject({ ok: false, error: { code: 'invalid_request' } });
    const file = await httpSend(o, { ...textCommand('bad-file', '1'), parts: [{ type: 'file', media: { url: 'file:///etc/passwd' } }] });
    expect(file.json.error.code).toBe('invalid_request');
    const notJson = (await o.t.nc.request(`${o.t.prefix}.v1.api.send`, 'not json', { timeout: 5_000 })).json<any>();
    expect(notJson).toMatchObject({ ok: false, error: { code: 'invalid_request' } });
    const [row] = await o.t.sql!`select count(*)::int as n from send_requests where idempotency_key like 'bad-%'`;
    expect(row!.n).toBe(0);
  });

  it('unknown_account', async () => {
    const answer = await httpSend(o, { ...textCommand('acct-1', '1'), account: 'nope' });
    expect(answer.status).toBe(404);
    expect(answer.json.error).toMatchObject({ code: 'unknown_account', details: { account: 'nope' } });
  });

  it('unknown_contact: by platform id and by contact id', async () => {
    const byExternal = await httpSend(o, textCommand('uc-1', '4900000000001'));
    expect(byExternal.json.error.code).toBe('unknown_contact');
    const byContact = await httpSend(o, { idempotencyKey: 'uc-2', account: WA.account, to: { contactId: 'ct_nobody' }, parts: [{ type: 'text', text: 'x' }] });
    expect(byContact.json.error.code).toBe('unknown_contact');
    const noAccount = await natsRequest(o, 'send', { idempotencyKey: 'uc-3', to: { contactId: 'ct_nobody' }, parts: [{ type: 'text', text: 'x' }] });
    expect(noAccount.error.code).toBe('unknown_contact');
  });

  it('session_expired with expiredAt and allowed; a template is still accepted; the refusal is the first answer', async () => {
    const customer = newCustomer();
    const { conversationId } = await customerWrites(o, customer);
    const ended = await expireWindows(conversationId);
    const refused = await httpSend(o, textCommand('se-1', customer));
    expect(refused.status).toBe(409);
    expect(refused.json.error).toMatchObject({ code: 'session_expired', details: { expiredAt: ended.toISOString(), allowed: ['template'] } });
    const template = await httpSend(o, {
      idempotencyKey: 'se-2',
      account: WA.account,
      to: { externalId: customer },
      template: { name: 'hello_world', language: 'en_US' },
    });
    expect(template.json).toMatchObject({ ok: true, status: 'queued' });
    // The window opens again, but the key already has its answer.
    await customerWrites(o, customer, 'back again');
    const again = await natsRequest(o, 'send', textCommand('se-1', customer));
    expect(again).toMatchObject({ ok: false, error: { code: 'session_expired' } });
  });

  it('template_invalid: over the channel limits', async () => {
    const customer = newCustomer();
    await customerWrites(o, customer);
    const notAList = await httpSend(o, { idempotencyKey: 'ti-1', account: WA.account, to: { externalId: customer }, template: { name: 'x', language: 'en_US', params: { body: 'Kerry' } } });
    expect(notAList.json.error).toMatchObject({ code: 'template_invalid', details: { field: 'template.params.body' } });
    const params = Array.from({ length: 101 }, (_, i) => `p${i}`);
    const many = await httpSend(o, { idempotencyKey: 'ti-2', account: WA.account, to: { externalId: customer }, template: { name: 'x', language: 'en_US', params: { body: params } } });
    expect(many.json.error).toMatchObject({ code: 'template_invalid', details: { field: 'template.params.body' } });
  });

  it('template_not_supported on a channel without templates', async () => {
    await testCustomerWrites(o, 'tc-quota', 'tpl-customer');
    const answer = await httpSend(o, { idempotencyKey: 'tns-1', account: 'tc-quota', to: { externalId: 'tpl-customer' }, template: { name: 'x', language: 'en' } });
    expect(answer.status).toBe(422);
    expect(answer.json.error.code).toBe('template_not_supported');
  });

  it('quota_exceeded once the window quota is used, counted in the acceptance transaction', async () => {
    const { conversationId } = await testCustomerWrites(o, 'tc-quota', 'quota-customer');
    for (const key of ['q-1', 'q-2']) {
      expect((await httpSend(o, { ...textCommand(key, 'quota-customer'), account: 'tc-quota' })).json.ok).toBe(true);
    }
    const third = await httpSend(o, { ...textCommand('q-3', 'quota-customer'), account: 'tc-quota' });
    expect(third.status).toBe(429);
    expect(third.json.error).toMatchObject({ code: 'quota_exceeded', details: { limit: 2, used: 2 } });
    const [window] = await o.t.sql!`select quota_used from session_windows where conversation_id = ${conversationId}`;
    expect(window!.quota_used).toBe(2);
    // A repeated key is answered from its first answer and does not count again.
    expect((await httpSend(o, { ...textCommand('q-1', 'quota-customer'), account: 'tc-quota' })).json.ok).toBe(true);
    const [after] = await o.t.sql!`select quota_used from session_windows where conversation_id = ${conversationId}`;
    expect(after!.quota_used).toBe(2);
  });

  it('recipient_unreachable when the platform reported the identity gone', async () => {
    const customer = newCustomer();
    await customerWrites(o, customer);
    await o.t.sql!`update identities set unreachable_at = now() where account = ${WA.account} and external_id = ${customer}`;
    const answer = await httpSend(o, textCommand('ru-1', customer));
    expect(answer.json.error.code).toBe('recipient_unreachable');
  });

  it('to.contactId without account: the most recently active conversation with an open session', async () => {
    const customer = newCustomer();
    const wa = await customerWrites(o, customer);
    const free = await testCustomerWrites(o, 'tc-free', `free-${customer}`);
    // One person on two channels.
    await o.t.sql!`update identities set contact_id = ${wa.contactId} where contact_id = ${free.contactId}`;
    await o.t.sql!`update contacts set merged_into = ${wa.contactId} where id = ${free.contactId}`;
    const send = (key: string) => natsRequest(o, 'send', { idempotencyKey: key, to: { contactId: free.contactId }, parts: [{ type: 'text', text: key }] });

    // tc-free is the more recent and has no window: it counts as open.
    const first = await send('any-1');
    expect(first.ok).toBe(true);
    let [row] = await o.t.sql!`select account, conversation_id from messages where id = ${first.messageId}`;
    expect(row).toMatchObject({ account: 'tc-free', conversation_id: free.conversationId });

    // WhatsApp more recent, but its window closed: still tc-free.
    await o.t.sql!`update conversations set last_message_at = now() + interval '1 hour' where id = ${wa.conversationId}`;
    await expireWindows(wa.conversationId);
    const second = await send('any-2');
    [row] = await o.t.sql!`select account from messages where id = ${second.messageId}`;
    expect(row!.account).toBe('tc-free');

    // WhatsApp more recent and open: WhatsApp, addressed through the merged-away id. A second
    // later, as on a real clock: a window that opened in the same millisecond as the expired one
    // would tie with it on opened_at.
    (o.clock as ManualClock).advance(1_000);
    await customerWrites(o, customer, 'hello again');
    await o.t.sql!`update conversations set last_message_at = now() + interval '2 hours' where id = ${wa.conversationId}`;
    const third = await send('any-3');
    [row] = await o.t.sql!`select account, conversation_id from messages where id = ${third.messageId}`;
    expect(row).toMatchObject({ account: WA.account, conversation_id: wa.conversationId });
    const got = await natsRequest(o, 'message.get', { id: third.messageId });
    expect(got.message.contact.id).toBe(wa.contactId);
  });

  it('no_open_session when none of the contact’s conversations is open', async () => {
    const customer = newCustomer();
    const { contactId, conversationId } = await customerWrites(o, customer);
    await expireWindows(conversationId);
    const answer = await httpSend(o, { idempotencyKey: 'nos-1', to: { contactId }, parts: [{ type: 'text', text: 'x' }] });
    expect(answer.status).toBe(409);
    expect(answer.json.error.code).toBe('no_open_session');
  });

  it('session events carry the window quota where the channel counts one', async () => {
    const { conversationId } = await testCustomerWrites(o, 'tc-quota', 'quota-event');
    expect((await httpSend(o, { ...textCommand('qe-1', 'quota-event'), account: 'tc-quota' })).json.ok).toBe(true);
    (o.clock as ManualClock).advance(23.5 * 3_600_000);
    await o.outbound.sessions.tick();
    await o.t.daemon.relay.drainOnce();
    const expiring = await o.t.events(`${o.t.prefix}.v1.evt.session.expiring.testchan.tc-quota`, { where: (e) => e.data.conversationId === conversationId });
    expect(expiring).toHaveLength(1);
    expect(expiring[0]!.data.quota).toEqual({ limit: 2, used: 1, remaining: 1 });
    const session = await natsRequest(o, 'session.get', { conversationId });
    expect(session.session).toMatchObject({ state: 'expiring', quota: { limit: 2, used: 1, remaining: 1 } });
  });
});
