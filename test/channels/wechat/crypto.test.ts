/** Every published WXBizMsgCrypt vector, and the tampered variants that must fail. */
import { createCipheriv } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  WeChatCryptoError,
  aesKeyFrom,
  decryptMessage,
  encryptMessage,
  encryptReply,
  envelopeXml,
  signatureMatches,
  sortedSha1,
} from '../../../src/channels/wechat/crypto.ts';
import { VECTORS, fixtureText } from './helpers.ts';

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

/** A ciphertext laid out by hand, with any padding, to test what the decryptor accepts. */
function rawCiphertext(key: Buffer, plain: Buffer): string {
  const cipher = createCipheriv('aes-256-cbc', key, key.subarray(0, 16));
  cipher.setAutoPadding(false);
  return Buffer.concat([cipher.update(plain), cipher.final()]).toString('base64');
}

function layout(message: string, appId: string): Buffer {
  const body = Buffer.from(message);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(body.length);
  return Buffer.concat([Buffer.alloc(16, 0x61), length, body, Buffer.from(appId)]);
}

describe('signatures', () => {
  it('reproduce the GET and plaintext-push URL signatures of the docs', () => {
    const vector = VECTORS['official-doc-url-verification-and-plaintext-push-signature'];
    const get = new URL(vector.get.url).searchParams;
    expect(sortedSha1([vector.token, get.get('timestamp')!, get.get('nonce')!])).toBe(vector.get.signature);
    const post = new URL(vector.plaintextPost.url).searchParams;
    expect(sortedSha1([vector.token, post.get('timestamp')!, post.get('nonce')!])).toBe(vector.plaintextPost.signature);
  });

  it('reproduce every msg_signature, and the 3-field signature of the debug demo', () => {
    for (const id of ['official-python-sample-post-decrypt', 'easywechat-post-decrypt-with-signature']) {
      const v = VECTORS[id];
      expect(sortedSha1([v.token, v.timestamp, v.nonce, v.encrypt]), id).toBe(v.msg_signature);
    }
    const demo = VECTORS['official-doc-debug-demo-end-to-end'];
    expect(sortedSha1([demo.token, demo.request.timestamp, demo.request.nonce, demo.request.encrypt])).toBe(demo.request.msg_signature);
    expect(sortedSha1([demo.token, demo.request.timestamp, demo.request.nonce])).toBe(demo.request.signature);
    const java = VECTORS['official-java-sample-fixed-random-encrypt'];
    expect(sortedSha1([java.token, java.timestamp, java.nonce, java.cases[0].encrypt])).toBe(java.derivedLocally.msg_signature_case0_with_timestamp_and_nonce_above);
  });

  it('compare in constant time, accept upper-case hex, refuse anything not 40 hex digits', () => {
    const expected = VECTORS['easywechat-post-decrypt-with-signature'].msg_signature;
    expect(signatureMatches(expected, expected)).toBe(true);
    expect(signatureMatches(expected.toUpperCase(), expected)).toBe(true);
    const lastFlipped = `${expected.slice(0, 39)}${expected.endsWith('0') ? '1' : '0'}`;
    for (const given of [undefined, null, '', expected.slice(0, 39), `${expected}0`, 'invalid-signature', 'g'.repeat(40), lastFlipped]) {
      expect(signatureMatches(given, expected), String(given)).toBe(false);
    }
  });
});

describe('decryption', () => {
  it('opens the official Python sample: the captured text message with its 64-bit MsgId', () => {
    const v = VECTORS['official-python-sample-post-decrypt'];
    const message = decryptMessage(v.encrypt, aesKeyFrom(v.encodingAESKey), v.appid);
    expect(text(message)).toBe(v.derivedLocally.decryptedMsg);
    expect(fixtureText(v.postBodyFile)).toContain(v.encrypt);
  });

  it('opens the EasyWeChat vector (pad 21, which Node auto-padding refuses)', () => {
    const v = VECTORS['easywechat-post-decrypt-with-signature'];
    const message = text(decryptMessage(v.encrypt, aesKeyFrom(v.encodingAESKey), v.appid));
    expect(message).toBe(v.derivedLocally.decryptedMsg);
    for (const value of Object.values(v.assertedBySource as Record<string, string>)) expect(message).toContain(value);
    expect(fixtureText(v.postBodyFile)).toContain(v.encrypt);
  });

  it('opens the docs debug demo (all-A key, pad 22) with its declared lengths', () => {
    const demo = VECTORS['official-doc-debug-demo-end-to-end'];
    expect(Buffer.from(demo.request.encrypt, 'base64').length).toBe(demo.request.decodedCiphertextBytes);
    const message = decryptMessage(demo.request.encrypt, aesKeyFrom(demo.encodingAESKey), demo.appid);
    expect(message.length).toBe(demo.request.msg_len);
    expect(text(message)).toBe(demo.request.msg);
    expect(aesKeyFrom(demo.encodingAESKey).equals(Buffer.alloc(32))).toBe(true);
  });

  it('refuses a valid ciphertext for another appid (EasyWeChat negative case)', () => {
    const v = VECTORS['easywechat-post-decrypt-with-signature'];
    expect(() => decryptMessage(v.encrypt, aesKeyFrom(v.encodingAESKey), 'wx0000000000000000')).toThrow(WeChatCryptoError);
    expect(() => decryptMessage(v.encrypt, aesKeyFrom(v.encodingAESKey), `${v.appid}x`)).toThrow(/appid_mismatch/);
  });

  it('refuses truncated, malformed and wrongly padded ciphertexts', () => {
    const v = VECTORS['official-python-sample-post-decrypt'];
    const key = aesKeyFrom(v.encodingAESKey);
    const reason = (encrypt: string, appId = v.appid) => {
      try {
        decryptMessage(encrypt, key, appId);
        return 'accepted';
      } catch (error) {
        return (error as WeChatCryptoError).reason;
      }
    };
    expect(reason(v.encrypt.slice(0, -4))).toBe('malformed_ciphertext'); // one block short of a multiple of 16 bytes
    expect(reason(Buffer.from(v.encrypt, 'base64').subarray(0, 32).toString('base64'))).not.toBe('accepted');
    expect(reason('')).toBe('malformed_ciphertext');
    expect(reason('not base64!')).toBe('malformed_ciphertext');
    expect(reason(`${v.encrypt.slice(0, 10)}*${v.encrypt.slice(11)}`)).toBe('malformed_ciphertext');
    // Pad value 0, a pad above 32, and inconsistent pad bytes.
    const body = layout('<xml/>', v.appid);
    const zeroPad = Buffer.concat([body, Buffer.alloc(32 - (body.length % 32), 0)]);
    expect(reason(rawCiphertext(key, zeroPad))).toBe('bad_padding');
    const bigPad = Buffer.concat([body, Buffer.alloc(32 - (body.length % 32), 0), Buffer.alloc(32, 33)]);
    expect(reason(rawCiphertext(key, bigPad))).toBe('bad_padding');
    const pad = 32 - (body.length % 32);
    const mixed = Buffer.concat([body, Buffer.alloc(pad - 1, 7), Buffer.from([pad])]);
    expect(pad).toBeGreaterThan(1);
    expect(reason(rawCiphertext(key, mixed))).toBe('bad_padding');
    // A length field that claims more than there is.
    const lying = layout('<xml/>', v.appid);
    lying.writeUInt32BE(10_000, 16);
    const padded = Buffer.concat([lying, Buffer.alloc(32 - (lying.length % 32), 32 - (lying.length % 32))]);
    expect(reason(rawCiphertext(key, padded))).toBe('bad_length');
    expect(reason(encryptMessage('<xml/>', key, v.appid))).toBe('accepted');
  });
});

describe('encryption', () => {
  it('reproduces the official Java sample byte for byte with its fixed random', () => {
    const v = VECTORS['official-java-sample-fixed-random-encrypt'];
    for (const testCase of v.cases) {
      expect(encryptMessage(testCase.msg, aesKeyFrom(v.encodingAESKey), v.appid, Buffer.from(v.randomStr))).toBe(testCase.encrypt);
    }
  });

  it('reproduces the docs encrypted reply and its MsgSignature', () => {
    const demo = VECTORS['official-doc-debug-demo-end-to-end'];
    const envelope = encryptReply(demo.reply.msg, {
      token: demo.token,
      aesKey: aesKeyFrom(demo.encodingAESKey),
      appId: demo.appid,
      timestamp: demo.reply.timestamp,
      nonce: demo.reply.nonce,
      random: Buffer.from(demo.reply.random16),
    });
    expect(envelope).toEqual({ encrypt: demo.reply.encrypt, msgSignature: demo.reply.msg_signature, timestamp: demo.reply.timestamp, nonce: demo.reply.nonce });
    const fixture = fixtureText(demo.reply.replyBodyFile);
    for (const value of [demo.reply.encrypt, demo.reply.msg_signature, demo.reply.timestamp, demo.reply.nonce]) expect(fixture).toContain(value);
    expect(envelopeXml(envelope)).toBe(fixture.trimEnd());
  });

  it('round-trips every length, padding to 32-byte blocks with pad values 1..32', () => {
    const key = aesKeyFrom('abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG');
    const pads = new Set<number>();
    for (let length = 0; length < 70; length++) {
      const message = '界'.repeat(length);
      const encrypt = encryptMessage(message, key, 'wx0123456789abcdef');
      const bytes = Buffer.from(encrypt, 'base64');
      expect(bytes.length % 32).toBe(0);
      pads.add(bytes.length - (16 + 4 + Buffer.byteLength(message) + 18));
      expect(text(decryptMessage(encrypt, key, 'wx0123456789abcdef'))).toBe(message);
    }
    expect(Math.min(...pads)).toBe(1);
    expect(Math.max(...pads)).toBe(32);
  });
});
