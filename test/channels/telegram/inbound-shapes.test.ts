/**
 * Update shapes the fixtures lack, built from the Bot API spec: every content kind, groups,
 * Telegram Business, membership changes, unknown kinds, unusable values and hostile bodies.
 */
import { describe, expect, it } from 'vitest';
import { WebhookPayloadError } from '../../../src/core/errors.ts';
import { NOW, PRIVATE_CHAT, USER, createAdapter, messageUpdate, only, parse, postRequest } from './helpers.ts';

const GROUP = { id: -1001234567890, title: 'Support crew', type: 'supergroup' };
const CONNECTION = 'BC-abcdEFGH1234_xyz';

describe('telegram message content', () => {
  it('text keeps its entities (commands, links) on the part', async () => {
    const entities = [{ offset: 0, length: 6, type: 'bot_command' }, { offset: 7, length: 19, type: 'url' }];
    const event = await only(messageUpdate({ text: '/order https://example.org', entities }));
    expect(event.parts).toEqual([{ type: 'text', text: '/order https://example.org', meta: { entities } }]);
  });

  it('photo: the largest by pixels, whatever the order, with its caption', async () => {
    const photo = [
      { file_id: 'big', file_unique_id: 'b', width: 1280, height: 960, file_size: 200000 },
      { file_id: 'small', file_unique_id: 's', width: 90, height: 67, file_size: 1200 },
    ];
    const event = await only(messageUpdate({ photo, caption: 'receipt' }));
    expect(event.parts).toEqual([{ type: 'image', caption: 'receipt', media: { ref: 'big', declaredMime: 'image/jpeg', declaredSize: 200000 } }]);
  });

  it('video, video_note and animation are video parts; an animation wins over its backward-compatible document', async () => {
    const video = { file_id: 'vid', file_unique_id: 'v', width: 640, height: 360, duration: 5, mime_type: 'video/mp4', file_size: 90000 };
    expect((await only(messageUpdate({ video }))).parts).toEqual([{ type: 'video', media: { ref: 'vid', declaredMime: 'video/mp4', declaredSize: 90000 } }]);
    const note = { file_id: 'note', file_unique_id: 'n', length: 240, duration: 3 };
    expect((await only(messageUpdate({ video_note: note }))).parts).toEqual([{ type: 'video', media: { ref: 'note', declaredMime: 'video/mp4' }, meta: { videoNote: true } }]);
    const animation = { file_id: 'anim', file_unique_id: 'a', width: 320, height: 240, duration: 2, mime_type: 'video/mp4', file_name: 'x.mp4' };
    const event = await only(messageUpdate({ animation, document: { file_id: 'anim', file_unique_id: 'a', mime_type: 'video/mp4' } }));
    expect(event.parts).toEqual([{ type: 'video', media: { ref: 'anim', declaredMime: 'video/mp4', filename: 'x.mp4' }, meta: { animation: true } }]);
  });

  it('location and venue', async () => {
    expect((await only(messageUpdate({ location: { latitude: 52.52, longitude: 13.405 } }))).parts).toEqual([{ type: 'location', latitude: 52.52, longitude: 13.405 }]);
    const venue = { location: { latitude: 48.8584, longitude: 2.2945 }, title: 'Eiffel Tower', address: 'Champ de Mars' };
    expect((await only(messageUpdate({ venue, location: venue.location }))).parts).toEqual([
      { type: 'location', latitude: 48.8584, longitude: 2.2945, name: 'Eiffel Tower', address: 'Champ de Mars' },
    ]);
  });

  it("a contact the user shares about themself is verified phone evidence; someone else's card is not", async () => {
    const own = await only(messageUpdate({ contact: { phone_number: '447700900123', first_name: 'Ada', user_id: USER.id } }));
    expect(own.parts).toEqual([{ type: 'contact_card', name: 'Ada', phones: ['447700900123'], raw: { userId: String(USER.id) } }]);
    expect(own.sender).toMatchObject({ externalId: String(USER.id), phone: '+447700900123', phoneVerified: true });

    const other = await only(messageUpdate({ contact: { phone_number: '+1 555 010 9999', first_name: 'Bob', last_name: 'B', user_id: 5550001 } }));
    expect(other.parts).toEqual([{ type: 'contact_card', name: 'Bob B', phones: ['+1 555 010 9999'], raw: { userId: '5550001' } }]);
    expect(other.sender.phone).toBeUndefined();
    expect(other.sender.phoneVerified).toBeUndefined();

    const forwarded = await only(messageUpdate({ contact: { phone_number: '447700900123', first_name: 'Ada', user_id: USER.id }, forward_origin: { type: 'user', date: 1, sender_user: USER } }));
    expect(forwarded.sender.phoneVerified).toBeUndefined();
  });

  it('polls and dice are unsupported parts; service messages are ignored', async () => {
    expect((await only(messageUpdate({ poll: { id: '1', question: 'q', options: [] } }))).parts).toEqual([{ type: 'unsupported', reason: 'poll' }]);
    expect(await parse(messageUpdate({ new_chat_members: [USER] }, { chat: GROUP }))).toEqual([{ kind: 'ignored', reason: 'service:new_chat_members' }]);
    expect(await parse(messageUpdate({ pinned_message: { message_id: 1 } }))).toEqual([{ kind: 'ignored', reason: 'service:pinned_message' }]);
  });

  it('a video the server scheduled (message_id 0) is ignored until it is really sent', async () => {
    expect(await parse(messageUpdate({ text: 'x' }, { message_id: 0 }))).toEqual([{ kind: 'ignored', reason: 'scheduled_message' }]);
  });

  it('ids up to 52 bits stay exact, as text', async () => {
    const big = 4503599627370495; // 2^52 - 1
    const event = await only(messageUpdate({ text: 'hi' }, { from: { ...USER, id: big }, chat: { id: -1009007199254740, type: 'supergroup', title: 'Big' }, message_id: 2147483647 }));
    expect(event.sender.externalId).toBe('4503599627370495');
    expect(event.conversation.externalId).toBe('-1009007199254740');
    expect(event.dedupeKey).toBe('-1009007199254740:2147483647');
  });
});

describe('telegram groups', () => {
  it('group and supergroup messages are group conversations with their title', async () => {
    const event = await only(messageUpdate({ text: 'hello all' }, { chat: GROUP }));
    expect(event.conversation).toEqual({ externalId: '-1001234567890', kind: 'group', title: 'Support crew' });
    expect(event.sender.externalId).toBe(String(USER.id));
    const small = await only(messageUpdate({ text: 'hi' }, { chat: { id: -4001, title: 'Tiny', type: 'group' } }));
    expect(small.conversation.kind).toBe('group');
  });

  it('an anonymous admin writes as the group (sender_chat)', async () => {
    const event = await only(messageUpdate({ text: 'announcement' }, { chat: GROUP, from: { id: 1087968824, is_bot: true, first_name: 'Group' }, sender_chat: GROUP }));
    expect(event.sender).toEqual({ externalId: '-1001234567890', displayName: 'Support crew' });
  });

  it('a group upgraded to a supergroup moves the conversation, from either side of the migration, never as a message', async () => {
    const moved = { kind: 'conversation', change: 'moved', dedupeKey: 'migrate:-4001:-1001234567890', externalId: '-4001', newExternalId: '-1001234567890' };
    expect(await parse(messageUpdate({ migrate_to_chat_id: -1001234567890 }, { chat: { id: -4001, title: 'Tiny', type: 'group' } }))).toMatchObject([moved]);
    expect(await parse(messageUpdate({ migrate_from_chat_id: -4001 }, { chat: { id: -1001234567890, title: 'Tiny', type: 'supergroup' } }))).toMatchObject([moved]);
  });

  it('the bot added to or removed from a group is ignored (no person became unreachable)', async () => {
    const update = { update_id: 5, my_chat_member: { chat: GROUP, from: USER, date: 1764000000, old_chat_member: { status: 'member', user: {} }, new_chat_member: { status: 'left', user: {} } } };
    expect(await parse(update)).toEqual([{ kind: 'ignored', reason: 'group_membership:left' }]);
  });
});

describe('telegram membership and callbacks', () => {
  it('a user who unblocks the bot is reachable again', async () => {
    const update = { update_id: 6, my_chat_member: { chat: PRIVATE_CHAT, from: USER, date: 1764000100, old_chat_member: { status: 'kicked', user: {} }, new_chat_member: { status: 'member', user: {} } } };
    expect(await only(update)).toMatchObject({ kind: 'identity', change: 'reachable', identity: { externalId: String(USER.id) }, timestamp: new Date(1764000100 * 1000) });
  });

  it('a button press under a bot message: the title from the keyboard and replyTo the message', async () => {
    const message = {
      message_id: 77,
      from: { id: 7000000001, is_bot: true, first_name: 'Bot' },
      chat: GROUP,
      date: 1764000000,
      text: 'Pick one',
      reply_markup: { inline_keyboard: [[{ text: 'Yes please', callback_data: 'yes' }, { text: 'No', callback_data: 'no' }]] },
    };
    const event = await only({ update_id: 7, callback_query: { id: '99887766', from: USER, message, chat_instance: '-123', data: 'yes' } });
    expect(event).toMatchObject({
      dedupeKey: 'callback:99887766',
      conversation: { externalId: '-1001234567890', kind: 'group' },
      parts: [{ type: 'reply', id: 'yes', title: 'Yes please' }],
      replyTo: { externalId: '-1001234567890:77' },
      timestamp: NOW,
    });
  });

  it('a game callback without data is ignored', async () => {
    expect(await parse({ update_id: 8, callback_query: { id: '1', from: USER, chat_instance: '1', game_short_name: 'g' } })).toEqual([{ kind: 'ignored', reason: 'callback:game' }]);
  });
});

describe('telegram business', () => {
  const business = (content: Record<string, unknown>, overrides: Record<string, unknown> = {}, kind = 'business_message') =>
    messageUpdate(content, { business_connection_id: CONNECTION, ...overrides }, kind);

  it('a Business message is a conversation of its own, keyed with the connection, via it, of session kind business', async () => {
    const event = await only(business({ text: 'is the shop open?' }));
    expect(event).toMatchObject({
      kind: 'message',
      dedupeKey: `business:${CONNECTION}:${USER.id}:42`,
      externalId: `business:${CONNECTION}:${USER.id}:42`,
      conversation: { externalId: `business:${CONNECTION}:${USER.id}`, kind: 'direct', via: CONNECTION, sessionKind: 'business' },
      sender: { externalId: String(USER.id) },
      sessionGrant: 'message',
    });
    const bot = await only(messageUpdate({ text: 'is the shop open?' }));
    expect(bot.conversation.externalId).not.toBe(event.conversation.externalId);
  });

  it("the bot's own relayed replies and the owner's own messages are ignored", async () => {
    expect(await parse(business({ text: 'yes' }, { sender_business_bot: { id: 7000000001, is_bot: true, first_name: 'Bot' } }))).toEqual([{ kind: 'ignored', reason: 'business_bot_reply' }]);
    expect(await parse(business({ text: 'yes' }, { from: { id: 1234, is_bot: false, first_name: 'Owner' } }))).toEqual([{ kind: 'ignored', reason: 'business_owner_message' }]);
  });

  it('an edited Business message is an edit of the Business message', async () => {
    const event = await only(business({ text: 'open on Sunday?', edit_date: 1764000500 }, {}, 'edited_business_message'));
    expect(event).toMatchObject({ kind: 'edit', targetExternalId: `business:${CONNECTION}:${USER.id}:42`, conversation: { via: CONNECTION, sessionKind: 'business' } });
  });

  it('deleted Business messages are one delete event per message', async () => {
    const events = await parse({ update_id: 9, deleted_business_messages: { business_connection_id: CONNECTION, chat: PRIVATE_CHAT, message_ids: [42, 43, 42] } });
    expect(events).toEqual([
      expect.objectContaining({ kind: 'delete', dedupeKey: `delete:business:${CONNECTION}:${USER.id}:42`, targetExternalId: `business:${CONNECTION}:${USER.id}:42`, timestamp: NOW }),
      expect.objectContaining({ kind: 'delete', targetExternalId: `business:${CONNECTION}:${USER.id}:43` }),
    ]);
  });

  it('a business connection revoked or enabled again makes its chats unreachable or reachable', async () => {
    const connection = (enabled: boolean) => ({ update_id: 10, business_connection: { id: CONNECTION, user: USER, user_chat_id: USER.id, date: 1764000000, is_enabled: enabled } });
    expect(await parse(connection(false))).toMatchObject([{ kind: 'conversation', change: 'via_revoked', via: CONNECTION, dedupeKey: `business_connection:${CONNECTION}:1764000000:off` }]);
    expect(await parse(connection(true))).toMatchObject([{ kind: 'conversation', change: 'via_restored', via: CONNECTION }]);
  });
});

describe('telegram dedupe and bad input', () => {
  it('a message redelivered with a new update_id has the same dedupe key', async () => {
    const first = await only(messageUpdate({ text: 'hi' }));
    const again = await only({ ...messageUpdate({ text: 'hi' }), update_id: 900000999 });
    expect(again.dedupeKey).toBe(first.dedupeKey);
    const otherChat = await only(messageUpdate({ text: 'hi' }, { chat: { ...PRIVATE_CHAT, id: 5550001 }, from: { ...USER, id: 5550001 } }));
    expect(otherChat.dedupeKey).not.toBe(first.dedupeKey);
  });

  it('unknown and uninteresting update kinds are ignored with a reason, never refused', async () => {
    expect(await parse({ update_id: 11, some_future_kind: { id: 1 } })).toEqual([{ kind: 'ignored', reason: 'unknown_update' }]);
    expect(await parse({ update_id: 12, inline_query: { id: '1', from: USER, query: 'x', offset: '' } })).toEqual([{ kind: 'ignored', reason: 'update:inline_query' }]);
    expect(await parse({ update_id: 13, message_reaction: {} })).toEqual([{ kind: 'ignored', reason: 'update:message_reaction' }]);
    expect(await parse({ update_id: 14 })).toEqual([{ kind: 'ignored', reason: 'empty_update' }]);
  });

  it('an update with unusable values is invalid, with its own raw bytes and a stable key', async () => {
    const body = JSON.stringify(messageUpdate({ text: 'hi' }, { chat: { id: 'not-a-number', type: 'private' } }));
    const [event] = (await parse(body)) as any[];
    expect(event).toMatchObject({ kind: 'invalid', reason: 'bad_id:chat.id' });
    expect(new TextDecoder().decode(event.raw)).toBe(body);
    expect(((await parse(body)) as any[])[0].dedupeKey).toBe(event.dedupeKey);
    expect(((await parse(messageUpdate({ text: 'hi' }, { date: 'yesterday' }))) as any[])[0]).toMatchObject({ kind: 'invalid', reason: 'bad_timestamp' });
    expect(((await parse(messageUpdate({ photo: [] }))) as any[])[0]).toMatchObject({ kind: 'invalid', reason: 'missing_field:photo.file_id' });
    expect(((await parse(messageUpdate({ location: { latitude: 200, longitude: 0 } }))) as any[])[0]).toMatchObject({ kind: 'invalid', reason: 'bad_field:location.latitude' });
    expect(((await parse({ update_id: 1, message: 'text' })) as any[])[0]).toMatchObject({ kind: 'invalid', reason: 'bad_field:message' });
  });

  it('bodies that are not an Update are refused with a payload error', async () => {
    const adapter = createAdapter();
    for (const [body, reason] of [
      ['{"update_id": 1, "message": ', 'invalid_json'],
      ['[]', 'not_an_object'],
      ['{"message": {}}', 'missing_update_id'],
      [`${'['.repeat(100)}${']'.repeat(100)}`, 'too_deep'],
    ] as const) {
      const verified = await adapter.verify(postRequest(body));
      let caught: unknown;
      try {
        adapter.parse(verified);
      } catch (error) {
        caught = error;
      }
      expect(caught, body).toBeInstanceOf(WebhookPayloadError);
      expect((caught as WebhookPayloadError).reason).toBe(reason);
    }
    const invalidUtf8 = await adapter.verify(postRequest(Uint8Array.from([0x7b, 0xff, 0x7d])));
    expect(() => adapter.parse(invalidUtf8)).toThrow(WebhookPayloadError);
  });

  it('__proto__ as an update kind is just an unknown kind', async () => {
    expect(await parse('{"update_id":1,"__proto__":{"polluted":true}}')).toEqual([{ kind: 'ignored', reason: 'unknown_update' }]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
