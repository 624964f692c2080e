/**
 * Push authentication for WeChat: the GET handshake, the POST signatures in
 * safe, compat and plain mode, timestamp freshness, the replay guard the core records with the
 * events, and the answer WeChat expects within 5 s. Failures throw WebhookVerificationError
 * (401/403) with a short reason that never contains a secret, a signature or an OpenID.
 */
import { createHash } from 'node:crypto';
import type { VerifiedWebhook, WebhookAnswer, WebhookRequest } from '../../core/adapter.ts';
import type { Clock } from '../../core/clock.ts';
import { WebhookPayloadError, WebhookVerificationError } from '../../core/errors.ts';
import { BodyTooLargeError } from '../../core/http/body.ts';
import type { WeChatMode } from './config.ts';
import { WeChatCryptoError, aesKeyFrom, decryptMessage, encryptReply, envelopeXml, signatureMatches, sortedSha1 } from './crypto.ts';
import { MAX_XML_BYTES, XmlRefusedError, gateXml } from './xml.ts';

/**
 * Largest raw push accepted. Compat mode carries a message twice (plaintext and base64 of the
 * ciphertext), so this is four times the cap on the message itself (`MAX_XML_BYTES`).
 */
export const MAX_PUSH_BYTES = 4 * MAX_XML_BYTES;

/** Pushes whose timestamp is further than this from our clock are refused (±5 min). */
export const TIMESTAMP_TOLERANCE_MS = 300_000;
/**
 * How long a timestamp+nonce is remembered: as long as its timestamp is acceptable, plus a
 * minute for clock drift between replicas and the database that expires the record.
 */
const REPLAY_MEMORY_MS = TIMESTAMP_TOLERANCE_MS + 60_000;

const DIGITS = /^[0-9]{1,12}$/;
// WeChat's nonces are digits; a strict charset also keeps the echoed nonce out of CDATA tricks.
const NONCE = /^[A-Za-z0-9]{1,64}$/;
const ECHOSTR = /^[A-Za-z0-9_-]{1,128}$/;
// Exactly one Encrypt element whose value is base64, with or without CDATA (linear regexes).
const ENCRYPT_ELEMENT = /^<Encrypt>\s*(?:<!\[CDATA\[([A-Za-z0-9+/=]*)\]\]>|([A-Za-z0-9+/=]*))\s*<\/Encrypt>/;

/** What verification needs from the account. */
export interface VerifyOptions {
  appId: string;
  token: string;
  mode: WeChatMode;
  /** 32-byte key from EncodingAESKey; absent only in plain mode without a key. */
  aesKey: Buffer | undefined;
  clock: Clock;
}

/** Facts `answer` needs, carried in `VerifiedWebhook.context`. */
interface PushContext {
  encrypted: boolean;
  nonce: string;
}

/**
 * The server-URL check: `signature = sha1(sort(token, timestamp, nonce))`; `echostr` is echoed.
 * The GET stays plaintext in every mode for official accounts. Its timestamp is not checked:
 * nothing is recorded, and an operator's skewed clock must not block the console's check.
 */
export function answerHandshake(request: WebhookRequest, token: string): WebhookAnswer {
  const query = singleParams(request.url);
  const timestamp = query.get('timestamp');
  const nonce = query.get('nonce');
  const echostr = query.get('echostr');
  if (timestamp === undefined || !DIGITS.test(timestamp) || nonce === undefined || !NONCE.test(nonce)) {
    throw new WebhookVerificationError('handshake_malformed');
  }
  if (echostr === undefined || !ECHOSTR.test(echostr)) throw new WebhookVerificationError('handshake_echostr');
  if (!signatureMatches(query.get('signature'), sortedSha1([token, timestamp, nonce]))) {
    throw new WebhookVerificationError('handshake_signature');
  }
  return { status: 200, body: echostr, contentType: 'text/plain' };
}

/**
 * Authenticates a push. Encrypted pushes (`encrypt_type=aes`) are checked with `msg_signature`
 * over the `Encrypt` value, then decrypted and their appid checked; the query `signature` is
 * ignored for them, as WeChat's docs say ("不要使用signature验证"). Unencrypted pushes are only
 * accepted in plain mode, on the query `signature`, which does not cover the body: the replay
 * guard is then the only thing stopping a captured URL from carrying a forged body.
 */
export function verifyPush(request: WebhookRequest, options: VerifyOptions): VerifiedWebhook {
  if (request.method !== 'POST') throw new WebhookVerificationError('method');
  if (request.body.length > MAX_PUSH_BYTES) throw new BodyTooLargeError(MAX_PUSH_BYTES);
  const query = singleParams(request.url);
  const timestamp = query.get('timestamp');
  const nonce = query.get('nonce');
  if (timestamp === undefined || !DIGITS.test(timestamp)) throw new WebhookVerificationError('missing_timestamp');
  if (nonce === undefined || !NONCE.test(nonce)) throw new WebhookVerificationError('missing_nonce');
  const sentAt = Number(timestamp) * 1000;
  const now = options.clock.now().getTime();
  if (Math.abs(now - sentAt) > TIMESTAMP_TOLERANCE_MS) throw new WebhookVerificationError('stale_timestamp');
  const outer = gate(request.body);

  const encrypted = query.get('encrypt_type') !== undefined;
  let body: Uint8Array;
  if (encrypted) {
    if (query.get('encrypt_type') !== 'aes') throw new WebhookVerificationError('unknown_encrypt_type');
    if (options.aesKey === undefined) throw new WebhookVerificationError('encryption_not_configured');
    const encrypt = extractEncrypt(outer);
    if (!signatureMatches(query.get('msg_signature'), sortedSha1([options.token, timestamp, nonce, encrypt]))) {
      throw new WebhookVerificationError('signature_mismatch');
    }
    try {
      body = decryptMessage(encrypt, options.aesKey, options.appId);
    } catch (error) {
      if (error instanceof WeChatCryptoError) throw new WebhookVerificationError(error.reason);
      throw error;
    }
  } else {
    // Safe and compat mode pushes always carry Encrypt: a plaintext one is a downgrade attempt.
    if (options.mode !== 'plain') throw new WebhookVerificationError('plaintext_refused');
    if (!signatureMatches(query.get('signature'), sortedSha1([options.token, timestamp, nonce]))) {
      throw new WebhookVerificationError('signature_mismatch');
    }
    body = request.body;
  }

  const context: PushContext = { encrypted, nonce };
  return {
    request,
    body,
    // Fingerprint of the authentic message, not of the raw bytes: a retry WeChat re-encrypts with
    // a fresh random prefix is the same message; a forged body in plain mode is not.
    replayGuard: {
      key: `${timestamp}:${nonce}`,
      fingerprint: createHash('sha256').update(body).digest('hex'),
      expiresAt: new Date(Math.max(now, sentAt) + REPLAY_MEMORY_MS),
    },
    context: { ...context },
  };
}

/** What answering needs from the account. */
export interface AnswerOptions {
  appId: string;
  token: string;
  mode: WeChatMode;
  aesKey: Buffer | undefined;
  clock: Clock;
}

/**
 * The answer once the push is recorded. Nothing is ever replied passively (agents answer through
 * the customer-service API), so: `success` in plain and compat mode, and in safe mode an
 * encrypted empty reply, the form safe mode prescribes, which WeChat treats like `success`.
 */
export function answerPush(webhook: VerifiedWebhook, options: AnswerOptions): WebhookAnswer {
  const context = webhook.context as Partial<PushContext> | undefined;
  if (options.mode !== 'safe' || context?.encrypted !== true || options.aesKey === undefined || typeof context.nonce !== 'string') {
    return { status: 200, body: 'success', contentType: 'text/plain' };
  }
  const envelope = encryptReply('', {
    token: options.token,
    aesKey: options.aesKey,
    appId: options.appId,
    timestamp: String(Math.floor(options.clock.now().getTime() / 1000)),
    nonce: context.nonce,
  });
  return { status: 200, body: envelopeXml(envelope), contentType: 'application/xml' };
}

/** The AES key of an account, or undefined when plain mode runs without one. */
export function accountAesKey(encodingAesKey: string | undefined): Buffer | undefined {
  return encodingAesKey === undefined ? undefined : aesKeyFrom(encodingAesKey);
}

function gate(body: Uint8Array): string {
  try {
    return gateXml(body, MAX_PUSH_BYTES);
  } catch (error) {
    if (error instanceof XmlRefusedError) {
      if (error.reason === 'too_large') throw new BodyTooLargeError(MAX_PUSH_BYTES);
      throw new WebhookPayloadError(error.reason);
    }
    throw error;
  }
}

/** The single `Encrypt` value, found without a full parse (the body is not authentic yet). */
function extractEncrypt(outer: string): string {
  const first = outer.indexOf('<Encrypt>');
  if (first === -1 || outer.indexOf('<Encrypt>', first + 1) !== -1) throw new WebhookVerificationError('missing_encrypt');
  const match = ENCRYPT_ELEMENT.exec(outer.slice(first));
  const value = match?.[1] ?? match?.[2];
  if (value === undefined || value === '') throw new WebhookVerificationError('missing_encrypt');
  return value;
}

/** Query parameters by name; a name given twice refuses the request, so no check can read a different copy. */
function singleParams(url: URL): Map<string, string> {
  const params = new Map<string, string>();
  for (const [name, value] of url.searchParams) {
    if (params.has(name)) throw new WebhookVerificationError('duplicate_parameter');
    params.set(name, value);
  }
  return params;
}
