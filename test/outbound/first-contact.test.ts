/**
 * A business may write first with a template (WhatsApp): a number the account never met is
 * recorded as a new contact and the template goes out. Free-form text to a stranger stays
 * `unknown_contact`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WA } from '../support/daemon.ts';
import { httpSend, newCustomer, startOutbound, textCommand, waitForStatus, type OutboundTest } from './helpers.ts';

let o: OutboundTest;
beforeAll(async () => {
  o = await startOutbound();
});
afterAll(async () => {
  await o?.stop();
});

describe('business-initiated first contact', () => {
  it('sends a template to a number that never wrote, creating its contact once', async () => {
    const customer = newCustomer();
    const answer = await httpSend(o, {
      idempotencyKey: `first-${customer}`,
      account: WA.account,
      to: { externalId: customer },
      template: { name: 'hello_world', language: 'en_US' },
    });
    expect(answer.json, JSON.stringify(answer.json)).toMatchObject({ ok: true, status: 'queued' });
    await waitForStatus(o, answer.json.messageId, 'sent');
    expect(o.fake.sent(WA.phoneNumberId).some((s) => s.customer === customer && s.type === 'template')).toBe(true);
    const contacts = await o.t.sql!`select distinct contact_id from identities where external_id = ${customer}`;
    expect(contacts).toHaveLength(1);
    // A second template reuses the contact.
    const again = await httpSend(o, { idempotencyKey: `again-${customer}`, account: WA.account, to: { externalId: customer }, template: { name: 'hello_world', language: 'en_US' } });
    expect(again.json.ok).toBe(true);
    expect(await o.t.sql!`select distinct contact_id from identities where external_id = ${customer}`).toHaveLength(1);
  });

  it('still refuses free-form text to a stranger', async () => {
    const customer = newCustomer();
    const answer = await httpSend(o, textCommand(`stranger-${customer}`, customer));
    expect(answer.json.error.code).toBe('unknown_contact');
    expect(await o.t.sql!`select 1 from identities where external_id = ${customer}`).toHaveLength(0);
  });
});
