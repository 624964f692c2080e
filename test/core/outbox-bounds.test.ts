/**
 * The bounded form of an event larger than the server's max_payload, which failure of a publish
 * is permanent, and the limits each channel declares for sends (checked at acceptance).
 */
import { describe, expect, it } from 'vitest';
import { payloadBudget, preparePayload } from '../../src/core/outbox-bounds.ts';
import { EventTooLarge, deadLetterNotice, permanentFailure } from '../../src/core/outbox-dead-letters.ts';
import { checkParts, textLength } from '../../src/outbound/part-rules.ts';
import { WECHAT_OUTBOUND } from '../../src/channels/wechat/config.ts';
import { WHATSAPP_OUTBOUND } from '../../src/channels/whatsapp/config.ts';
import { OmniError } from '../../src/core/errors.ts';
import type { AdapterEntry } from '../../src/core/registry.ts';
import type { SendCommand } from '../../src/core/schemas/api.ts';

const decode = (data: Uint8Array) => JSON.parse(new TextDecoder().decode(data));

function message(text: string, raw: unknown = { body: text }) {
  return { schema: 'omni.message/v1', id: 'msg_1', channel: 'whatsapp', account: 'acme', parts: [{ type: 'text', text }, { type: 'image', caption: text, media: { id: 'med_1' } }], raw };
}

describe('preparePayload', () => {
  it('publishes an event that fits unchanged', () => {
    const event = message('hello');
    const prepared = preparePayload(event, 10_000);
    expect(prepared.ok && prepared.bounded).toBe(false);
    expect(prepared.ok && decode(prepared.data)).toEqual(event);
  });

  it('drops raw first, and cuts nothing when that is enough', () => {
    const prepared = preparePayload(message('short', { blob: 'r'.repeat(50_000) }), 10_000);
    if (!prepared.ok) throw new Error('should fit');
    const event = decode(prepared.data);
    expect(event).toMatchObject({ raw: null, rawOmitted: true, bounded: { reason: 'max_payload', limitBytes: 10_000, fetch: '/v1/messages/msg_1' } });
    expect(event.parts[0]).toEqual({ type: 'text', text: 'short' });
  });

  it('cuts texts and captions until the event fits, never splitting a surrogate pair', () => {
    const text = '😀'.repeat(40_000);
    // 3000 bytes end the halving at an odd cap (625), right inside a pair.
    const prepared = preparePayload(message(text), 3_000);
    if (!prepared.ok) throw new Error('should fit');
    expect(prepared.data.byteLength).toBeLessThanOrEqual(3_000);
    const event = decode(prepared.data);
    expect(event.parts[0].truncated).toBe(true);
    expect(event.parts[1].truncated).toBe(true);
    expect(text.startsWith(event.parts[0].text)).toBe(true);
    expect(event.parts[0].text.length % 2).toBe(0);
    expect(event.parts[1].caption.length).toBeGreaterThan(256);
  });

  it('gives up on an event that cannot fit: no parts to cut', () => {
    const prepared = preparePayload({ schema: 'omni.status/v1', error: { details: { blob: 'b'.repeat(50_000) } } }, 10_000);
    expect(prepared).toEqual({ ok: false, sizeBytes: expect.any(Number) });
  });

  it('sends the JSON text the outbox holds as it is, and parses it only to bound it', () => {
    // PostgreSQL's text form of jsonb, spaces and all: those exact bytes go out.
    const stored = '{"id": "msg_1", "raw": {"body": "hi"}, "parts": [{"text": "hi", "type": "text"}], "schema": "omni.message/v1"}';
    const prepared = preparePayload(stored, 10_000);
    if (!prepared.ok) throw new Error('should fit');
    expect(prepared.bounded).toBe(false);
    expect(new TextDecoder().decode(prepared.data)).toBe(stored);
    const big = preparePayload(JSON.stringify(message('short', { blob: 'r'.repeat(50_000) })), 10_000);
    if (!big.ok) throw new Error('should fit once bounded');
    expect(decode(big.data)).toMatchObject({ raw: null, rawOmitted: true, parts: [{ type: 'text', text: 'short' }, { caption: 'short' }] });
    // Too large only in jsonb's spaced-out print: the compact form goes out whole, unbounded.
    const spaced = JSON.stringify(message('x'.repeat(100)), null, 1);
    const compact = JSON.stringify(message('x'.repeat(100)));
    const fits = preparePayload(spaced, compact.length);
    expect(fits).toEqual({ ok: true, data: new TextEncoder().encode(compact), bounded: false });
    // Text that is not JSON and too large has nothing to bound.
    expect(preparePayload('x'.repeat(20_000), 10_000)).toEqual({ ok: false, sizeBytes: 20_000 });
    // A stored JSON string just over the budget is refused, never sent unquoted.
    expect(preparePayload(JSON.stringify('y'.repeat(9_999)), 10_000)).toEqual({ ok: false, sizeBytes: 10_001 });
  });

  it('reads the channel and account of a dead-lettered row from its JSON text', () => {
    const notice = deadLetterNotice({ msgId: 'msg_1:in', subject: 'omni.v1.evt.message.in.whatsapp.acme', payload: JSON.stringify(message('x')) }, { reason: 'too_large', detail: 'too big' });
    expect(notice?.subject).toBe('omni.v1.evt.message.deadletter.whatsapp.acme');
    expect(notice?.event).toMatchObject({ channel: 'whatsapp', account: 'acme', event: { messageId: 'msg_1' } });
  });

  it('leaves room for the message id header', () => {
    expect(payloadBudget(1024 * 1024, 'msg_1:in')).toBeLessThan(1024 * 1024 - 'msg_1:in'.length);
  });
});

describe('permanentFailure', () => {
  const named = (name: string, message = 'x', extra: Record<string, unknown> = {}) => Object.assign(new Error(message), { name, ...extra });

  it('retries connectivity, timeouts and server-side 5xx; dead-letters the rest', () => {
    for (const name of ['TimeoutError', 'ClosedConnectionError', 'RequestError', 'JetStreamNotEnabled', 'DrainingConnectionError']) {
      expect(permanentFailure(named(name), 1000, true)).toBeNull();
    }
    expect(permanentFailure(named('JetStreamApiError', 'insufficient resources', { status: 503 }), 1000, true)).toBeNull();
    expect(permanentFailure(named('JetStreamApiError', 'message size exceeds maximum allowed', { status: 400 }), 1000, true)?.reason).toBe('too_large');
    expect(permanentFailure(named('InvalidSubjectError'), 1000, true)?.reason).toBe('invalid_subject');
    expect(permanentFailure(named('InvalidArgumentError', "'payload' max_payload size exceeded"), 1000, true)?.reason).toBe('too_large');
    expect(permanentFailure(new EventTooLarge(5000), 1000, true)).toMatchObject({ reason: 'too_large', sizeBytes: 5000, limitBytes: 1000 });
  });

  it('takes no responders for a missing stream only when the stream answered the rest of the batch', () => {
    expect(permanentFailure(named('JetStreamNotEnabled'), 1000, true, false)).toBeNull();
    expect(permanentFailure(named('JetStreamNotEnabled'), 1000, true, true)?.reason).toBe('no_stream');
    expect(permanentFailure(named('TimeoutError'), 1000, true, true)).toBeNull();
  });

  it('treats any failure while disconnected as connectivity', () => {
    expect(permanentFailure(named('InvalidSubjectError'), 1000, false)).toBeNull();
  });

  it('builds a notice on the dead-letter subject of the prefix, with ids and no content', () => {
    const row = { msgId: 'msg_1:in', subject: 'acme.omni.v1.evt.message.in.whatsapp.acme', payload: message('secret words') };
    const notice = deadLetterNotice(row, { reason: 'too_large', detail: 'd', sizeBytes: 9, limitBytes: 5 });
    expect(notice?.subject).toBe('acme.omni.v1.evt.message.deadletter.whatsapp.acme');
    expect(notice?.event).toMatchObject({ schema: 'omni.deadletter/v1', raw: null, event: { msgId: 'msg_1:in', messageId: 'msg_1', fetch: '/v1/messages/msg_1' } });
    expect(JSON.stringify(notice)).not.toContain('secret');
    expect(deadLetterNotice({ ...row, payload: { schema: 'omni.contact/v1' } }, { reason: 'rejected', detail: 'd' })).toBeNull();
  });
});

describe('checkParts', () => {
  const entry = (channel: string, outbound: unknown) => ({ account: { channel }, adapter: { capabilities: { outbound } } }) as unknown as AdapterEntry;
  const send = (parts: unknown[]) => ({ idempotencyKey: 'k', account: 'a', to: { externalId: '1' }, parts }) as unknown as SendCommand;
  const refusal = (fn: () => void) => {
    try {
      fn();
    } catch (error) {
      if (error instanceof OmniError) return { code: error.code, message: error.message, details: error.details };
      throw error;
    }
    return null;
  };

  it('counts WeChat text in UTF-8 bytes: 2048 allowed, 2049 refused naming the limit', () => {
    const wechat = entry('wechat', WECHAT_OUTBOUND);
    const ok = '你'.repeat(682) + 'ab'; // 2048 bytes
    expect(textLength(ok, 'utf8_bytes')).toBe(2048);
    expect(refusal(() => checkParts(wechat, send([{ type: 'text', text: ok }])))).toBeNull();
    const over = refusal(() => checkParts(wechat, send([{ type: 'text', text: ok + 'c' }])));
    expect(over).toMatchObject({ code: 'invalid_request', details: { field: 'parts[0].text', limit: 2048, unit: 'utf8_bytes', length: 2049 } });
    expect(over!.message).toContain('2048 bytes');
  });

  it('refuses part types a channel does not send: media as attachment_type_not_allowed, others as invalid_request', () => {
    const wechat = entry('wechat', WECHAT_OUTBOUND);
    expect(refusal(() => checkParts(wechat, send([{ type: 'file', media: { url: 'https://x/y.pdf' } }])))).toMatchObject({
      code: 'attachment_type_not_allowed',
      details: { field: 'parts[0].type', partType: 'file' },
    });
    expect(refusal(() => checkParts(wechat, send([{ type: 'text', text: 'a' }, { type: 'location', latitude: 1, longitude: 2 }])))).toMatchObject({
      code: 'invalid_request',
      details: { field: 'parts[1].type', partType: 'location' },
    });
  });

  it('checks WhatsApp captions against 1024 characters and list bodies against the text limit', () => {
    const whatsapp = entry('whatsapp', WHATSAPP_OUTBOUND);
    expect(refusal(() => checkParts(whatsapp, send([{ type: 'video', media: { url: 'https://x/v.mp4' }, caption: 'c'.repeat(1025) }])))).toMatchObject({
      code: 'invalid_request',
      details: { field: 'parts[0].caption', limit: 1024 },
    });
    expect(refusal(() => checkParts(whatsapp, send([{ type: 'list', text: 'l'.repeat(4097), button: 'b', sections: [] }])))?.details).toMatchObject({ limit: 4096 });
  });

  it('checks nothing on a channel that declares no outbound capabilities', () => {
    expect(refusal(() => checkParts(entry('testchan', undefined), send([{ type: 'text', text: 'x'.repeat(5_000_000) }])))).toBeNull();
  });
});
