/**
 * Webhook authentication for LINE (reference A1, A8): `X-Line-Signature` is the base64
 * HMAC-SHA256 of the raw body, keyed with the channel secret's UTF-8 bytes (not hex-decoded).
 * Compared in constant time on the decoded 32 bytes. There is no GET handshake: the console's
 * "Verify" button sends a signed POST with no events, which is answered 200 like any other.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { VerifiedWebhook, WebhookRequest } from '../../core/adapter.ts';
import { WebhookVerificationError } from '../../core/errors.ts';

/** The header LINE signs every webhook with (looked up lower-cased: names may change case). */
export const SIGNATURE_HEADER = 'x-line-signature';

const BASE64 = /^[A-Za-z0-9+/]{43}=$/;
const DIGEST_BYTES = 32;

/** The signature LINE would send for `body`. */
export function lineSignature(channelSecret: string, body: Uint8Array | string): string {
  return hmac(channelSecret, body).toString('base64');
}

/** Checks the signature of a POST; throws WebhookVerificationError (answered 401) otherwise. */
export function verifySignature(request: WebhookRequest, channelSecret: string): VerifiedWebhook {
  if (request.method !== 'POST') throw new WebhookVerificationError('method');
  const header = request.headers.get(SIGNATURE_HEADER);
  if (header === undefined || header.trim() === '') throw new WebhookVerificationError('missing_signature');
  const value = header.trim();
  if (!BASE64.test(value)) throw new WebhookVerificationError('malformed_signature');
  const given = Buffer.from(value, 'base64');
  if (given.length !== DIGEST_BYTES) throw new WebhookVerificationError('malformed_signature');
  if (!timingSafeEqual(given, hmac(channelSecret, request.body))) throw new WebhookVerificationError('signature_mismatch');
  return { request, body: request.body };
}

function hmac(channelSecret: string, body: Uint8Array | string): Buffer {
  // The key is the secret as text: 32 hex characters are 32 key bytes, not 16 decoded ones.
  return createHmac('sha256', Buffer.from(channelSecret, 'utf8')).update(body).digest();
}
