/** Every real Telegram payload in test/fixtures/telegram, parsed into exactly the events the core expects. */
import { describe, expect, it } from 'vitest';
import { FIXTURE_NAMES, NOW, fixtureBytes, parse } from './helpers.ts';

const one = async (name: string) => {
  const events = await parse(fixtureBytes(name));
  expect(events).toHaveLength(1);
  return events[0] as any;
};

describe('telegram fixtures', () => {
  it('covers every fixture file in this test', () => {
    expect(FIXTURE_NAMES).toEqual([
      'audio-message-update.json',
      'callback-query-update.json',
      'document-message-update.json',
      'edited-message-update.json',
      'my-chat-member-bot-blocked-update.json',
      'photo-message.json',
      'private-text-message-update.json',
      'reply-message-update.json',
      'sticker-message.json',
      'text-message-update.json',
      'text-message-with-link-preview-options-update.json',
      'voice-message-update.json',
    ]);
  });

  it('text-message-update: a /start text in the private chat, keyed on chat and message id', async () => {
    const event = await one('text-message-update.json');
    expect(event).toMatchObject({
      kind: 'message',
      dedupeKey: '1111111:1365',
      externalId: '1111111:1365',
      conversation: { externalId: '1111111', kind: 'direct' },
      sender: { externalId: '1111111', displayName: 'Test Firstname Test Lastname', username: 'Testusername' },
      timestamp: new Date(1441645532 * 1000),
      parts: [{ type: 'text', text: '/start' }],
      sessionGrant: 'message',
    });
    expect(event.sender.phone).toBeUndefined();
  });

  it('private-text-message-update: the modern full Update', async () => {
    const event = await one('private-text-message-update.json');
    expect(event).toMatchObject({ dedupeKey: '408258968:154', sender: { externalId: '408258968', displayName: 'Hirrolot', username: 'hirrolot' }, parts: [{ type: 'text', text: '4' }] });
  });

  it('text-message-with-link-preview-options: the disabled preview is kept on the part', async () => {
    const event = await one('text-message-with-link-preview-options-update.json');
    expect(event.parts).toEqual([{ type: 'text', text: 'hello there', previewUrl: false }]);
    expect(event.dedupeKey).toBe('218485655:6557');
  });

  it('reply-message-update: replyTo names the quoted message in the same chat', async () => {
    const event = await one('reply-message-update.json');
    expect(event.replyTo).toEqual({ externalId: '1111111:1334' });
  });

  it('edited-message-update: an edit of the original message, never a second message', async () => {
    const event = await one('edited-message-update.json');
    expect(event).toMatchObject({
      kind: 'edit',
      targetExternalId: '1111111:1365',
      dedupeKey: 'edit:1111111:1365:1441646600',
      conversation: { externalId: '1111111', kind: 'direct' },
      parts: [{ type: 'text', text: 'Edited text' }],
    });
  });

  it('audio, voice and document: media parts with the file_id, declared mime and size', async () => {
    expect((await one('audio-message-update.json')).parts).toEqual([
      { type: 'audio', media: { ref: 'AwADBAADbXXXXXXXXXXXGBdhD2l6_XX', declaredMime: 'audio/mpeg', declaredSize: 3897500 }, meta: { title: 'Test music file', duration: 243 } },
    ]);
    expect((await one('voice-message-update.json')).parts).toEqual([
      { type: 'voice', media: { ref: 'AwADBAADbXXXXXXXXXXXGBdhD2l6_XX', declaredMime: 'audio/ogg', declaredSize: 23000 } },
    ]);
    expect((await one('document-message-update.json')).parts).toEqual([
      { type: 'file', filename: 'Testfile.pdf', media: { ref: 'AwADBAADbXXXXXXXXXXXGBdhD2l6_XX', declaredMime: 'application/pdf', filename: 'Testfile.pdf', declaredSize: 536392 } },
    ]);
  });

  it('photo-message: one image part from the largest size', async () => {
    const event = await one('photo-message.json');
    expect(event.parts).toEqual([
      { type: 'image', media: { ref: 'AgADAgAD36sxG-PX0UvQSXIn9rccdw-ACA4ABAEAAwIAA3kAAyTcBAABFgQ', declaredMime: 'image/jpeg', declaredSize: 75245 } },
    ]);
    expect(event.sender.displayName).toBe('Андрей Власов');
  });

  it('sticker-message: an animated (TGS) sticker with its emoji and set', async () => {
    const event = await one('sticker-message.json');
    expect(event.parts).toEqual([
      {
        type: 'sticker',
        media: { ref: 'CAACAgIAAxkBAAESLdBjMImep-J0W8XaTN6S_Lz1-j1QIQACIwADsND4DGmmygHGlyggKQQ', declaredMime: 'application/x-tgsticker', declaredSize: 16639 },
        meta: { emoji: '😡', setName: 'AdvenTimeAnim', fileUniqueId: 'AgADIwADsND4DA' },
      },
    ]);
  });

  it('callback-query-update: a reply part keyed on the query id, in the user chat (inline message)', async () => {
    const event = await one('callback-query-update.json');
    expect(event).toMatchObject({
      kind: 'message',
      dedupeKey: 'callback:4382bfdwdsb323b2d9',
      conversation: { externalId: '1111111', kind: 'direct' },
      sender: { externalId: '1111111' },
      timestamp: NOW,
      parts: [{ type: 'reply', id: 'Data from button callback', title: 'Data from button callback', meta: { callbackQueryId: '4382bfdwdsb323b2d9' } }],
    });
    expect(event.replyTo).toBeUndefined();
  });

  it('my-chat-member-bot-blocked-update: the user is unreachable', async () => {
    const event = await one('my-chat-member-bot-blocked-update.json');
    expect(event).toMatchObject({ kind: 'identity', change: 'unreachable', identity: { externalId: '0', displayName: 'FN LN' }, dedupeKey: 'member:0:1644677726:kicked' });
  });
});
