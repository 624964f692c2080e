/**
 * The checks at the edge and the core's screen: values no database should take become `invalid`
 * items with their own bytes, and only a refused value (never a lost connection) counts as an
 * item's own failure.
 */
import { describe, expect, it } from 'vitest';
import type { InboundEvent, InboundInvalid, InboundMessage } from '../../src/core/adapter.ts';
import { MAX_ID_LENGTH, screenEvents, unixSeconds } from '../../src/core/inbound/edge.ts';
import { isItemDataError } from '../../src/core/inbound/store-errors.ts';
import { parseWebhook } from '../../src/channels/whatsapp/inbound.ts';
import { parsePush } from '../../src/channels/wechat/inbound.ts';

const message = (overrides: Partial<InboundMessage> = {}): InboundMessage => ({
  kind: 'message',
  dedupeKey: 'm1',
  externalId: 'm1',
  conversation: { externalId: 'u1', kind: 'direct' },
  sender: { externalId: 'u1' },
  timestamp: new Date('2026-01-01T00:00:00Z'),
  parts: [{ type: 'text', text: 'hi' }],
  sessionGrant: 'message',
  raw: { id: 'm1' },
  ...overrides,
});

const PHONE_NUMBER_ID = '106540352242922';
function waEnvelope(messages: unknown[]): Uint8Array {
  const payload = {
    object: 'whatsapp_business_account',
    entry: [{ id: 'W', changes: [{ field: 'messages', value: { metadata: { phone_number_id: PHONE_NUMBER_ID }, contacts: [{ profile: { name: 'K' }, wa_id: '16315551234' }], messages } }] }],
  };
  return new TextEncoder().encode(JSON.stringify(payload));
}

describe('edge values', () => {
  it('unix seconds are accepted from 1970 to 2100 only', () => {
    expect(unixSeconds('1763719200')?.toISOString()).toBe('2025-11-21T10:00:00.000Z');
    expect(unixSeconds(0)?.getTime()).toBe(0);
    expect(unixSeconds('999999999999')).toBeUndefined();
    expect(unixSeconds(-1)).toBeUndefined();
    expect(unixSeconds('12.5')).toBeUndefined();
    expect(unixSeconds(undefined)).toBeUndefined();
  });

  it('the core screen turns out-of-range values into invalid items with the raw item', () => {
    const events: InboundEvent[] = [
      message(),
      message({ dedupeKey: 'm2', externalId: 'm2', timestamp: new Date(Date.UTC(33658, 0, 1)), raw: { id: 'm2' } }),
      message({ dedupeKey: 'm3', externalId: 'm3', timestamp: new Date(Number.NaN), raw: { id: 'm3' } }),
      message({ dedupeKey: 'x'.repeat(MAX_ID_LENGTH + 1), raw: { id: 'long' } }),
      { kind: 'ignored', reason: 'other' },
    ];
    const screened = screenEvents(events);
    expect(screened[0]).toBe(events[0]);
    expect(screened[1]).toEqual({ kind: 'invalid', dedupeKey: 'm2', reason: 'bad_timestamp', raw: '{"id":"m2"}' });
    expect(screened[2]).toMatchObject({ kind: 'invalid', dedupeKey: 'm3', reason: 'bad_timestamp' });
    expect(screened[3]).toMatchObject({ kind: 'invalid', reason: 'id_too_long', raw: '{"id":"long"}' });
    expect((screened[3] as InboundInvalid).dedupeKey).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(screened[4]).toEqual({ kind: 'ignored', reason: 'other' });
  });

  it('only a value the database refused is an item failure; a lost connection is not', () => {
    expect(isItemDataError(Object.assign(new Error('date/time field value out of range'), { code: '22008' }))).toBe(true);
    expect(isItemDataError(Object.assign(new Error('index row size exceeds maximum'), { code: '54000' }))).toBe(true);
    expect(isItemDataError(new Error('query failed', { cause: Object.assign(new Error('unsupported Unicode escape'), { code: '22P05' }) }))).toBe(true);
    expect(isItemDataError(new Error('query failed', { cause: new RangeError('Invalid time value') }))).toBe(true);
    expect(isItemDataError(Object.assign(new Error('terminating connection'), { code: '57P01' }))).toBe(false);
    expect(isItemDataError(Object.assign(new Error('write CONNECTION_CLOSED'), { code: 'CONNECTION_CLOSED' }))).toBe(false);
    expect(isItemDataError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED', errno: -111 }))).toBe(false);
    expect(isItemDataError(new Error('PGlite is closed'))).toBe(false);
  });
});

describe('parsers set a bad item aside and keep the batch', () => {
  it('WhatsApp: a timestamp in year 33658 beside a valid message is one invalid item with its own bytes', () => {
    const good = { from: '16315551234', id: 'wamid.GOOD', timestamp: '1763719200', type: 'text', text: { body: 'ok' } };
    const bad = { from: '16315551234', id: 'wamid.BAD', timestamp: '999999999999', type: 'text', text: { body: 'late' } };
    const events = parseWebhook(waEnvelope([good, bad]), { phoneNumberId: PHONE_NUMBER_ID });
    expect(events.map((e) => e.kind)).toEqual(['message', 'invalid']);
    const invalid = events[1] as InboundInvalid;
    expect(invalid).toMatchObject({ dedupeKey: 'wamid.BAD', reason: 'bad_timestamp' });
    const raw = JSON.parse(invalid.raw as string);
    expect(raw.messages).toEqual([bad]);
    expect(JSON.stringify(raw)).not.toContain('wamid.GOOD');
  });

  it('WhatsApp: ids longer than any platform issues are invalid, keyed by their hash', () => {
    const events = parseWebhook(waEnvelope([{ from: '16315551234', id: `wamid.${'A'.repeat(2000)}`, timestamp: '1', type: 'text', text: { body: 'x' } }]), { phoneNumberId: PHONE_NUMBER_ID });
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ kind: 'invalid', reason: 'id_too_long' });
    expect((events[0] as InboundInvalid).dedupeKey).toMatch(/^sha256:/);
  });

  it('WeChat: a CreateTime out of range makes the push invalid with the push bytes', () => {
    const xml = '<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[oUser]]></FromUserName><CreateTime>999999999999</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hi]]></Content><MsgId>42</MsgId></xml>';
    const body = new TextEncoder().encode(xml);
    expect(parsePush(body)).toEqual([{ kind: 'invalid', dedupeKey: '42', reason: 'bad_timestamp', raw: body }]);
  });
});
