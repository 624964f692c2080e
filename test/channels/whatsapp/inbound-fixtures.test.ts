/** Every real Meta payload in test/fixtures/whatsapp parses to the events a helpdesk expects. */
import { describe, expect, it } from 'vitest';
import type { InboundEvent, InboundIdentityEvent, InboundMessage, InboundStatus } from '../../../src/core/adapter.ts';
import { createAdapter, fixtureBytes, fixtureJson, postRequest, WEBHOOK_FIXTURES } from './helpers.ts';

async function parseFixture(name: string): Promise<InboundEvent[]> {
  const adapter = createAdapter();
  return adapter.parse(await adapter.verify(postRequest(fixtureBytes(name))));
}

async function onlyMessage(name: string): Promise<InboundMessage> {
  const events = await parseFixture(name);
  expect(events).toHaveLength(1);
  expect(events[0]!.kind).toBe('message');
  return events[0] as InboundMessage;
}

const sheena = { externalId: '16505551234', displayName: 'Sheena Nelson', phone: '+16505551234', phoneVerified: true };
const at = (seconds: number) => new Date(seconds * 1000);

describe('whatsapp fixtures', () => {
  it('covers every webhook fixture in this file', () => {
    expect(WEBHOOK_FIXTURES).toHaveLength(15);
  });

  it('text-message: text part, sender with verified phone, direct conversation, raw in Meta shape', async () => {
    const message = await onlyMessage('text-message.json');
    const source = fixtureJson('text-message.json').entry[0].changes[0].value;
    expect(message).toEqual({
      kind: 'message',
      dedupeKey: 'wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=',
      externalId: 'wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=',
      conversation: { externalId: '16505551234', kind: 'direct' },
      sender: sheena,
      timestamp: at(1749416383),
      parts: [{ type: 'text', text: 'Does it come in another color?' }],
      sessionGrant: 'message',
      raw: { metadata: source.metadata, contacts: source.contacts, messages: source.messages },
    });
  });

  it('image-message: media ref with id, mime, hex sha256 and caption', async () => {
    const message = await onlyMessage('image-message.json');
    expect(message.parts).toEqual([
      {
        type: 'image',
        caption: 'Taj Mahal',
        media: {
          ref: '1003383421387256',
          declaredMime: 'image/jpeg',
          sha256: Buffer.from('SfInY0gGKTsJlUWbwxC1k+FAD0FZHvzwfpvO0zX0GUI=', 'base64').toString('hex'),
        },
      },
    ]);
    expect(message.timestamp).toEqual(at(1744344496));
  });

  it('location-message: coordinates, name, address and url', async () => {
    const message = await onlyMessage('location-message.json');
    expect(message.parts).toEqual([
      {
        type: 'location',
        latitude: 37.44221496582,
        longitude: -122.16165924072,
        name: 'Philz Coffee',
        address: '101 Forest Ave, Palo Alto, CA 94301',
        meta: { url: 'https://philzcoffee.com/' },
      },
    ]);
  });

  it('location-message-reply-to-location-request: location with replyTo', async () => {
    const message = await onlyMessage('location-message-reply-to-location-request.json');
    expect(message.parts[0]).toMatchObject({ type: 'location', latitude: 40.782910059774, name: 'Solomon R. Guggenheim Museum' });
    expect(message.replyTo).toEqual({ externalId: 'wamid.HBgLMTY0NjcwNDM1OTUVAgARGBI1QjJGRjI1RDY0RkE4Nzg4QzcA' });
    expect(message.sender.displayName).toBe('Pablo Morales');
  });

  it('contacts-message: one contact_card per shared contact', async () => {
    const message = await onlyMessage('contacts-message.json');
    const shared = fixtureJson('contacts-message.json').entry[0].changes[0].value.messages[0].contacts[0];
    expect(message.parts).toEqual([{ type: 'contact_card', name: 'Lucía Gómez', phones: ['+1 (983) 555-2319'], raw: shared }]);
  });

  it('reaction-message: emoji and the wamid reacted to', async () => {
    const message = await onlyMessage('reaction-message.json');
    expect(message.parts).toEqual([{ type: 'reaction', emoji: '👍', targetExternalId: 'wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI0RTJEOTc2ODVERUY5RDlGNkYA' }]);
  });

  it('interactive-button-reply: reply part with the button id and title', async () => {
    const message = await onlyMessage('interactive-button-reply.json');
    expect(message.parts).toEqual([{ type: 'reply', id: 'change-button', title: 'Change' }]);
    expect(message.replyTo).toEqual({ externalId: 'wamid.HBgLMTY0NjcwNDM1OTUVAgARGBJBM0Y4RUU0RUNFQkFDMjYzQUMA' });
  });

  it('interactive-list-reply: reply part with the row description in meta', async () => {
    const message = await onlyMessage('interactive-list-reply.json');
    expect(message.parts).toEqual([{ type: 'reply', id: 'priority_express', title: 'Priority Mail Express', meta: { description: 'Next Day to 2 Days' } }]);
  });

  it('button-reply-template-quick-reply: type button becomes a reply with the payload as id', async () => {
    const message = await onlyMessage('button-reply-template-quick-reply.json');
    expect(message.parts).toEqual([{ type: 'reply', id: 'Unsubscribe', title: 'Unsubscribe' }]);
    expect(message.timestamp).toEqual(at(1750091045));
  });

  it('text-message-click-to-whatsapp-ad-referral: referral kept, 72 h free entry point opened', async () => {
    const message = await onlyMessage('text-message-click-to-whatsapp-ad-referral.json');
    expect(message.parts).toEqual([{ type: 'text', text: 'Hello! Can I get more info on this?' }]);
    expect(message.referral).toMatchObject({ source_type: 'ad', source_id: '120226305854810726', ctwa_clid: expect.stringMatching(/^Aff-/) });
    expect(message.pricingWindow).toEqual({ kind: 'free_entry_point', durationMs: 72 * 3600 * 1000 });
    expect(message.sessionGrant).toBe('message');
  });

  it('text-message-product-inquiry-context: referred product in part meta, replyTo set', async () => {
    const message = await onlyMessage('text-message-product-inquiry-context.json');
    expect(message.parts).toEqual([
      { type: 'text', text: 'Is this still available?', meta: { referredProduct: { catalog_id: '194836987003835', product_retailer_id: 'di9ozbzfi4' } } },
    ]);
    expect(message.replyTo).toEqual({ externalId: 'wamid.HBgLMTY1MDM4Nzk0MzkVAgARGA9wcm9kdWN0X2lucXVpcnkA' });
  });

  it('order-message: a text summary with the order object in meta', async () => {
    const message = await onlyMessage('order-message.json');
    const order = fixtureJson('order-message.json').entry[0].changes[0].value.messages[0].order;
    expect(message.parts).toEqual([{ type: 'text', text: 'Order: 2 × di9ozbzfi4 @ 30 USD, 1 × nqryix03ez @ 25 USD', meta: { order } }]);
  });

  it('unsupported-message: unsupported part with the error message and code', async () => {
    const message = await onlyMessage('unsupported-message.json');
    expect(message.parts).toEqual([
      { type: 'unsupported', reason: 'Message type unknown', meta: { code: '131051', details: 'Message type is currently not supported.' } },
    ]);
    expect(message.sessionGrant).toBe('message');
  });

  it('system-user-changed-number: identity event from the old to the new wa_id, no phone, no window', async () => {
    const events = await parseFixture('system-user-changed-number.json');
    expect(events).toHaveLength(1);
    const event = events[0] as InboundIdentityEvent;
    expect(event).toMatchObject({
      kind: 'identity',
      dedupeKey: 'wamid.HBgLMTk4MzU1NTE5NzQVAgASGAoxMTgyMDg2MjY3AA==',
      identity: { externalId: '16505551234' },
      change: 'changed_id',
      newExternalId: '12195555358',
      timestamp: at(1750269342),
    });
    expect(event.identity.phone).toBeUndefined();
    expect(event).not.toHaveProperty('sessionGrant');
  });

  it('status-delivered: status event keyed by wamid and status, recipient, no error', async () => {
    const events = await parseFixture('status-delivered.json');
    expect(events).toHaveLength(1);
    const status = events[0] as InboundStatus;
    const source = fixtureJson('status-delivered.json').entry[0].changes[0].value;
    expect(status).toEqual({
      kind: 'status',
      dedupeKey: 'status:wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3MTE5MjVBOTE3MDk5QUVFM0YA:delivered',
      externalId: 'wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3MTE5MjVBOTE3MDk5QUVFM0YA',
      status: 'delivered',
      timestamp: at(1750263773),
      recipient: '16505551234',
      // The fixture's conversation-based pricing, read into the cost ledger's facts.
      cost: { category: 'service', billable: true, units: 1, pricingModel: 'CBP' },
      raw: { metadata: source.metadata, statuses: source.statuses },
    });
  });

  it('keeps raw untouched: the message object in raw is deep-equal to the wire', async () => {
    for (const name of WEBHOOK_FIXTURES) {
      const value = fixtureJson(name).entry[0].changes[0].value;
      const [event] = await parseFixture(name);
      const raw = (event as { raw: Record<string, unknown> }).raw;
      expect(raw.messages ?? raw.statuses, name).toEqual(value.messages ?? value.statuses);
    }
  });

  it('every customer message carries sheena-or-pablo with a verified phone', async () => {
    for (const name of WEBHOOK_FIXTURES) {
      for (const event of await parseFixture(name)) {
        if (event.kind !== 'message') continue;
        expect(event.sender.phone, name).toBe('+16505551234');
        expect(event.sender.phoneVerified, name).toBe(true);
        expect(['Sheena Nelson', 'Pablo Morales'], name).toContain(event.sender.displayName);
      }
    }
  });
});
