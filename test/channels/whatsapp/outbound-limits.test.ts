/**
 * Limits Meta publishes (reference 1.4, 1.6) are checked before anything is uploaded or sent:
 * a bad template is `template_invalid`, a bad part `invalid_request`, a media type WhatsApp
 * cannot carry `attachment_type_not_allowed` — and the platform never sees a request.
 */
import { describe, expect, it } from 'vitest';
import type { OutboundMessage, OutboundPart } from '../../../src/core/adapter.ts';
import { OmniError } from '../../../src/core/errors.ts';
import { createAdapter, testAccount } from './helpers.ts';
import { inMemoryHttpClient, media, noAbort, outbound } from './outbound-helpers.ts';

/** Sends and returns the error, asserting no request was made. */
async function refusal(message: OutboundMessage): Promise<OmniError> {
  const http = inMemoryHttpClient(() => new Response('{}'));
  const adapter = createAdapter(testAccount(), http);
  const error = await adapter.send!(message, noAbort).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(http.seen).toEqual([]);
  expect(error).toBeInstanceOf(OmniError);
  return error as OmniError;
}

const template = (params: Record<string, unknown>, name = 'order_update', language = 'en_US') => outbound([], { template: { name, language, params } });
const long = (length: number) => 'x'.repeat(length);

describe('template limits → template_invalid before any request', () => {
  const cases: Array<[string, OutboundMessage, string]> = [
    ['upper case in the name', template({}, 'Order-Update'), 'template.name'],
    ['a name over 512 characters', template({}, long(513)), 'template.name'],
    ['a language that is not a code', template({}, 'order_update', 'English'), 'template.language'],
    ['a header text over 60 characters', template({ header: long(61) }), 'template.params.header'],
    ['a header of an unknown type', template({ header: { type: 'audio', link: 'https://example.com/a.mp3' } }), 'template.params.header.type'],
    ['a media header with both link and id', template({ header: { type: 'image', link: 'https://example.com/a.jpg', id: '1' } }), 'template.params.header'],
    ['a media header on http', template({ header: { type: 'image', link: 'http://example.com/a.jpg' } }), 'template.params.header.link'],
    ['an empty body parameter', template({ body: ['Kerry', ''] }), 'template.params.body[1]'],
    ['a new line in a body parameter', template({ body: ['Kerry\nFisher'] }), 'template.params.body[0]'],
    ['five spaces in a body parameter', template({ body: ['a     b'] }), 'template.params.body[0]'],
    ['a body parameter over 1024 characters', template({ body: [long(1025)] }), 'template.params.body[0]'],
    ['more body parameters than declared', template({ body: Array.from({ length: 101 }, (_, i) => `p${i}`) }), 'template.params.body'],
    ['a named parameter with a bad name', template({ body: { 'First-Name': 'Kerry' } }), 'template.params.body.First-Name'],
    ['a body that is a string', template({ body: 'Kerry' }), 'template.params.body'],
    ['an unknown params key', template({ bdy: ['Kerry'] }), 'template.params'],
    ['components mixed with body', template({ components: [], body: ['x'] }), 'template.params.components'],
    ['components without a type', template({ components: [{ parameters: [] }] }), 'template.params.components[0]'],
    ['more than 10 buttons', template({ buttons: Array.from({ length: 11 }, (_, i) => `b${i}`) }), 'template.params.buttons'],
    ['two buttons at one index', template({ buttons: ['a', { subType: 'quick_reply', payload: 'b', index: 0 }] }), 'template.params.buttons[1].index'],
    ['an unknown button kind', template({ buttons: [{ subType: 'call', payload: 'x' }] }), 'template.params.buttons[0].subType'],
    ['a URL button without suffix', template({ buttons: [{ subType: 'url' }] }), 'template.params.buttons[0].text'],
    ['a copy code over 15 characters', template({ buttons: [{ subType: 'copy_code', code: long(16) }] }), 'template.params.buttons[0].code'],
  ];
  for (const [name, message, field] of cases) {
    it(name, async () => {
      const error = await refusal(message);
      expect(error.code).toBe('template_invalid');
      expect(error.details?.field).toBe(field);
    });
  }
});

describe('part limits → invalid_request before any request', () => {
  const buttons = (extra: Partial<Extract<OutboundPart, { type: 'buttons' }>>): OutboundPart => ({
    type: 'buttons', text: 'Choose', buttons: [{ id: 'a', title: 'A' }], ...extra,
  });
  const list = (extra: Partial<Extract<OutboundPart, { type: 'list' }>>): OutboundPart => ({
    type: 'list', text: 'Choose', button: 'Options', sections: [{ rows: [{ id: 'r', title: 'Row' }] }], ...extra,
  });
  const rows = (count: number) => Array.from({ length: count }, (_, i) => ({ id: `r${i}`, title: `Row ${i}` }));
  const cases: Array<[string, OutboundPart, string]> = [
    ['text over 4096 characters', { type: 'text', text: long(4097) }, 'parts[0].text'],
    ['empty text', { type: 'text', text: '' }, 'parts[0].text'],
    ['a caption over 1024 characters', { type: 'image', media: media('image/png', 'png'), caption: long(1025) }, 'parts[0].caption'],
    ['four buttons', buttons({ buttons: [1, 2, 3, 4].map((i) => ({ id: `b${i}`, title: `B${i}` })) }), 'parts[0].buttons'],
    ['a button title over 20 characters', buttons({ buttons: [{ id: 'a', title: long(21) }] }), 'parts[0].buttons[0].title'],
    ['a button id over 256 characters', buttons({ buttons: [{ id: long(257), title: 'A' }] }), 'parts[0].buttons[0].id'],
    ['duplicate button ids', buttons({ buttons: [{ id: 'a', title: 'A' }, { id: 'a', title: 'B' }] }), 'parts[0].buttons[].id'],
    ['a button body over 1024 characters', buttons({ text: long(1025) }), 'parts[0].text'],
    ['a header over 60 characters', buttons({ header: long(61) }), 'parts[0].header'],
    ['a footer over 60 characters', buttons({ footer: long(61) }), 'parts[0].footer'],
    ['a list button label over 20 characters', list({ button: long(21) }), 'parts[0].button'],
    ['eleven sections', list({ sections: Array.from({ length: 11 }, (_, i) => ({ title: `S${i}`, rows: [{ id: `r${i}`, title: 'R' }] })) }), 'parts[0].sections'],
    ['eleven rows in total', list({ sections: [{ title: 'A', rows: rows(6) }, { title: 'B', rows: rows(5).map((row) => ({ ...row, id: `b${row.id}` })) }] }), 'parts[0].sections[].rows'],
    ['a row title over 24 characters', list({ sections: [{ rows: [{ id: 'r', title: long(25) }] }] }), 'parts[0].sections[0].rows[0].title'],
    ['a row description over 72 characters', list({ sections: [{ rows: [{ id: 'r', title: 'R', description: long(73) }] }] }), 'parts[0].sections[0].rows[0].description'],
    ['several sections without titles', list({ sections: [{ rows: [{ id: 'a', title: 'A' }] }, { rows: [{ id: 'b', title: 'B' }] }] }), 'parts[0].sections[0].title'],
    ['a latitude out of range', { type: 'location', latitude: 91, longitude: 0 }, 'parts[0].latitude'],
  ];
  for (const [name, part, field] of cases) {
    it(name, async () => {
      const error = await refusal(outbound([part]));
      expect(error.code).toBe('invalid_request');
      expect(error.details?.field).toBe(field);
    });
  }

  it('an invalid later part stops the whole message: nothing is sent', async () => {
    const error = await refusal(outbound([{ type: 'text', text: 'first' }, buttons({ buttons: [] })]));
    expect(error.details?.field).toBe('parts[1].buttons');
  });

  it('a message with neither parts nor a template', async () => {
    expect((await refusal(outbound([]))).code).toBe('invalid_request');
  });
});

describe('media WhatsApp cannot carry → attachment_type_not_allowed before any upload', () => {
  const cases: Array<[string, OutboundPart]> = [
    ['a GIF as image', { type: 'image', media: media('image/gif', 'gif') }],
    ['a WebP as image (stickers only)', { type: 'image', media: media('image/webp', 'webp') }],
    ['a QuickTime video', { type: 'video', media: media('video/quicktime', 'mov') }],
    ['a ZIP as file', { type: 'file', media: media('application/zip', 'zip') }],
    ['a PNG as sticker', { type: 'sticker', media: media('image/png', 'png') }],
    ['a WAV as voice', { type: 'voice', media: media('audio/wav', 'wav') }],
  ];
  for (const [name, part] of cases) {
    it(name, async () => {
      const error = await refusal(outbound([part]));
      expect(error.code).toBe('attachment_type_not_allowed');
      expect(error.details).toMatchObject({ field: 'parts[0].media', partType: part.type });
    });
  }
});
