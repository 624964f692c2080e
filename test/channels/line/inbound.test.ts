/**
 * LINE webhook bodies → events, for every fixture (the 28-event SDK file event by event), and
 * the batch rules: order kept, dedupe on webhookEventId, redelivery and standby flags, reply
 * tokens, unknown types ignored, an unusable event dead-lettered with its own bytes.
 */
import { describe, expect, it } from 'vitest';
import type { InboundEvent, InboundMessage } from '../../../src/core/adapter.ts';
import { eventTexts } from '../../../src/channels/line/inbound-json.ts';
import { parseWebhook } from '../../../src/channels/line/inbound.ts';
import { NOW, fixtureBytes } from './helpers.ts';

const parse = (body: Uint8Array | string, now = NOW) => parseWebhook(typeof body === 'string' ? new TextEncoder().encode(body) : body, { now });
const fixture = (name: string) => parse(fixtureBytes(name));
const fixtureJson = (name: string) => JSON.parse(new TextDecoder().decode(fixtureBytes(name))) as { destination: string; events: Array<Record<string, any>> };
const messages = (events: InboundEvent[]) => events.filter((event): event is InboundMessage => event.kind === 'message');
const batch = (events: unknown[]) => JSON.stringify({ destination: 'U8e742f61d673b39c7fff3cecb7536ef0', events });

describe('doc fixtures', () => {
  it('message, follow and unfollow from three users in one POST, in order, each with its own key', () => {
    const events = fixture('docs-webhook-body-message-follow-unfollow.json');
    expect(events.map((event) => event.kind)).toEqual(['message', 'identity', 'message', 'identity']);
    const [text, reachable, follow, unreachable] = events as [InboundMessage, any, InboundMessage, any];
    expect(text).toMatchObject({
      dedupeKey: '01FZ74A0TDDPYRVKNK77XKC3ZR',
      externalId: '14353798921116',
      conversation: { externalId: 'U80696558e1aa831...', kind: 'direct' },
      sender: { externalId: 'U80696558e1aa831...' },
      parts: [{ type: 'text', text: 'Hello, world' }],
      sessionGrant: 'message',
    });
    // The reply token lives one minute from the event (reference A4), five messages per use.
    expect(text.replyContext).toEqual({ token: '757913772c4646b784d4b7ce46d12671', expiresAt: new Date(1625665242211 + 60_000), maxMessages: 5 });
    expect(text.timestamp).toEqual(new Date(1625665242211));
    expect(text.delivery).toBeUndefined();
    expect(reachable).toMatchObject({ change: 'reachable', identity: { externalId: 'Ufc729a925b3abef...' }, dedupeKey: '01FZ74ASS536FW97EX38NKCZQK:identity' });
    expect(follow).toMatchObject({ dedupeKey: '01FZ74ASS536FW97EX38NKCZQK', parts: [{ type: 'unsupported', reason: 'event:follow' }] });
    expect(follow.replyContext?.token).toBe('bb173f4d9cf64aed9d408ab4e36339ad');
    expect(unreachable).toMatchObject({ kind: 'identity', change: 'unreachable', identity: { externalId: 'Ubbd4f124aee5113...' }, dedupeKey: '01FZ74B5Y0F4TNKA5SCAVKPEDM' });
  });

  it('external video: the third-party URL is only a media ref, marked external', () => {
    const [video] = messages(fixture('docs-message-event-video-external-provider.json'));
    expect(video!.parts).toEqual([
      {
        type: 'video',
        media: { ref: 'external:https://example.com/original.mp4' },
        meta: { durationMs: 60000, quoteToken: 'q3Plxr4AgKd...', markAsReadToken: '30yhdy232...', contentProvider: 'external' },
      },
    ]);
  });

  it('audio from LINE is fetched by message id from the content host', () => {
    const [audio] = messages(fixture('docs-message-event-audio.json'));
    expect(audio!.parts).toEqual([{ type: 'audio', media: { ref: 'content:325708' }, meta: { durationMs: 60000, markAsReadToken: '30yhdy232...' } }]);
  });

  it('a file keeps its name and announced size', () => {
    const [file] = messages(fixture('docs-message-event-file.json'));
    expect(file!.parts).toEqual([
      { type: 'file', filename: 'file.txt', media: { ref: 'content:325708', filename: 'file.txt', declaredSize: 2138 }, meta: { markAsReadToken: '30yhdy232...' } },
    ]);
  });

  it('a location keeps title and address', () => {
    const [location] = messages(fixture('docs-message-event-location.json'));
    expect(location!.parts).toEqual([
      { type: 'location', latitude: 35.67966, longitude: 139.73669, name: 'my location', address: '1-3 Kioicho, Chiyoda-ku, Tokyo, 102-8282 Japan' },
    ]);
  });

  it('messageEdited is an edit of the original message id, in the group conversation', () => {
    const [edit] = fixture('docs-edit-event-messageEdited.json');
    expect(edit).toMatchObject({
      kind: 'edit',
      dedupeKey: '01KPW6071XGPXPAF4XCN96XEAN',
      targetExternalId: '610830548529053697',
      conversation: { externalId: 'group:Ca56f94637c...', kind: 'group' },
      sender: { externalId: 'U4af4980629...' },
      parts: [{ type: 'text', text: 'Edited message', meta: { quoteToken: 'XyiyoB3R1BA...' } }],
    });
  });

  it('unsend is a delete of the message id', () => {
    const [deleted] = fixture('docs-unsend-event.json');
    expect(deleted).toMatchObject({
      kind: 'delete',
      targetExternalId: '325708',
      conversation: { externalId: 'group:Ca56f94637c...', kind: 'group' },
      sender: { externalId: 'U4af4980629...' },
    });
  });

  it('join: the group becomes reachable and its greeting reply token is kept, keyed apart from any 1:1 chat', () => {
    const events = fixture('docs-join-event-group.json');
    expect(events.map((event) => event.kind)).toEqual(['identity', 'message']);
    expect(events[0]).toMatchObject({ change: 'reachable', identity: { externalId: 'group:C4af4980629...' } });
    const join = events[1] as InboundMessage;
    expect(join.conversation).toEqual({ externalId: 'group:C4af4980629...', kind: 'group' });
    expect(join.replyContext?.token).toBe('nHuyWiB7yP5Zw52FIkcQobQuGDXCTA');
  });
});

describe('the SDK file with 28 events', () => {
  const events = fixture('sdk-python-v3-webhook-all-event-types.json');
  const source = fixtureJson('sdk-python-v3-webhook-all-event-types.json').events;

  it('keeps every event, in order, each under its own key although the SDK reuses one webhookEventId', () => {
    expect(source).toHaveLength(28);
    const kinds = events.map((event) => (event.kind === 'ignored' ? `ignored:${event.reason}` : event.kind));
    expect(kinds.filter((kind) => kind.startsWith('ignored'))).toEqual([
      'ignored:event:beacon',
      'ignored:event:beacon',
      'ignored:event:accountLink',
      'ignored:event:videoPlayComplete',
      'ignored:unknown_event:undefined',
    ]);
    expect(kinds.filter((kind) => kind === 'edit')).toHaveLength(1);
    expect(kinds.filter((kind) => kind === 'delete')).toHaveLength(1);
    const keys = events.flatMap((event) => (event.kind === 'ignored' ? [] : [event.dedupeKey]));
    expect(new Set(keys).size).toBe(keys.length);
    expect(keys.every((key) => key.startsWith('testwebhookeventid'))).toBe(true);
  });

  it('reads every message type', () => {
    const parts = messages(events).map((message) => message.parts[0]!);
    const types = parts.map((part) => part.type);
    for (const type of ['text', 'image', 'video', 'audio', 'location', 'sticker', 'file', 'reply']) expect(types).toContain(type);
    expect(parts.find((part) => part.type === 'sticker')).toEqual({
      type: 'sticker',
      media: { ref: 'sticker:1', declaredMime: 'image/png' },
      meta: { packageId: '1', stickerId: '1', stickerResourceType: 'STATIC', keywords: ['Love You', 'Love'], text: 'Just sticker', quoteToken: 'quoteToken' },
    });
  });

  it('keeps image sets together by their id in meta', () => {
    const image = messages(events).find((message) => message.externalId === '354718705033693861')!;
    expect(image.parts).toEqual([{ type: 'image', media: { ref: 'content:354718705033693861' }, meta: { imageSet: { id: 'E005D41A7288F41B655', index: 2, total: 2 }, quoteToken: 'quoteToken' } }]);
  });

  it('rooms and groups are group conversations; a member without consent is not named', () => {
    const roomImage = messages(events)[1]!;
    expect(roomImage.conversation).toEqual({ externalId: 'room:Ra8dbf4673c4c812cd491258042226c99', kind: 'group' });
    expect(roomImage.sender).toEqual({ externalId: 'room:Ra8dbf4673c4c812cd491258042226c99' });
    const groupText = messages(events).find((message) => message.conversation.externalId.startsWith('group:') && message.parts[0]!.type === 'text')!;
    expect(groupText.sender).toEqual({ externalId: 'U206d25c2ea6bd87c17655609a1c37cb8' });
  });

  it('postbacks are reply parts carrying the data, and the picked date or time', () => {
    const replies = messages(events).flatMap((message) => message.parts).filter((part) => part.type === 'reply');
    expect(replies.map((part) => (part as { id: string; title: string }).title)).toEqual(['2017-12-25T01:00', '2013-04-01', '10:00', '2013-04-01T10:00']);
    expect(replies.every((part) => (part as { id: string }).id === 'action=buyItem&itemId=123123&color=red')).toBe(true);
  });

  it('memberJoined and memberLeft name the members; only the join carries a reply token', () => {
    const joined = messages(events).find((message) => message.externalId.startsWith('memberJoined:'))!;
    const left = messages(events).find((message) => message.externalId.startsWith('memberLeft:'))!;
    expect(joined.parts[0]).toMatchObject({ meta: { event: 'memberJoined', members: ['U4af4980629...', 'U91eeaf62d9...'] } });
    expect(joined.replyContext?.token).toBe('0f3779fba3b349968c5d07db31eabf65');
    expect(left.replyContext).toBeUndefined();
    expect(left.sessionGrant).toBeNull();
  });

  it('flags the redelivered event; its token lives a minute from now, never 20 minutes past the event', () => {
    const redelivered = messages(events).filter((message) => message.delivery?.redelivery === true);
    expect(redelivered).toHaveLength(1);
    // The event is from 2016: 20 minutes after it is long gone.
    expect(redelivered[0]!.replyContext!.expiresAt).toEqual(new Date(1462629479859 + 20 * 60_000));
    const recent = batch([{ ...source[25], timestamp: NOW.getTime() - 5 * 60_000 }]);
    const [fresh] = messages(parse(recent));
    expect(fresh!.replyContext!.expiresAt).toEqual(new Date(NOW.getTime() + 60_000));
  });
});

describe('batch rules', () => {
  const text = (id: string, extra: Record<string, unknown> = {}) => ({
    type: 'message',
    mode: 'active',
    timestamp: 1625665242211,
    source: { type: 'user', userId: 'U206d25c2ea6bd87c17655609a1c37cb8' },
    webhookEventId: id,
    deliveryContext: { isRedelivery: false },
    replyToken: 'a'.repeat(32),
    message: { id: `m${id}`, type: 'text', text: 'hi', quoteToken: 'q' },
    ...extra,
  });

  it('standby events are recorded, flagged, never answered', () => {
    const [message] = messages(parse(batch([text('01A', { mode: 'standby' })])));
    expect(message!.delivery).toEqual({ standby: true });
    expect(message!.replyContext).toBeUndefined();
    expect(message!.sessionGrant).toBeNull();
  });

  it('an unknown event type inside a valid batch is ignored, the others recorded', () => {
    const events = parse(batch([text('01A'), { type: 'somethingNew', webhookEventId: '01B', timestamp: 1 }, text('01C')]));
    expect(events.map((event) => (event.kind === 'ignored' ? event.reason : event.dedupeKey))).toEqual(['01A', 'unknown_event:somethingNew', '01C']);
  });

  it('an unusable event becomes invalid with exactly its own bytes, and costs no other', () => {
    const broken = '{ "type" : "message", "webhookEventId": "01B", "timestamp": "yesterday", "text": "a \\"quoted\\" ] , }" }';
    const body = `{"destination":"U1","events":[${JSON.stringify(text('01A'))},\n  ${broken}  ,${JSON.stringify(text('01C'))}]}`;
    const events = parse(body);
    expect(events.map((event) => event.kind)).toEqual(['message', 'invalid', 'message']);
    expect(events[1]).toEqual({ kind: 'invalid', dedupeKey: '01B', reason: 'bad_timestamp', raw: broken });
    const noId = parse(batch([{ type: 'message', timestamp: 1 }]))[0];
    expect(noId).toMatchObject({ kind: 'invalid', reason: 'missing_field:webhookEventId' });
    expect((noId as { dedupeKey: string }).dedupeKey).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(parse(batch([text('01D', { source: { type: 'user' } })]))[0]).toMatchObject({ kind: 'invalid', reason: 'bad_source' });
    expect(parse(batch([42]))[0]).toMatchObject({ kind: 'invalid', reason: 'not_an_object', raw: '42' });
  });

  it('an exact repeat inside one POST is dropped; a redelivery in a later POST keeps the key', () => {
    const events = parse(batch([text('01A'), text('01A')]));
    expect(events.map((event) => event.kind)).toEqual(['message', 'ignored']);
    const again = messages(parse(batch([text('01A', { deliveryContext: { isRedelivery: true } })])));
    expect(again[0]!.dedupeKey).toBe('01A');
    expect(again[0]!.delivery).toEqual({ redelivery: true });
  });

  it('mentions and LINE emoji stay on the text part; a quoted message is the reply target', () => {
    const message = {
      id: '468789577898262530',
      type: 'text',
      text: '@example Good Morning!! (love)',
      quoteToken: 'q',
      quotedMessageId: '468789532432007169',
      emojis: [{ index: 23, length: 6, productId: '5ac1bfd5040ab15980c9b435', emojiId: '001' }],
      mention: { mentionees: [{ index: 0, length: 8, type: 'user', userId: 'U49585cd0d5...', isSelf: false }] },
    };
    const [event] = messages(parse(batch([text('01A', { message })])));
    expect(event!.replyTo).toEqual({ externalId: '468789532432007169' });
    expect(event!.parts[0]).toMatchObject({ type: 'text', text: message.text, meta: { emojis: message.emojis, mention: message.mention } });
  });

  it('odd content becomes an unsupported part rather than a lost event', () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ id: '1', type: 'location', latitude: 'north', longitude: 1 }, 'malformed_location'],
      [{ id: '1', type: 'hologram' }, 'message:hologram'],
      [{ id: '1', type: 'image', contentProvider: { type: 'external', originalContentUrl: 'http://10.0.0.1/x.jpg' } }, 'image_external_url'],
      [{ id: '1', type: 'sticker', packageId: '../x', stickerId: '1' }, 'malformed_sticker'],
    ];
    for (const [message, reason] of cases) {
      expect(messages(parse(batch([text('01A', { message })])))[0]!.parts[0], reason).toMatchObject({ type: 'unsupported', reason });
    }
  });
});

describe('eventTexts', () => {
  it('finds each element of the top-level events array, whatever the strings hold', () => {
    const text = '{"a":{"events":[1]},"destination":"[,]","events":[ {"x":"]\\"}"} , [1,{"y":2}],"s" ,3 ]}';
    expect(eventTexts(text)).toEqual(['{"x":"]\\"}"}', '[1,{"y":2}]', '"s"', '3']);
    expect(eventTexts('{"events":[]}')).toEqual([]);
  });
});
