/**
 * WeChat's message crypto (WXBizMsgCrypt): the SHA-1 signatures over sorted
 * strings, and AES-256-CBC with WeChat's own 32-byte PKCS#7 padding. Node's automatic padding
 * only knows 16-byte blocks and throws on pad values above 16, so it is always switched off
 * here and the padding is checked and stripped by hand.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** WeChat pads to multiples of 32 bytes, pad value 1..32 (not the AES block size of 16). */
export const WECHAT_PAD_BLOCK = 32;

const AES_BLOCK = 16;
const RANDOM_BYTES = 16;
const LENGTH_BYTES = 4;
const SHA1_HEX = /^[0-9a-f]{40}$/i;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** Why a ciphertext was refused; used as the verification failure reason. */
export type DecryptFailure = 'malformed_ciphertext' | 'bad_padding' | 'bad_length' | 'appid_mismatch';

/** A ciphertext that could not be opened; `reason` is safe to log and count. */
export class WeChatCryptoError extends Error {
  readonly reason: DecryptFailure;
  constructor(reason: DecryptFailure) {
    super(`wechat ciphertext refused: ${reason}`);
    this.name = 'WeChatCryptoError';
    this.reason = reason;
  }
}

/** `hex(sha1(concat(sort(parts))))`: the URL `signature` (3 parts) and `msg_signature` (4 parts). */
export function sortedSha1(parts: ReadonlyArray<string>): string {
  // WeChat sorts by code unit like its samples (Python `sorted`, Java `Arrays.sort`), not by locale.
  const sorted = [...parts].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return createHash('sha1').update(sorted.join(''), 'utf8').digest('hex');
}

/** Compares a received hex signature with the expected one in constant time (case-insensitive hex). */
export function signatureMatches(given: string | undefined | null, expected: string): boolean {
  if (typeof given !== 'string' || !SHA1_HEX.test(given)) return false;
  // Both are 40 hex digits here, so the buffers have equal length and timingSafeEqual cannot throw.
  return timingSafeEqual(Buffer.from(given.toLowerCase(), 'hex'), Buffer.from(expected, 'hex'));
}

/** The 32-byte AES key: `base64(EncodingAESKey + "=")`. */
export function aesKeyFrom(encodingAesKey: string): Buffer {
  const key = Buffer.from(`${encodingAesKey}=`, 'base64');
  if (encodingAesKey.length !== 43 || key.length !== 32) throw new Error('EncodingAESKey must be 43 base64 characters');
  return key;
}

/**
 * Decrypts an `Encrypt` value and returns the message bytes, after checking WeChat's layout
 * `random(16) ‖ uint32be(len) ‖ msg ‖ appid` and that the trailing appid is this account's.
 */
export function decryptMessage(encrypt: string, aesKey: Buffer, appId: string): Uint8Array {
  if (!BASE64.test(encrypt) || encrypt.length % 4 !== 0) throw new WeChatCryptoError('malformed_ciphertext');
  const cipherBytes = Buffer.from(encrypt, 'base64');
  // The smallest valid plaintext (random + length + appid) already needs two AES blocks.
  if (cipherBytes.length < 2 * AES_BLOCK || cipherBytes.length % AES_BLOCK !== 0) throw new WeChatCryptoError('malformed_ciphertext');
  const decipher = createDecipheriv('aes-256-cbc', aesKey, aesKey.subarray(0, AES_BLOCK));
  decipher.setAutoPadding(false);
  const padded = Buffer.concat([decipher.update(cipherBytes), decipher.final()]);

  const pad = padded[padded.length - 1]!;
  if (pad < 1 || pad > WECHAT_PAD_BLOCK || pad > padded.length) throw new WeChatCryptoError('bad_padding');
  for (let i = padded.length - pad; i < padded.length; i++) {
    if (padded[i] !== pad) throw new WeChatCryptoError('bad_padding');
  }
  const content = padded.subarray(0, padded.length - pad);
  if (content.length < RANDOM_BYTES + LENGTH_BYTES) throw new WeChatCryptoError('bad_length');
  const length = content.readUInt32BE(RANDOM_BYTES);
  const start = RANDOM_BYTES + LENGTH_BYTES;
  if (length > content.length - start) throw new WeChatCryptoError('bad_length');
  const message = content.subarray(start, start + length);
  const trailing = content.subarray(start + length);
  const expected = Buffer.from(appId, 'utf8');
  if (trailing.length !== expected.length || !timingSafeEqual(trailing, expected)) throw new WeChatCryptoError('appid_mismatch');
  return new Uint8Array(message);
}

/** Encrypts a message as WeChat does; `random` is 16 bytes (fixed only in tests reproducing vectors). */
export function encryptMessage(message: Uint8Array | string, aesKey: Buffer, appId: string, random: Uint8Array = randomBytes(RANDOM_BYTES)): string {
  if (random.length !== RANDOM_BYTES) throw new Error('the random prefix must be 16 bytes');
  const body = typeof message === 'string' ? Buffer.from(message, 'utf8') : Buffer.from(message);
  const length = Buffer.alloc(LENGTH_BYTES);
  length.writeUInt32BE(body.length);
  const plain = Buffer.concat([Buffer.from(random), length, body, Buffer.from(appId, 'utf8')]);
  const pad = WECHAT_PAD_BLOCK - (plain.length % WECHAT_PAD_BLOCK);
  const cipher = createCipheriv('aes-256-cbc', aesKey, aesKey.subarray(0, AES_BLOCK));
  cipher.setAutoPadding(false);
  return Buffer.concat([cipher.update(Buffer.concat([plain, Buffer.alloc(pad, pad)])), cipher.final()]).toString('base64');
}

/** The parts of an encrypted passive reply (WeChat's "Encrypted reply"). */
export interface EncryptedEnvelope {
  encrypt: string;
  msgSignature: string;
  timestamp: string;
  nonce: string;
}

/**
 * Encrypts a passive reply: `MsgSignature` is computed over the reply's own timestamp (seconds)
 * and nonce (WeChat's docs echo the request's nonce).
 */
export function encryptReply(
  message: string,
  options: { token: string; aesKey: Buffer; appId: string; timestamp: string; nonce: string; random?: Uint8Array },
): EncryptedEnvelope {
  const encrypt = encryptMessage(message, options.aesKey, options.appId, options.random);
  return {
    encrypt,
    msgSignature: sortedSha1([options.token, options.timestamp, options.nonce, encrypt]),
    timestamp: options.timestamp,
    nonce: options.nonce,
  };
}

/** The reply envelope as XML; every value is base64, hex or digits, so CDATA needs no escaping. */
export function envelopeXml(envelope: EncryptedEnvelope): string {
  return (
    '<xml>\n' +
    `<Encrypt><![CDATA[${envelope.encrypt}]]></Encrypt>\n` +
    `<MsgSignature><![CDATA[${envelope.msgSignature}]]></MsgSignature>\n` +
    `<TimeStamp>${envelope.timestamp}</TimeStamp>\n` +
    `<Nonce><![CDATA[${envelope.nonce}]]></Nonce>\n` +
    '</xml>'
  );
}
