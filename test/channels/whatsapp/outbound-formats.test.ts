/**
 * WhatsApp `send` against the sandbox fake, in memory: every request body compared with the
 * shapes Meta documents (reference 1.4), media uploaded first (1.5) and sent by id.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { createFake } from '../../../src/channels/whatsapp/sandbox.ts';
import type { WhatsAppSendRaw } from '../../../src/channels/whatsapp/outbound.ts';
import { ManualClock } from '../../../src/core/clock.ts';
import type { OutboundMessage } from '../../../src/core/adapter.ts';
import { createAdapter, PHONE_NUMBER_ID, SECRETS, testAccount } from './helpers.ts';
import { fakeHttpClient, media, noAbort, outbound } from './outbound-helpers.ts';

const CUSTOMER = '16315551234';
const BSUID = 'US.13491208655302741918';
const account = testAccount();
const clock = new ManualClock();
const fake = createFake({ accounts: [account], clock });
const http = fakeHttpClient(fake);
const adapter = createAdapter(account, http);
const envelope = { messaging_product: 'whatsapp', recipient_type: 'individual', to: CUSTOMER };

const send = (message: OutboundMessage) => adapter.send!(message, noAbort);
const messagePosts = () => http.seen.filter((request) => request.url.pathname.endsWith('/messages')).map((request) => request.body);
const uploads = () => http.seen.filter((request) => request.url.pathname.endsWith('/media'));
/** The media ids the fake answered to this test's uploads. */
const uploadedIds = async () => Promise.all(uploads().map(async (upload) => ((await upload.answer!.clone().json()) as { id: string }).id));

beforeEach(() => {
  http.seen.length = 0;
  fake.holdStatuses(true);
  fake.noteInbound(PHONE_NUMBER_ID, CUSTOMER, clock.now());
});

describe('whatsapp send: text, location, reaction', () => {
  it('posts text to /{version}/{phoneNumberId}/messages with the bearer token and preview_url', async () => {
    const result = await send(outbound([{ type: 'text', text: 'Track it at https://example.com/t/1', previewUrl: true }]));
    const [request] = http.seen;
    expect(request!.method).toBe('POST');
    expect(request!.url.pathname).toBe(`/v23.0/${PHONE_NUMBER_ID}/messages`);
    expect(request!.url.host).toBe('graph.facebook.com');
    expect(request!.headers.get('authorization')).toBe(`Bearer ${SECRETS.accessToken}`);
    expect(request!.headers.get('content-type')).toBe('application/json');
    expect(request!.options.trustedHosts).toEqual(['graph.facebook.com']);
    expect(request!.body).toEqual({ ...envelope, type: 'text', text: { preview_url: true, body: 'Track it at https://example.com/t/1' } });
    expect(result.externalId).toBe(fake.sent().at(-1)!.wamid);
    expect(result.externalId).toMatch(/^wamid\./);
    expect((result.raw as WhatsAppSendRaw).responses[0]).toEqual({
      messaging_product: 'whatsapp',
      contacts: [{ input: CUSTOMER, wa_id: CUSTOMER }],
      messages: [{ id: result.externalId }],
    });
  });

  it('sends preview_url false unless asked', async () => {
    await send(outbound([{ type: 'text', text: 'hello' }]));
    expect(messagePosts()).toEqual([{ ...envelope, type: 'text', text: { preview_url: false, body: 'hello' } }]);
  });

  it('sends a location and a reaction in Meta shapes', async () => {
    await send(outbound([{ type: 'location', latitude: 37.4847, longitude: -122.1477, name: 'Meta HQ', address: '1 Hacker Way' }]));
    await send(outbound([{ type: 'reaction', emoji: '👍', targetExternalId: 'wamid.IN' }]));
    expect(messagePosts()).toEqual([
      { ...envelope, type: 'location', location: { latitude: 37.4847, longitude: -122.1477, name: 'Meta HQ', address: '1 Hacker Way' } },
      { ...envelope, type: 'reaction', reaction: { message_id: 'wamid.IN', emoji: '👍' } },
    ]);
  });

  it('quotes replyTo as context.message_id on the first message that can carry it', async () => {
    await send(outbound([{ type: 'text', text: 'answer' }], { replyTo: { externalId: 'wamid.Q' } }));
    await send(outbound([{ type: 'reaction', emoji: '❤️', targetExternalId: 'wamid.Q' }, { type: 'text', text: 'and text' }], { replyTo: { externalId: 'wamid.Q' } }));
    const posts = messagePosts();
    expect(posts[0]).toEqual({ ...envelope, type: 'text', text: { preview_url: false, body: 'answer' }, context: { message_id: 'wamid.Q' } });
    expect(posts[1].context).toBeUndefined();
    expect(posts[2].context).toEqual({ message_id: 'wamid.Q' });
  });

  it('addresses a BSUID with recipient instead of to', async () => {
    fake.noteInbound(PHONE_NUMBER_ID, BSUID);
    await send(outbound([{ type: 'text', text: 'hi' }], {}, BSUID));
    const [body] = messagePosts();
    expect(body.recipient).toBe(BSUID);
    expect(body).not.toHaveProperty('to');
  });
});

describe('whatsapp send: media is uploaded, then sent by id', () => {
  const cases = [
    { part: { type: 'image', media: media('image/jpeg', 'jpg'), caption: 'receipt' }, type: 'image', mime: 'image/jpeg', object: { caption: 'receipt' } },
    { part: { type: 'video', media: media('video/mp4', 'mp4'), caption: 'clip' }, type: 'video', mime: 'video/mp4', object: { caption: 'clip' } },
    { part: { type: 'audio', media: media('audio/mpeg', 'mp3') }, type: 'audio', mime: 'audio/mpeg', object: {} },
    { part: { type: 'voice', media: media('audio/ogg; codecs=opus', 'ogg') }, type: 'audio', mime: 'audio/ogg', object: { voice: true } },
    {
      part: { type: 'file', media: media('application/pdf', 'pdf', 'stored.pdf'), caption: 'your invoice', filename: 'invoice.pdf' },
      type: 'document', mime: 'application/pdf', object: { caption: 'your invoice', filename: 'invoice.pdf' },
    },
    { part: { type: 'sticker', media: media('image/webp', 'webp') }, type: 'sticker', mime: 'image/webp', object: {} },
  ] as const;

  for (const { part, type, mime, object } of cases) {
    it(`${part.type} → multipart upload (${mime}) then type ${type} with the media id`, async () => {
      await send(outbound([part as never]));
      const [upload] = uploads();
      expect(upload!.url.pathname).toBe(`/v23.0/${PHONE_NUMBER_ID}/media`);
      expect(upload!.headers.get('authorization')).toBe(`Bearer ${SECRETS.accessToken}`);
      expect(upload!.body).toEqual({
        messaging_product: 'whatsapp',
        file: { name: expect.any(String), type: mime, size: part.media.size },
        type: mime,
      });
      const [id] = await uploadedIds();
      expect(id).toMatch(/^\d{16}$/);
      expect(messagePosts()).toEqual([{ ...envelope, type, [type]: { id, ...object } }]);
    });
  }

  it('names the uploaded document after the part, else the stored media, else its id', async () => {
    await send(outbound([{ type: 'file', media: media('application/pdf', 'pdf', 'stored.pdf') }]));
    await send(outbound([{ type: 'file', media: media('application/pdf', 'pdf') }]));
    expect(uploads().map((upload) => upload.body.file.name)).toEqual(['stored.pdf', 'med_pdf.pdf']);
    expect(messagePosts().map((body) => body.document.filename)).toEqual(['stored.pdf', undefined]);
  });

  it('sends text + captionable media as one captioned message', async () => {
    const result = await send(outbound([{ type: 'text', text: 'here is the invoice' }, { type: 'file', media: media('application/pdf', 'pdf', 'a.pdf') }]));
    expect(messagePosts()).toEqual([{ ...envelope, type: 'document', document: { id: (await uploadedIds())[0], caption: 'here is the invoice', filename: 'a.pdf' } }]);
    expect((result.raw as WhatsAppSendRaw).externalIds).toHaveLength(1);
  });

  it('sends a caption on audio or a sticker as a text message after it', async () => {
    await send(outbound([{ type: 'audio', media: media('audio/mpeg', 'mp3'), caption: 'listen' }]));
    expect(messagePosts().map((body) => body.type)).toEqual(['audio', 'text']);
    expect(messagePosts()[0].audio).not.toHaveProperty('caption');
    expect(messagePosts()[1].text).toEqual({ preview_url: false, body: 'listen' });
  });

  it('sends one Graph message per part and returns the last wamid, with all of them in raw', async () => {
    const result = await send(outbound([
      { type: 'text', text: 'one' },
      { type: 'image', media: media('image/png', 'png') },
      { type: 'text', text: 'three' },
    ]));
    const wamids = fake.sent().slice(-3).map((entry) => entry.wamid);
    expect(messagePosts().map((body) => body.type)).toEqual(['text', 'image', 'text']);
    expect(result.externalId).toBe(wamids[2]);
    expect((result.raw as WhatsAppSendRaw).externalIds).toEqual(wamids);
  });
});

describe('whatsapp send: interactive', () => {
  it('reply buttons with header and footer', async () => {
    await send(outbound([{
      type: 'buttons', text: 'Change or cancel?', header: 'Your booking', footer: 'Reply within 1 h',
      buttons: [{ id: 'change-button', title: 'Change' }, { id: 'cancel-button', title: 'Cancel' }],
    }]));
    expect(messagePosts()).toEqual([{
      ...envelope, type: 'interactive',
      interactive: {
        type: 'button',
        header: { type: 'text', text: 'Your booking' },
        body: { text: 'Change or cancel?' },
        footer: { text: 'Reply within 1 h' },
        action: { buttons: [{ type: 'reply', reply: { id: 'change-button', title: 'Change' } }, { type: 'reply', reply: { id: 'cancel-button', title: 'Cancel' } }] },
      },
    }]);
  });

  it('a list with sections and rows', async () => {
    await send(outbound([{
      type: 'list', text: 'Pick a slot', button: 'Options',
      sections: [
        { title: 'Morning', rows: [{ id: 'am-9', title: '9:00', description: 'Front desk' }] },
        { title: 'Afternoon', rows: [{ id: 'pm-2', title: '14:00' }] },
      ],
    }]));
    expect(messagePosts()[0].interactive).toEqual({
      type: 'list',
      body: { text: 'Pick a slot' },
      action: {
        button: 'Options',
        sections: [
          { title: 'Morning', rows: [{ id: 'am-9', title: '9:00', description: 'Front desk' }] },
          { title: 'Afternoon', rows: [{ id: 'pm-2', title: '14:00' }] },
        ],
      },
    });
  });
});

describe('whatsapp send: templates', () => {
  const template = (name: string, params: Record<string, unknown>) => outbound([], { template: { name, language: 'en_US', params } }, '16505550000');

  it('positional body parameters; accepted outside the window; Meta answers message_status', async () => {
    const result = await send(template('order_update', { body: ['Kerry', '#1234'] }));
    expect(messagePosts()).toEqual([{
      ...envelope, to: '16505550000', type: 'template',
      template: { name: 'order_update', language: { code: 'en_US' }, components: [{ type: 'body', parameters: [{ type: 'text', text: 'Kerry' }, { type: 'text', text: '#1234' }] }] },
    }]);
    expect((result.raw as WhatsAppSendRaw).responses[0]).toMatchObject({ messages: [{ id: result.externalId, message_status: 'accepted' }] });
  });

  it('named parameters, a media header and buttons (quick reply payload, URL suffix)', async () => {
    await send(template('order_shipped', {
      header: { type: 'image', link: 'https://example.com/parcel.jpg' },
      body: { first_name: 'Kerry', order_id: '#1234' },
      buttons: ['track-1234', { subType: 'url', text: '1234' }],
    }));
    expect(messagePosts()[0].template).toEqual({
      name: 'order_shipped',
      language: { code: 'en_US' },
      components: [
        { type: 'header', parameters: [{ type: 'image', image: { link: 'https://example.com/parcel.jpg' } }] },
        { type: 'body', parameters: [{ type: 'text', text: 'Kerry', parameter_name: 'first_name' }, { type: 'text', text: '#1234', parameter_name: 'order_id' }] },
        { type: 'button', sub_type: 'quick_reply', index: '0', parameters: [{ type: 'payload', payload: 'track-1234' }] },
        { type: 'button', sub_type: 'url', index: '1', parameters: [{ type: 'text', text: '1234' }] },
      ],
    });
  });

  it('no params → no components; raw components pass through untouched', async () => {
    await send(template('hello_world', {}));
    const components = [{ type: 'body', parameters: [{ type: 'text', text: 'A' }, { type: 'currency', currency: { fallback_value: '$5', code: 'USD', amount_1000: 5000 } }] }];
    await send(template('order_update', { components }));
    expect(messagePosts()[0].template).toEqual({ name: 'hello_world', language: { code: 'en_US' } });
    expect(messagePosts()[1].template.components).toEqual(components);
  });

  it('text header, copy-code button and a currency parameter are built as Meta documents', async () => {
    const body = { message: template('any_template', {
      header: 'Sale',
      body: ['Kerry', { type: 'currency', currency: { fallback_value: '$5', code: 'USD', amount_1000: 5000 } }],
      buttons: [{ subType: 'copy_code', code: 'SAVE10', index: 2 }],
    }) };
    // Not in the fake's catalogue: the request is still built and sent as it would be to Meta.
    await expect(send(body.message)).rejects.toMatchObject({ code: 'template_invalid', details: { platformCode: 132001 } });
    expect(messagePosts()[0].template.components).toEqual([
      { type: 'header', parameters: [{ type: 'text', text: 'Sale' }] },
      { type: 'body', parameters: [{ type: 'text', text: 'Kerry' }, { type: 'currency', currency: { fallback_value: '$5', code: 'USD', amount_1000: 5000 } }] },
      { type: 'button', sub_type: 'copy_code', index: '2', parameters: [{ type: 'coupon_code', coupon_code: 'SAVE10' }] },
    ]);
  });
});
