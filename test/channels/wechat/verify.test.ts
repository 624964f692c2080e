/**
 * Push authentication through the adapter: the published vectors end to end, each mode, the
 * ±300 s window, the replay guard the core records, the answer, and the bad inputs of
 * reference test 18 that concern signatures and sizes.
 */
import { createHash } from 'node:crypto';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { aesKeyFrom, decryptMessage, encryptMessage, sortedSha1 } from '../../../src/channels/wechat/crypto.ts';
import { buildPush, messageXml } from '../../../src/channels/wechat/sandbox.ts';
import { ManualClock } from '../../../src/core/clock.ts';
import { WebhookPayloadError, WebhookVerificationError } from '../../../src/core/errors.ts';
import { BodyTooLargeError } from '../../../src/core/http/body.ts';
import type { WebhookRequest } from '../../../src/core/adapter.ts';
import { NOW, VECTORS, createAdapter, fixtureText, rawRequest, testAccount, toRequest, vectorAccount, withQuery } from './helpers.ts';

const at = (seconds: string | number) => new ManualClock(new Date(Number(seconds) * 1000));
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
const sha256 = (bytes: Uint8Array | string) => createHash('sha256').update(bytes).digest('hex');

/** The reason a verification failed, or 'accepted'. */
async function outcome(adapter: ReturnType<typeof createAdapter>, request: WebhookRequest): Promise<string> {
  try {
    await adapter.verify(request);
    return 'accepted';
  } catch (error) {
    if (error instanceof WebhookVerificationError || error instanceof WebhookPayloadError) return error.reason;
    if (error instanceof BodyTooLargeError) return 'too_large';
    throw error;
  }
}

describe('published vectors through the adapter', () => {
  it('official Python sample (compat-mode body): verified, decrypted, parsed with its exact MsgId', async () => {
    const v = VECTORS['official-python-sample-post-decrypt'];
    const adapter = createAdapter(vectorAccount(v, 'compat'), { clock: at(v.timestamp) });
    const query = `timestamp=${v.timestamp}&nonce=${v.nonce}&encrypt_type=aes&msg_signature=${v.msg_signature}`;
    const verified = await adapter.verify(rawRequest(query, fixtureText(v.postBodyFile)));
    expect(text(verified.body)).toBe(v.derivedLocally.decryptedMsg);
    const [event] = adapter.parse(verified);
    expect(event).toMatchObject({ kind: 'message', dedupeKey: '6054768590064713728', externalId: '6054768590064713728', parts: [{ type: 'text', text: 'abcdteT' }] });
    expect(adapter.answer!(verified, [])).toEqual({ status: 200, body: 'success', contentType: 'text/plain' });
  });

  it('EasyWeChat safe-mode body, and its negative cases (bad signature, other appid)', async () => {
    const v = VECTORS['easywechat-post-decrypt-with-signature'];
    const query = `timestamp=${v.timestamp}&nonce=${v.nonce}&encrypt_type=aes&msg_signature=${v.msg_signature}`;
    const request = rawRequest(query, fixtureText(v.postBodyFile));
    const adapter = createAdapter(vectorAccount(v), { clock: at(v.timestamp) });
    const verified = await adapter.verify(request);
    expect(adapter.parse(verified)).toMatchObject([{ kind: 'message', dedupeKey: '12345', sender: { externalId: 'asdasdasdsadasd' }, parts: [{ text: 'hello' }] }]);
    expect(await outcome(adapter, withQuery(request, { msg_signature: v.negativeCases[0].msg_signature }))).toBe('signature_mismatch');
    const otherApp = createAdapter(vectorAccount({ ...v, appid: 'wx0000000000000000' }), { clock: at(v.timestamp) });
    expect(await outcome(otherApp, request)).toBe('appid_mismatch');
  });

  it('docs debug demo: the real query string, msg_signature checked, the URL signature ignored', async () => {
    const demo = VECTORS['official-doc-debug-demo-end-to-end'];
    const url = new URL(demo.request.url);
    const adapter = createAdapter(vectorAccount(demo), { clock: at(demo.request.timestamp) });
    const request = rawRequest(url.search.slice(1), fixtureText(demo.request.postBodyFile));
    const verified = await adapter.verify(request);
    expect(text(verified.body)).toBe(demo.request.msg);
    expect(adapter.parse(verified)).toEqual([{ kind: 'ignored', reason: 'event:debug_demo' }]);
    // A wrong URL signature changes nothing: only msg_signature covers the body.
    expect(await outcome(adapter, withQuery(request, { signature: '0'.repeat(40) }))).toBe('accepted');
    expect(await outcome(adapter, withQuery(request, { msg_signature: demo.request.signature }))).toBe('signature_mismatch');
  });

  it('GET handshake of the docs: echostr echoed as text', () => {
    const vector = VECTORS['official-doc-url-verification-and-plaintext-push-signature'];
    const adapter = createAdapter(vectorAccount(vector), { clock: new ManualClock(NOW) });
    const answer = adapter.handshake!(rawRequest(new URL(vector.get.url).search.slice(1), '', 'GET'));
    expect(answer).toEqual({ status: 200, body: vector.get.respondWithEchostr, contentType: 'text/plain' });
  });

  it('plaintext push signature of the docs: accepted only by a plain-mode account', async () => {
    const vector = VECTORS['official-doc-url-verification-and-plaintext-push-signature'];
    const query = new URL(vector.plaintextPost.url).search.slice(1);
    const body = fixtureText('official-doc-text-message.xml');
    const clock = at(new URL(vector.plaintextPost.url).searchParams.get('timestamp')!);
    expect(await outcome(createAdapter(vectorAccount(vector, 'plain'), { clock }), rawRequest(query, body))).toBe('accepted');
    expect(await outcome(createAdapter(vectorAccount({ ...vector, encodingAESKey: 'A'.repeat(43) }, 'safe'), { clock }), rawRequest(query, body))).toBe('plaintext_refused');
    expect(await outcome(createAdapter(vectorAccount({ ...vector, encodingAESKey: 'A'.repeat(43) }, 'compat'), { clock }), rawRequest(query, body))).toBe('plaintext_refused');
  });
});

describe('modes, freshness and the replay guard', () => {
  const account = testAccount();
  const xml = messageXml(account, { from: 'oUser1', msgType: 'text', fields: [['Content', 'hi']], at: NOW, msgId: '6054768590064713728' });

  it('safe mode: the guard keys on timestamp+nonce and fingerprints the decrypted message', async () => {
    const spec = buildPush(account, xml, { at: NOW, nonce: '1234567' });
    const verified = await createAdapter(account).verify(toRequest(spec));
    expect(verified.replayGuard).toEqual({
      key: `${Math.floor(NOW.getTime() / 1000)}:1234567`,
      fingerprint: sha256(xml),
      expiresAt: new Date(NOW.getTime() + 360_000),
    });
    // WeChat may re-encrypt a retry with a fresh random: same message, same fingerprint.
    const again = await createAdapter(account).verify(toRequest(buildPush(account, xml, { at: NOW, nonce: '1234567' })));
    expect(again.replayGuard!.fingerprint).toBe(verified.replayGuard!.fingerprint);
  });

  it('plain mode: accepted on the URL signature, fingerprinting the raw body so a forged body differs', async () => {
    const plain = testAccount({ settings: { mode: 'plain' } });
    const spec = buildPush(plain, xml, { at: NOW, nonce: '99' });
    const adapter = createAdapter(plain);
    const verified = await adapter.verify(toRequest(spec));
    expect(verified.replayGuard!.fingerprint).toBe(sha256(xml));
    const forged = await adapter.verify({ ...toRequest(spec), body: new TextEncoder().encode(xml.replace('hi', 'send money')) });
    expect(forged.replayGuard!.key).toBe(verified.replayGuard!.key);
    expect(forged.replayGuard!.fingerprint).not.toBe(verified.replayGuard!.fingerprint);
  });

  it('plain mode logs a startup warning; safe mode does not', () => {
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, new Writable({ write: (chunk, _encoding, done) => (lines.push(String(chunk)), done()) }));
    createAdapter(testAccount({ settings: { mode: 'plain' } }), { logger });
    createAdapter(testAccount(), { logger });
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 40, mode: 'plain' });
    expect(lines[0]).not.toContain('testToken0123456789');
  });

  it('compat mode: the encrypted part decides; edited plaintext fields beside it change nothing', async () => {
    const compat = testAccount({ settings: { mode: 'compat' } });
    const request = toRequest(buildPush(compat, xml, { at: NOW }));
    const forgedPlain = new TextEncoder().encode(text(request.body).replace('<![CDATA[hi]]>', '<![CDATA[forged]]>'));
    const adapter = createAdapter(compat);
    const verified = await adapter.verify({ ...request, body: forgedPlain });
    expect(adapter.parse(verified)).toMatchObject([{ parts: [{ type: 'text', text: 'hi' }] }]);
    expect(adapter.answer!(verified, [])).toEqual({ status: 200, body: 'success', contentType: 'text/plain' });
  });

  it('refuses timestamps more than 300 s away, either side, and accepts the edges', async () => {
    for (const [offset, expected] of [[-300, 'accepted'], [300, 'accepted'], [-301, 'stale_timestamp'], [301, 'stale_timestamp'], [-86_400, 'stale_timestamp']] as const) {
      const spec = buildPush(account, xml, { at: new Date(NOW.getTime() + offset * 1000) });
      expect(await outcome(createAdapter(account), toRequest(spec)), String(offset)).toBe(expected);
    }
  });

  it('refuses a plain-mode push without encryption configured to decrypt an encrypted one', async () => {
    const plain = testAccount({ settings: { mode: 'plain', encodingAesKey: undefined } });
    const encrypted = buildPush(testAccount(), xml, { at: NOW });
    expect(await outcome(createAdapter(plain), toRequest(encrypted))).toBe('encryption_not_configured');
  });

  it('refuses repeated query parameters, missing ones and a wrong method', async () => {
    const request = toRequest(buildPush(account, xml, { at: NOW }));
    const doubled = new URL(request.url);
    doubled.search += `&msg_signature=${'0'.repeat(40)}`;
    const adapter = createAdapter(account);
    expect(await outcome(adapter, { ...request, url: doubled })).toBe('duplicate_parameter');
    expect(await outcome(adapter, withQuery(request, { timestamp: null }))).toBe('missing_timestamp');
    expect(await outcome(adapter, withQuery(request, { timestamp: 'soon' }))).toBe('missing_timestamp');
    expect(await outcome(adapter, withQuery(request, { nonce: ']]><x>' }))).toBe('missing_nonce');
    expect(await outcome(adapter, { ...request, method: 'GET' })).toBe('method');
  });
});

describe('answer', () => {
  it('safe mode: an encrypted empty reply, signed over its own timestamp and the echoed nonce', async () => {
    const account = testAccount();
    const adapter = createAdapter(account);
    const spec = buildPush(account, messageXml(account, { from: 'oUser1', msgType: 'text', fields: [['Content', 'hi']], at: NOW }), { at: NOW, nonce: '5550123' });
    const verified = await adapter.verify(toRequest(spec));
    const answer = adapter.answer!(verified, adapter.parse(verified));
    expect(answer.status).toBe(200);
    expect(answer.contentType).toBe('application/xml');
    const body = String(answer.body);
    const field = (name: string) => new RegExp(`<${name}>(?:<!\\[CDATA\\[)?([^<\\]]*)`).exec(body)![1]!;
    expect(field('Nonce')).toBe('5550123');
    expect(field('TimeStamp')).toBe(String(Math.floor(NOW.getTime() / 1000)));
    expect(sortedSha1([account.settings.token, field('TimeStamp'), field('Nonce'), field('Encrypt')])).toBe(field('MsgSignature'));
    expect(decryptMessage(field('Encrypt'), aesKeyFrom(account.settings.encodingAesKey!), account.settings.appId)).toEqual(new Uint8Array());
  });

  it('plain mode answers success', async () => {
    const plain = testAccount({ settings: { mode: 'plain' } });
    const adapter = createAdapter(plain);
    const verified = await adapter.verify(toRequest(buildPush(plain, '<xml><MsgType>text</MsgType></xml>', { at: NOW })));
    expect(adapter.answer!(verified, [])).toEqual({ status: 200, body: 'success', contentType: 'text/plain' });
  });
});

describe('bad input before authentication', () => {
  const account = testAccount();
  const signedQuery = (body: string) => {
    const timestamp = String(Math.floor(NOW.getTime() / 1000));
    const encrypt = encryptMessage(body, aesKeyFrom(account.settings.encodingAesKey!), account.settings.appId);
    return { encrypt, query: `timestamp=${timestamp}&nonce=1&encrypt_type=aes&msg_signature=${sortedSha1([account.settings.token, timestamp, '1', encrypt])}` };
  };

  it('an oversized body is refused as too large before anything reads it', async () => {
    const { query } = signedQuery('<xml/>');
    const huge = `<xml><Encrypt>${'A'.repeat(1_100_000)}</Encrypt></xml>`;
    expect(await outcome(createAdapter(account), rawRequest(query, huge))).toBe('too_large');
  });

  it('a correctly signed and encrypted message larger than the XML cap is refused as a payload error', async () => {
    const big = `<xml><MsgType>text</MsgType><Content>${'x'.repeat(300_000)}</Content></xml>`;
    const { encrypt, query } = signedQuery(big);
    const adapter = createAdapter(account);
    const verified = await adapter.verify(rawRequest(query, `<xml><Encrypt><![CDATA[${encrypt}]]></Encrypt></xml>`));
    expect(() => adapter.parse(verified)).toThrow(WebhookPayloadError);
  });

  it('a DOCTYPE around a valid Encrypt is refused before the signature is even looked at', async () => {
    const { encrypt, query } = signedQuery('<xml/>');
    const body = `<!DOCTYPE xml [<!ENTITY a "b">]><xml><Encrypt><![CDATA[${encrypt}]]></Encrypt></xml>`;
    expect(await outcome(createAdapter(account), rawRequest(query, body))).toBe('xml_declaration_refused');
  });
});
