/** Every fixture parsed into the expected events, plus the shapes the fixtures lack. */
import { describe, expect, it } from 'vitest';
import { parsePush } from '../../../src/channels/wechat/inbound.ts';
import { buildXml } from '../../../src/channels/wechat/xml.ts';
import { PUSH_FIXTURES, fixtureText } from './helpers.ts';

const parse = (xml: string, originalId?: string) => parsePush(new TextEncoder().encode(xml), { originalId });
const at = (seconds: number) => new Date(seconds * 1000);

describe('fixtures', () => {
  it('covers every plaintext push fixture', () => {
    expect(PUSH_FIXTURES).toEqual([
      'official-doc-image-message.xml',
      'official-doc-subscribe-event.xml',
      'official-doc-subscribe-qrscene-event.xml',
      'official-doc-text-message.xml',
      'wechatpy-test-click-event.xml',
      'wechatpy-test-link-message.xml',
      'wechatpy-test-location-event.xml',
      'wechatpy-test-location-message.xml',
      'wechatpy-test-scan-event.xml',
      'wechatpy-test-unsubscribe-event.xml',
      'wechatpy-test-video-message.xml',
      'wechatpy-test-view-event.xml',
      'wechatpy-test-voice-message.xml',
    ]);
  });

  it('text: MsgId as the dedupe key, article facts kept', () => {
    const [event] = parse(fixtureText('official-doc-text-message.xml'));
    expect(event).toEqual({
      kind: 'message',
      dedupeKey: '1234567890123456',
      externalId: '1234567890123456',
      conversation: { externalId: 'fromUser', kind: 'direct' },
      sender: { externalId: 'fromUser' },
      timestamp: at(1348831860),
      parts: [{ type: 'text', text: 'this is a test', meta: { msgDataId: 'xxxx', idx: 'xxxx' } }],
      sessionGrant: 'message',
      raw: {
        ToUserName: 'toUser',
        FromUserName: 'fromUser',
        CreateTime: '1348831860',
        MsgType: 'text',
        Content: 'this is a test',
        MsgId: '1234567890123456',
        MsgDataId: 'xxxx',
        Idx: 'xxxx',
      },
    });
  });

  it('image: the MediaId is the media reference', () => {
    expect(parse(fixtureText('official-doc-image-message.xml'))).toMatchObject([
      { kind: 'message', dedupeKey: '1234567890123456', parts: [{ type: 'image', media: { ref: 'media_id' } }], sessionGrant: 'message' },
    ]);
  });

  it('voice: Format declared, Recognition kept when present', () => {
    expect(parse(fixtureText('wechatpy-test-voice-message.xml'))).toMatchObject([
      { parts: [{ type: 'voice', media: { ref: 'media_id' }, meta: { format: 'Format' } }] },
    ]);
    const amr = buildXml([['ToUserName', 'gh_1'], ['FromUserName', 'oU'], ['CreateTime', 1], ['MsgType', 'voice'], ['MediaId', 'm1'], ['Format', 'amr'], ['Recognition', '你好'], ['MsgId', { raw: '1' }]]);
    expect(parse(amr)).toMatchObject([{ parts: [{ type: 'voice', media: { ref: 'm1', declaredMime: 'audio/amr' }, meta: { format: 'amr', recognition: '你好' } }] }]);
  });

  it('video and shortvideo: a video part with the thumbnail id in meta', () => {
    expect(parse(fixtureText('wechatpy-test-video-message.xml'))).toMatchObject([
      { parts: [{ type: 'video', media: { ref: 'media_id' }, meta: { thumbMediaId: 'thumb_media_id' } }] },
    ]);
    const short = fixtureText('wechatpy-test-video-message.xml').replace('[video]', '[shortvideo]');
    expect(parse(short)).toMatchObject([{ parts: [{ type: 'video', meta: { thumbMediaId: 'thumb_media_id', shortVideo: true } }] }]);
  });

  it('location: numbers from Location_X/Y, the label as name', () => {
    expect(parse(fixtureText('wechatpy-test-location-message.xml'))).toMatchObject([
      { parts: [{ type: 'location', latitude: 23.134521, longitude: 113.358803, name: '位置信息', meta: { scale: '20' } }] },
    ]);
  });

  it('link: a text part a helpdesk can show, with the link facts in meta', () => {
    expect(parse(fixtureText('wechatpy-test-link-message.xml'))).toMatchObject([
      { parts: [{ type: 'text', text: '公众平台官网链接\nurl', meta: { link: { title: '公众平台官网链接', description: '公众平台官网链接', url: 'url' } } }] },
    ]);
  });

  it('subscribe: the identity is reachable again and the follow opens its grant', () => {
    const events = parse(fixtureText('official-doc-subscribe-event.xml'));
    const key = 'event:FromUser:123456789:subscribe:';
    expect(events).toEqual([
      { kind: 'identity', dedupeKey: `${key}:identity`, identity: { externalId: 'FromUser' }, change: 'reachable', timestamp: at(123456789), raw: expect.any(Object) },
      expect.objectContaining({ kind: 'message', dedupeKey: key, externalId: key, sessionGrant: 'follow', parts: [{ type: 'unsupported', reason: 'event:subscribe', meta: { event: 'subscribe' } }] }),
    ]);
    expect(events[1]).not.toHaveProperty('referral');
  });

  it('subscribe through a QR code: the scene and ticket become the referral', () => {
    const [, message] = parse(fixtureText('official-doc-subscribe-qrscene-event.xml'));
    expect(message).toMatchObject({
      kind: 'message',
      sessionGrant: 'follow',
      referral: { source: 'qr_scene', scene: '123123', ticket: 'TICKET' },
      parts: [{ type: 'unsupported', reason: 'event:subscribe', meta: { event: 'subscribe', source: 'qr_scene', scene: '123123', ticket: 'TICKET' } }],
    });
  });

  it('unsubscribe: an erase of the identity', () => {
    expect(parse(fixtureText('wechatpy-test-unsubscribe-event.xml'))).toEqual([
      { kind: 'identity', dedupeKey: 'event:FromUser:123456789:unsubscribe:', identity: { externalId: 'FromUser' }, change: 'erase', timestamp: at(123456789), raw: expect.any(Object) },
    ]);
  });

  it('SCAN by a follower: the scan grant and the scene', () => {
    expect(parse(fixtureText('wechatpy-test-scan-event.xml'))).toMatchObject([
      { kind: 'message', sessionGrant: 'scan', referral: { source: 'qr_scene', scene: 'SCENE_VALUE', ticket: 'TICKET' }, parts: [{ type: 'unsupported', reason: 'event:scan' }] },
    ]);
  });

  it('CLICK: a postback choice with the menu key, and the click grant', () => {
    expect(parse(fixtureText('wechatpy-test-click-event.xml'))).toMatchObject([
      { kind: 'message', dedupeKey: 'event:FromUser:123456789:click:EVENTKEY', sessionGrant: 'click', parts: [{ type: 'reply', id: 'EVENTKEY', title: 'EVENTKEY', meta: { event: 'click' } }] },
    ]);
  });

  it('VIEW and LOCATION reports are understood and ignored', () => {
    expect(parse(fixtureText('wechatpy-test-view-event.xml'))).toEqual([{ kind: 'ignored', reason: 'event:view' }]);
    expect(parse(fixtureText('wechatpy-test-location-event.xml'))).toEqual([{ kind: 'ignored', reason: 'event:location' }]);
  });
});

describe('shapes beyond the fixtures', () => {
  const base = (fields: Array<[string, string | number | { raw: string }]>) =>
    buildXml([['ToUserName', 'gh_abc'], ['FromUserName', 'oUser'], ['CreateTime', 1_700_000_000], ...fields]);

  it('a tap on a customer-service menu (bizmsgmenuid) is a reply choice', () => {
    expect(parse(base([['MsgType', 'text'], ['Content', '满意'], ['MsgId', { raw: '1' }], ['bizmsgmenuid', '101']]))).toMatchObject([
      { parts: [{ type: 'reply', id: '101', title: '满意' }], sessionGrant: 'message' },
    ]);
  });

  it('scancode menu events carry the scan result and grant the click window', () => {
    const xml = base([['MsgType', 'event'], ['Event', 'scancode_waitmsg'], ['EventKey', 'scan1'], ['ScanCodeInfo', { raw: '<ScanType><![CDATA[qrcode]]></ScanType><ScanResult><![CDATA[ABC]]></ScanResult>' }]]);
    expect(parse(xml)).toMatchObject([{ sessionGrant: 'click', parts: [{ type: 'reply', id: 'scan1', title: 'ABC', meta: { scanType: 'qrcode', scanResult: 'ABC' } }] }]);
  });

  it('two events of one user in the same second stay apart; a long EventKey is hashed into the key', () => {
    const click = (key: string) => parse(base([['MsgType', 'event'], ['Event', 'CLICK'], ['EventKey', key]]))[0] as { dedupeKey: string };
    expect(click('A').dedupeKey).not.toBe(click('B').dedupeKey);
    expect(click('x'.repeat(500)).dedupeKey).toMatch(/^event:[0-9a-f]{64}$/);
  });

  it('unknown message types are recorded as unsupported and still open the window', () => {
    expect(parse(base([['MsgType', 'miniprogrampage'], ['MsgId', { raw: '77' }]]))).toMatchObject([
      { dedupeKey: '77', sessionGrant: 'message', parts: [{ type: 'unsupported', reason: 'msgtype:miniprogrampage' }] },
    ]);
  });

  it('malformed pushes are ignored, never half-recorded', () => {
    expect(parse(base([['MsgType', 'text'], ['Content', 'no id']]))).toEqual([{ kind: 'ignored', reason: 'malformed_message' }]);
    expect(parse(base([['MsgType', 'text'], ['MsgId', { raw: '1.5e3' }]]))).toEqual([{ kind: 'ignored', reason: 'malformed_message' }]);
    expect(parse(buildXml([['FromUserName', 'oUser'], ['MsgType', 'text']]))).toEqual([{ kind: 'ignored', reason: 'malformed_push' }]);
    expect(parse(base([['MsgType', 'event']]))).toEqual([{ kind: 'ignored', reason: 'malformed_event' }]);
    expect(parse(base([['MsgType', 'location'], ['Location_X', '123'], ['Location_Y', '1'], ['MsgId', { raw: '2' }]]))).toMatchObject([
      { parts: [{ type: 'unsupported', reason: 'malformed_location' }] },
    ]);
    expect(parse(base([['MsgType', 'image'], ['MsgId', { raw: '3' }]]))).toMatchObject([{ parts: [{ type: 'unsupported', reason: 'image_without_media_id' }] }]);
  });

  it('pushes addressed to another original id are ignored when the account names its own', () => {
    const xml = base([['MsgType', 'text'], ['Content', 'x'], ['MsgId', { raw: '1' }]]);
    expect(parse(xml, 'gh_other')).toEqual([{ kind: 'ignored', reason: 'to_user_mismatch' }]);
    expect(parse(xml, 'gh_abc')).toMatchObject([{ kind: 'message' }]);
  });

  it('user text is kept exactly: spaces, leading zeros, CDATA terminators', () => {
    const content = '  00123 ]]> <b>&amp; ';
    expect(parse(base([['MsgType', 'text'], ['Content', content], ['MsgId', { raw: '18446744073709551615' }]]))).toMatchObject([
      { dedupeKey: '18446744073709551615', parts: [{ type: 'text', text: content }] },
    ]);
  });
});
