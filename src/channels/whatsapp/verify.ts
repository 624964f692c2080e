/**
 * Webhook authentication for the WhatsApp Cloud API: the GET `hub.*` handshake (verify token)
 * and the `X-Hub-Signature-256` HMAC over the raw POST bytes (app secret). Failures throw
 * WebhookVerificationError with a short reason that never contains a secret or a signature.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { VerifiedWebhook, WebhookAnswer, WebhookRequest } from '../../core/adapter.ts';
import { WebhookVerificationError } from '../../core/errors.ts';

/** The header Meta signs every webhook POST with. */
export const SIGNATURE_HEADER = 'x-hub-signature-256';

const SIGNATURE_PREFIX = 'sha256=';
const SHA256_HEX_LENGTH = 64;
const utf8 = new TextEncoder();

/**
 * Answers Meta's subscription handshake: 200 with `hub.challenge` echoed byte for byte when
 * `hub.mode=subscribe` and `hub.verify_token` matches; otherwise throws (the core answers 403).
 */
export function answerHandshake(request: WebhookRequest, verifyToken: string): WebhookAnswer {
  const params = rawQueryParams(request.url.search);
  const mode = params.get('hub.mode');
  if (mode === undefined || !equalBytes(mode, utf8.encode('subscribe'))) {
    throw new WebhookVerificationError('handshake_mode');
  }
  const token = params.get('hub.verify_token');
  if (token === undefined) throw new WebhookVerificationError('handshake_token_missing');
  if (!constantTimeEqual(token, utf8.encode(verifyToken))) throw new WebhookVerificationError('handshake_token_mismatch');
  const challenge = params.get('hub.challenge');
  if (challenge === undefined || challenge.length === 0) throw new WebhookVerificationError('handshake_challenge_missing');
  // Bytes, not a decoded string: whatever Meta put in the query comes back unchanged.
  return { status: 200, body: challenge, contentType: 'text/plain' };
}

/**
 * Checks `X-Hub-Signature-256: sha256=<hex>` against HMAC-SHA256(appSecret, raw body), then,
 * for bodies with non-ASCII characters, against the escaped-unicode form Meta may have signed.
 */
export function verifySignature(request: WebhookRequest, appSecret: string): VerifiedWebhook {
  if (request.method !== 'POST') throw new WebhookVerificationError('method');
  const header = request.headers.get(SIGNATURE_HEADER);
  if (header === undefined || header.length === 0) throw new WebhookVerificationError('missing_signature');
  const value = header.trim();
  if (value.slice(0, SIGNATURE_PREFIX.length).toLowerCase() !== SIGNATURE_PREFIX) {
    throw new WebhookVerificationError('malformed_signature');
  }
  const hex = value.slice(SIGNATURE_PREFIX.length);
  // Meta sends lowercase hex; uppercase is accepted because it encodes the same bytes.
  if (!/^[0-9a-fA-F]*$/.test(hex) || hex.length % 2 !== 0) throw new WebhookVerificationError('malformed_signature');
  if (hex.length !== SHA256_HEX_LENGTH) throw new WebhookVerificationError('signature_length');
  const given = Buffer.from(hex, 'hex');

  const body = request.body;
  if (timingSafeEqual(given, hmac(appSecret, body))) return { request, body };
  if (hasNonAscii(body)) {
    const escaped = escapeUnicode(new TextDecoder('utf-8').decode(body));
    if (timingSafeEqual(given, hmac(appSecret, utf8.encode(escaped)))) return { request, body };
  }
  throw new WebhookVerificationError('signature_mismatch');
}

/** HMAC-SHA256 of `body` keyed with the app secret, as raw bytes (32). */
export function hmac(appSecret: string, body: Uint8Array | string): Buffer {
  return createHmac('sha256', appSecret).update(body).digest();
}

/**
 * The escaped-unicode form Meta documents for signatures: every UTF-16 code unit outside
 * `\0-~` becomes `\uXXXX` with lowercase hex (so an emoji becomes two escapes).
 */
export function escapeUnicode(text: string): string {
  return text.replace(/[^\0-~]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function hasNonAscii(bytes: Uint8Array): boolean {
  for (const byte of bytes) if (byte > 0x7e) return true;
  return false;
}

/** Equal without leaking where or how long: compare fixed-length digests of both sides. */
function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, index) => byte === b[index]);
}

/**
 * The query as raw bytes per name (first occurrence wins), decoded like
 * application/x-www-form-urlencoded but without the lossy UTF-8 step URLSearchParams applies.
 */
function rawQueryParams(search: string): Map<string, Uint8Array> {
  const params = new Map<string, Uint8Array>();
  const query = search.startsWith('?') ? search.slice(1) : search;
  for (const pair of query.split('&')) {
    if (pair.length === 0) continue;
    const at = pair.indexOf('=');
    const name = Buffer.from(percentDecode(at === -1 ? pair : pair.slice(0, at))).toString('utf8');
    if (!params.has(name)) params.set(name, percentDecode(at === -1 ? '' : pair.slice(at + 1)));
  }
  return params;
}

function percentDecode(text: string): Uint8Array {
  const input = Buffer.from(text.replaceAll('+', ' '), 'utf8');
  const output: number[] = [];
  for (let i = 0; i < input.length; i++) {
    const byte = input[i]!;
    if (byte === 0x25 && isHex(input[i + 1]) && isHex(input[i + 2])) {
      output.push(parseInt(String.fromCharCode(input[i + 1]!, input[i + 2]!), 16));
      i += 2;
    } else {
      output.push(byte);
    }
  }
  return Uint8Array.from(output);
}

function isHex(byte: number | undefined): boolean {
  return byte !== undefined && ((byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x46) || (byte >= 0x61 && byte <= 0x66));
}
