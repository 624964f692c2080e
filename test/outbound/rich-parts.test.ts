/**
 * Rich parts through the API: reply buttons, lists, locations and link previews
 * reach the platform in its own format and are published on `message.out` per the schema.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WA } from '../support/daemon.ts';
import { checkEventSchemas, customerWrites, httpSend, newCustomer, startOutbound, waitForStatus, type OutboundTest } from './helpers.ts';

let o: OutboundTest;
beforeAll(async () => {
  o = await startOutbound();
});
afterAll(async () => {
  await o?.stop();
});

describe('rich outbound parts', () => {
  it('sends buttons, a list, a location and a previewed link as WhatsApp expects', async () => {
    const customer = newCustomer();
    await customerWrites(o, customer);
    const parts = [
      { type: 'buttons', text: 'Did this help?', buttons: [{ id: 'yes', title: 'Yes' }, { id: 'no', title: 'No' }], footer: 'Acme support' },
      { type: 'list', text: 'Pick a slot', button: 'Slots', sections: [{ title: 'Monday', rows: [{ id: 'mon-9', title: '9:00', description: 'morning' }] }] },
      { type: 'location', latitude: 52.52, longitude: 13.405, name: 'Acme HQ' },
      { type: 'text', text: 'See https://example.com/status', previewUrl: true },
    ];
    const answer = await httpSend(o, { idempotencyKey: `rich-${customer}`, account: WA.account, to: { externalId: customer }, parts });
    expect(answer.json, JSON.stringify(answer.json)).toMatchObject({ ok: true });
    await waitForStatus(o, answer.json.messageId, 'sent');
    const sent = o.fake.sent(WA.phoneNumberId).filter((s) => s.customer === customer);
    const bodies = sent.map((s) => s.body as any);
    expect(bodies.find((b) => b.type === 'interactive' && b.interactive.type === 'button').interactive.action.buttons).toEqual([
      { type: 'reply', reply: { id: 'yes', title: 'Yes' } },
      { type: 'reply', reply: { id: 'no', title: 'No' } },
    ]);
    expect(bodies.find((b) => b.type === 'interactive' && b.interactive.type === 'list').interactive.action.button).toBe('Slots');
    expect(bodies.find((b) => b.type === 'location').location).toMatchObject({ latitude: 52.52, longitude: 13.405, name: 'Acme HQ' });
    expect(bodies.find((b) => b.type === 'text').text).toEqual({ preview_url: true, body: 'See https://example.com/status' });
    expect(await checkEventSchemas(o)).toBeGreaterThan(0);
  });

  it('refuses a malformed rich part before anything is sent', async () => {
    const answer = await httpSend(o, {
      idempotencyKey: `rich-bad-${newCustomer()}`,
      account: WA.account,
      to: { externalId: '1' },
      parts: [{ type: 'buttons', text: 'x', buttons: [1, 2, 3, 4].map((i) => ({ id: `b${i}`, title: `B${i}` })) }],
    });
    expect(answer.json.error.code).toBe('invalid_request');
  });
});
