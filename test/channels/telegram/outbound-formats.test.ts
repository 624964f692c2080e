/** What `send` puts on the wire, as the fake Bot API received it, for every part type. */
import { describe, expect, it } from 'vitest';
import { OmniError } from '../../../src/core/errors.ts';
import { CHAT, media, outbound, signal, withFake } from './outbound-helpers.ts';

describe('telegram send formats', () => {
  it('text: sendMessage with chat_id as a number; the external id is chatId:message_id', async () => {
    const { adapter, fake } = withFake();
    const result = await adapter.send!(outbound([{ type: 'text', text: 'Hello Ada' }]), signal());
    const [call] = fake.sentMessages();
    expect(call).toMatchObject({ method: 'sendMessage', params: { chat_id: Number(CHAT), text: 'Hello Ada' }, files: {} });
    expect(call!.params.link_preview_options).toBeUndefined();
    expect(result.externalId).toBe(`${CHAT}:${(call!.result as { message_id: number }).message_id}`);
  });

  it('previewUrl false disables the link preview; replyTo becomes reply_parameters', async () => {
    const { adapter, fake } = withFake();
    await adapter.send!(outbound([{ type: 'text', text: 'see https://example.org', previewUrl: false }], { replyTo: { externalId: `${CHAT}:1365` } }), signal());
    expect(fake.sentMessages()[0]!.params).toMatchObject({
      link_preview_options: { is_disabled: true },
      reply_parameters: { message_id: 1365, allow_sending_without_reply: true },
    });
  });

  it('reply buttons and lists become inline keyboards with callback_data = id', async () => {
    const { adapter, fake } = withFake();
    await adapter.send!(outbound([{ type: 'buttons', header: 'Order 42', text: 'Confirm?', footer: 'Reply any time', buttons: [{ id: 'yes', title: 'Yes' }, { id: 'no', title: 'No' }] }]), signal());
    await adapter.send!(
      outbound([{ type: 'list', text: 'Pick a slot', button: 'Slots', sections: [{ title: 'Mon', rows: [{ id: 'mon-9', title: '9:00' }] }, { rows: [{ id: 'tue-9', title: 'Tue 9:00', description: 'x' }] }] }], { messageId: 'msg_2' }),
      signal(),
    );
    const [buttons, list] = fake.sentMessages();
    expect(buttons!.params).toMatchObject({
      text: 'Order 42\n\nConfirm?\n\nReply any time',
      reply_markup: { inline_keyboard: [[{ text: 'Yes', callback_data: 'yes' }, { text: 'No', callback_data: 'no' }]] },
    });
    expect(list!.params.reply_markup).toEqual({ inline_keyboard: [[{ text: '9:00', callback_data: 'mon-9' }], [{ text: 'Tue 9:00', callback_data: 'tue-9' }]] });
  });

  it('media goes up as multipart from the bytes handed over, with the right method per type', async () => {
    const { adapter, fake } = withFake();
    const cases = [
      [{ type: 'image', media: media('image/jpeg', 'jpg'), caption: 'receipt' }, 'sendPhoto', 'photo'],
      [{ type: 'image', media: media('image/gif', 'gif') }, 'sendAnimation', 'animation'],
      [{ type: 'file', media: media('application/pdf', 'pdf', undefined, 'invoice.pdf') }, 'sendDocument', 'document'],
      [{ type: 'audio', media: media('audio/mpeg', 'mp3') }, 'sendAudio', 'audio'],
      [{ type: 'voice', media: media('audio/ogg', 'ogg') }, 'sendVoice', 'voice'],
      [{ type: 'video', media: media('video/mp4', 'mp4'), caption: 'clip' }, 'sendVideo', 'video'],
      [{ type: 'sticker', media: media('image/webp', 'webp'), caption: 'dropped' }, 'sendSticker', 'sticker'],
    ] as const;
    for (const [index, [part, method, field]] of cases.entries()) {
      await adapter.send!(outbound([part as never], { messageId: `msg_${index}` }), signal());
      const call = fake.sentMessages().at(-1)!;
      expect(call.method).toBe(method);
      expect(call.files[field]).toMatchObject({ sha256: part.media.sha256, size: part.media.size, mime: part.media.mime });
      expect(call.params.chat_id).toBe(CHAT); // multipart fields are text
      if ('caption' in part && part.type !== 'sticker') expect(call.params.caption).toBe(part.caption);
      else expect(call.params.caption).toBeUndefined();
    }
    expect(fake.sentMessages()[2]!.files.document!.filename).toBe('invoice.pdf');
  });

  it('location and venue', async () => {
    const { adapter, fake } = withFake();
    await adapter.send!(outbound([{ type: 'location', latitude: 52.52, longitude: 13.405 }]), signal());
    await adapter.send!(outbound([{ type: 'location', latitude: 48.8584, longitude: 2.2945, name: 'Eiffel Tower', address: 'Champ de Mars' }], { messageId: 'msg_2' }), signal());
    const [pin, venue] = fake.sentMessages();
    expect(pin).toMatchObject({ method: 'sendLocation', params: { latitude: 52.52, longitude: 13.405 } });
    expect(venue).toMatchObject({ method: 'sendVenue', params: { title: 'Eiffel Tower', address: 'Champ de Mars' } });
  });

  it('a reaction is setMessageReaction on the target message', async () => {
    const { adapter, fake } = withFake();
    const result = await adapter.send!(outbound([{ type: 'reaction', emoji: '👍', targetExternalId: `${CHAT}:1365` }]), signal());
    expect(fake.sentMessages()[0]).toMatchObject({ method: 'setMessageReaction', params: { message_id: 1365, reaction: [{ type: 'emoji', emoji: '👍' }] } });
    expect(result.externalId).toBe(`reaction:1365:${CHAT}`);
  });

  it('a Business chat: business_connection_id on every call, the chat id from the conversation key', async () => {
    const { adapter, fake } = withFake();
    const conversation = `business:BC-abc:${CHAT}`;
    const result = await adapter.send!(
      outbound([{ type: 'text', text: 'Yes, open till 6' }, { type: 'image', media: media('image/png', 'png') }], { to: { externalId: CHAT, conversationExternalId: conversation, via: 'BC-abc' } }),
      signal(),
    );
    const calls = fake.sentMessages();
    expect(calls.map((call) => call.params.business_connection_id)).toEqual(['BC-abc', 'BC-abc']);
    expect(calls[0]!.params.chat_id).toBe(Number(CHAT));
    expect(result.externalId).toMatch(new RegExp(`^business:BC-abc:${CHAT}:\\d+$`));
  });

  it('several parts: one call each, the quote only on the first', async () => {
    const { adapter, fake } = withFake();
    const result = await adapter.send!(outbound([{ type: 'text', text: 'Here it is' }, { type: 'file', media: media('application/pdf', 'pdf') }], { replyTo: { externalId: `${CHAT}:9` } }), signal());
    const [first, second] = fake.sentMessages();
    expect(first!.params.reply_parameters).toEqual({ message_id: 9, allow_sending_without_reply: true });
    expect(second!.params.reply_parameters).toBeUndefined();
    expect((result.raw as { externalIds: string[] }).externalIds).toHaveLength(2);
  });

  it('refuses before any call: a template, a photo over 10 MB, button data over 64 bytes', async () => {
    const { adapter, http } = withFake();
    const codeOf = async (message: Parameters<NonNullable<typeof adapter.send>>[0]) => {
      try {
        await adapter.send!(message, signal());
      } catch (error) {
        return (error as OmniError).code;
      }
      return 'sent';
    };
    expect(await codeOf(outbound([{ type: 'text', text: 'x' }], { template: { name: 't', language: 'en', params: {} } }))).toBe('template_not_supported');
    expect(await codeOf(outbound([{ type: 'image', media: media('image/jpeg', 'jpg', 10 * 1024 * 1024 + 1) }]))).toBe('attachment_too_large');
    expect(await codeOf(outbound([{ type: 'buttons', text: 'x', buttons: [{ id: 'x'.repeat(65), title: 'X' }] }]))).toBe('invalid_request');
    expect(http.seen).toEqual([]);
  });
});
