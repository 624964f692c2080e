/**
 * Shapes the fixtures lack, built from Meta's OpenAPI schemas and the BSUID docs (reference
 * 1.2–1.3): media types, BSUID-only senders, batches, routing, statuses with errors, oddities.
 */
import { describe, expect, it } from 'vitest';
import type { InboundEvent, InboundIdentityEvent, InboundMessage, InboundStatus } from '../../../src/core/adapter.ts';
import { WebhookPayloadError } from '../../../src/core/errors.ts';
import { createAdapter, envelope, postRequest } from './helpers.ts';

const contact = { profile: { name: 'Kerry Fisher' }, wa_id: '16315551234' };
const base = { from: '16315551234', timestamp: '1763719200' };

async function parse(payload: unknown): Promise<InboundEvent[]> {
  const adapter = createAdapter();
  return adapter.parse(await adapter.verify(postRequest(JSON.stringify(payload))));
}

async function parseMessage(message: Record<string, unknown>, contacts: unknown[] = [contact]): Promise<InboundMessage> {
  const events = await parse(envelope({ contacts, messages: [{ ...base, id: 'wamid.TEST1', ...message }] }));
  expect(events).toHaveLength(1);
  expect(events[0]!.kind).toBe('message');
  return events[0] as InboundMessage;
}

describe('whatsapp media messages', () => {
  it('audio with voice: true is a voice part; plain audio stays audio', async () => {
    const voice = await parseMessage({ type: 'audio', audio: { id: '111', mime_type: 'audio/ogg; codecs=opus', sha256: 'a'.repeat(64), voice: true } });
    expect(voice.parts).toEqual([{ type: 'voice', media: { ref: '111', declaredMime: 'audio/ogg; codecs=opus', sha256: 'a'.repeat(64) } }]);
    const audio = await parseMessage({ type: 'audio', audio: { id: '112', mime_type: 'audio/mpeg', voice: false } });
    expect(audio.parts).toEqual([{ type: 'audio', media: { ref: '112', declaredMime: 'audio/mpeg' } }]);
  });

  it('video with caption, document as file with filename, sticker with animated flag', async () => {
    const video = await parseMessage({ type: 'video', video: { id: '221', mime_type: 'video/mp4', caption: 'unboxing' } });
    expect(video.parts).toEqual([{ type: 'video', caption: 'unboxing', media: { ref: '221', declaredMime: 'video/mp4' } }]);
    const document = await parseMessage({ type: 'document', document: { id: '331', mime_type: 'application/pdf', filename: 'invoice.pdf', caption: 'here' } });
    expect(document.parts).toEqual([
      { type: 'file', caption: 'here', filename: 'invoice.pdf', media: { ref: '331', declaredMime: 'application/pdf', filename: 'invoice.pdf' } },
    ]);
    const sticker = await parseMessage({ type: 'sticker', sticker: { id: '441', mime_type: 'image/webp', animated: true } });
    expect(sticker.parts).toEqual([{ type: 'sticker', media: { ref: '441', declaredMime: 'image/webp' }, meta: { animated: true } }]);
  });

  it('a media message without a media id is unsupported, not a broken media part', async () => {
    const message = await parseMessage({ type: 'image', image: { mime_type: 'image/jpeg' } });
    expect(message.parts).toEqual([{ type: 'unsupported', reason: 'malformed image message' }]);
  });
});

describe('whatsapp other message types', () => {
  it('reaction removed: absent or empty emoji becomes ""', async () => {
    for (const reaction of [{ message_id: 'wamid.X' }, { message_id: 'wamid.X', emoji: '' }]) {
      const message = await parseMessage({ type: 'reaction', reaction });
      expect(message.parts).toEqual([{ type: 'reaction', emoji: '', targetExternalId: 'wamid.X' }]);
    }
  });

  it('request_welcome: an unsupported part that still grants the window', async () => {
    const message = await parseMessage({ type: 'request_welcome' });
    expect(message.parts).toEqual([{ type: 'unsupported', reason: 'request_welcome', meta: { event: 'request_welcome' } }]);
    expect(message.sessionGrant).toBe('message');
  });

  it('an unknown type is an unsupported part naming the type', async () => {
    const message = await parseMessage({ type: 'hologram', hologram: {} });
    expect(message.parts).toEqual([{ type: 'unsupported', reason: 'unsupported message type: hologram' }]);
  });

  it('interactive nfm_reply (Flows) is a reply with the response JSON kept as a string', async () => {
    const message = await parseMessage({
      type: 'interactive',
      interactive: { type: 'nfm_reply', nfm_reply: { name: 'flow', body: 'Sent', response_json: '{"flow_token":"t"}' } },
    });
    expect(message.parts).toEqual([{ type: 'reply', id: 'flow', title: 'Sent', meta: { flowResponseJson: '{"flow_token":"t"}' } }]);
  });

  it('a forwarded message keeps the forwarding facts in meta', async () => {
    const message = await parseMessage({ type: 'text', text: { body: 'fwd' }, context: { forwarded: true } });
    expect(message.parts).toEqual([{ type: 'text', text: 'fwd', meta: { forwarded: true } }]);
    expect(message.replyTo).toBeUndefined();
  });

  it('a referral from a boosted post is kept but opens no free entry point', async () => {
    const message = await parseMessage({ type: 'text', text: { body: 'hi' }, referral: { source_type: 'post', source_id: '1' } });
    expect(message.referral).toEqual({ source_type: 'post', source_id: '1' });
    expect(message.pricingWindow).toBeUndefined();
  });

  it('a message with group_id belongs to the group conversation', async () => {
    const message = await parseMessage({ type: 'text', text: { body: 'hi all' }, group_id: 'GROUP.1203630' });
    expect(message.conversation).toEqual({ externalId: 'GROUP.1203630', kind: 'group' });
  });
});

describe('whatsapp identities (BSUID)', () => {
  it('a BSUID-only sender (username, no number) keys on user_id and has no phone', async () => {
    const message = await parseMessage(
      { from_user_id: 'US.13491208655302741918', from: undefined, type: 'text', text: { body: 'hey' } },
      [{ profile: { name: 'Kerry', username: 'kerry.fisher' }, user_id: 'US.13491208655302741918' }],
    );
    expect(message.sender).toEqual({ externalId: 'US.13491208655302741918', displayName: 'Kerry', username: 'kerry.fisher' });
    expect(message.conversation).toEqual({ externalId: 'US.13491208655302741918', kind: 'direct' });
  });

  it('BSUID beside wa_id: keyed on the BSUID, wa_id and parent BSUID as aliases, phone kept', async () => {
    const message = await parseMessage(
      { from_user_id: 'US.134', type: 'text', text: { body: 'hey' } },
      [{ profile: { name: 'Kerry' }, wa_id: '16315551234', user_id: 'US.134', parent_user_id: 'US.ENT.99' }],
    );
    expect(message.sender).toEqual({
      externalId: 'US.134', aliases: ['16315551234', 'US.ENT.99'], displayName: 'Kerry', phone: '+16315551234', phoneVerified: true,
    });
  });

  it('user_changed_user_id: identity event from the old BSUID to the new one', async () => {
    const events = await parse(envelope({
      messages: [{ id: 'wamid.SYS', timestamp: '1763719200', from_user_id: 'US.111', type: 'system',
        system: { body: 'User changed from US.111 to US.222', user_id: 'US.222', type: 'user_changed_user_id' } }],
    }));
    expect(events).toEqual([expect.objectContaining({ kind: 'identity', identity: { externalId: 'US.111' }, change: 'changed_id', newExternalId: 'US.222' })]);
  });

  it('customer_identity_changed (a new security code, same ids) is ignored, counted', async () => {
    const events = await parse(envelope({
      messages: [{ id: 'wamid.SYS2', timestamp: '1763719200', from: '16315551234', type: 'system',
        system: { body: 'identity changed', identity: 'abc', type: 'customer_identity_changed' } }],
    }));
    expect(events).toEqual([{ kind: 'ignored', reason: 'system:customer_identity_changed' }]);
  });

  it('matches each message to its own contact in a multi-contact change', async () => {
    const events = (await parse(envelope({
      contacts: [{ profile: { name: 'B' }, wa_id: '222222222' }, { profile: { name: 'A' }, wa_id: '111111111' }],
      messages: [
        { id: 'wamid.A', timestamp: '1', from: '111111111', type: 'text', text: { body: 'a' } },
        { id: 'wamid.B', timestamp: '1', from: '222222222', type: 'text', text: { body: 'b' } },
      ],
    }))) as InboundMessage[];
    expect(events.map((event) => [event.externalId, event.sender.displayName])).toEqual([['wamid.A', 'A'], ['wamid.B', 'B']]);
  });
});

describe('whatsapp statuses', () => {
  it('failed with 131047: error code, title, details with href; dedupe key carries the code', async () => {
    const events = await parse(envelope({
      statuses: [{
        id: 'wamid.OUT', status: 'failed', timestamp: '1763719300', recipient_id: '16315551234',
        errors: [{ code: 131047, title: 'Re-engagement message', message: 'Re-engagement message',
          error_data: { details: 'Message failed to send because more than 24 hours have passed since the customer last replied to this number.' },
          href: 'https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/' }],
      }],
    }));
    const status = events[0] as InboundStatus;
    expect(status.dedupeKey).toBe('status:wamid.OUT:failed:131047');
    expect(status.error).toEqual({
      code: '131047',
      message: 'Re-engagement message',
      contractCode: 'session_expired',
      details: {
        details: 'Message failed to send because more than 24 hours have passed since the customer last replied to this number.',
        href: 'https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/',
      },
    });
    expect(status.timestamp).toEqual(new Date(1763719300 * 1000));
  });

  it('a status sent to a BSUID names recipient_user_id; sent, delivered and read get distinct keys', async () => {
    const statuses = ['sent', 'delivered', 'read'].map((status) => ({ id: 'wamid.OUT', status, timestamp: '1', recipient_user_id: 'US.134' }));
    const events = (await parse(envelope({ statuses }))) as InboundStatus[];
    expect(events.map((event) => [event.dedupeKey, event.recipient])).toEqual([
      ['status:wamid.OUT:sent', 'US.134'], ['status:wamid.OUT:delivered', 'US.134'], ['status:wamid.OUT:read', 'US.134'],
    ]);
  });

  it('an unknown status value is ignored with its name', async () => {
    expect(await parse(envelope({ statuses: [{ id: 'wamid.OUT', status: 'played', timestamp: '1' }] }))).toEqual([{ kind: 'ignored', reason: 'status:played' }]);
  });
});

describe('whatsapp envelope and routing', () => {
  it('a change for another phone_number_id: every item ignored as a mismatch', async () => {
    const payload = envelope({ contacts: [contact], messages: [{ ...base, id: 'wamid.1', type: 'text', text: { body: 'x' } }, { ...base, id: 'wamid.2', type: 'text', text: { body: 'y' } }] }, '999999999');
    expect(await parse(payload)).toEqual([
      { kind: 'ignored', reason: 'phone_number_id_mismatch' },
      { kind: 'ignored', reason: 'phone_number_id_mismatch' },
    ]);
  });

  it('a batch of 1000 messages across entries and changes parses to 1000 events', async () => {
    const change = (c: number) => ({
      field: 'messages',
      value: {
        messaging_product: 'whatsapp',
        metadata: { display_phone_number: '15550783881', phone_number_id: '106540352242922' },
        contacts: [contact],
        messages: Array.from({ length: 100 }, (_, m) => ({ ...base, id: `wamid.B${c}-${m}`, type: 'text', text: { body: `m${m}` } })),
      },
    });
    const payload = { object: 'whatsapp_business_account', entry: Array.from({ length: 5 }, (_, e) => ({ id: 'W', changes: [change(e * 2), change(e * 2 + 1)] })) };
    const events = await parse(payload);
    expect(events).toHaveLength(1000);
    expect(new Set(events.map((event) => (event as InboundMessage).dedupeKey)).size).toBe(1000);
  });

  it('other fields, account errors, malformed items and in-batch duplicates are ignored with reasons', async () => {
    const payload = envelope({
      errors: [{ code: 131052, title: 'Media download error' }],
      messages: [{ ...base, id: 'wamid.D', type: 'text', text: { body: 'x' } }, { ...base, id: 'wamid.D', type: 'text', text: { body: 'x' } }, { type: 'text' }],
      statuses: [{ status: 'sent' }],
    }) as { entry: Array<{ changes: unknown[] }> };
    payload.entry[0]!.changes.push({ field: 'message_template_status_update', value: {} });
    const events = await parse(payload);
    expect(events.filter((event) => event.kind === 'ignored')).toEqual([
      { kind: 'ignored', reason: 'account_error:131052' },
      { kind: 'ignored', reason: 'duplicate_in_batch' },
      { kind: 'ignored', reason: 'malformed_message' },
      { kind: 'ignored', reason: 'malformed_status' },
      { kind: 'ignored', reason: 'field:message_template_status_update' },
    ]);
    expect(events.filter((event) => event.kind === 'message')).toHaveLength(1);
  });

  it('refuses bodies that are not WhatsApp webhooks with WebhookPayloadError and a reason', async () => {
    const deepInside = JSON.stringify(envelope({ messages: [{ ...base, id: 'wamid.DEEP', type: 'text', text: { body: 'x' }, extra: 0 }] }))
      .replace('"extra":0', `"extra":${'['.repeat(60)}${']'.repeat(60)}`);
    const cases: Array<[string, string]> = [
      ['{"object":"page","entry":[]}', 'unexpected_object'],
      ['[]', 'not_an_object'],
      ['{"object":"whatsapp_business_account"}', 'missing_entry'],
      ['not json', 'invalid_json'],
      [deepInside, 'too_deep'],
    ];
    for (const [body, reason] of cases) {
      const adapter = createAdapter();
      let caught: unknown;
      try {
        adapter.parse({ request: postRequest(body), body: new TextEncoder().encode(body) });
      } catch (error) {
        caught = error;
      }
      expect(caught, reason).toBeInstanceOf(WebhookPayloadError);
      expect((caught as WebhookPayloadError).reason).toBe(reason);
    }
    const invalidUtf8 = Uint8Array.from([0x7b, 0xff, 0x7d]);
    expect(() => createAdapter().parse({ request: postRequest(invalidUtf8), body: invalidUtf8 })).toThrow(/invalid_utf8/);
  });

  it('accepts nesting up to the limit: a 50-deep value inside a message is kept in raw', async () => {
    const text = JSON.stringify(envelope({ contacts: [contact], messages: [{ ...base, id: 'wamid.OK', type: 'text', text: { body: 'x' }, extra: 0 }] }))
      .replace('"extra":0', `"extra":${'['.repeat(50)}${']'.repeat(50)}`);
    const adapter = createAdapter();
    const events = adapter.parse(await adapter.verify(postRequest(text)));
    expect(events[0]).toMatchObject({ kind: 'message', externalId: 'wamid.OK' });
  });

  it('system events carry no session grant and no phone', async () => {
    const events = await parse(envelope({ messages: [{ id: 'wamid.S', timestamp: '1', from: '16315551234', type: 'system', system: { wa_id: '16315550000', type: 'user_changed_number' } }] }));
    const event = events[0] as InboundIdentityEvent;
    expect(event.kind).toBe('identity');
    expect(event.identity).toEqual({ externalId: '16315551234' });
  });
});
