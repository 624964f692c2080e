/**
 * Webhook authentication for the Bot API. Telegram signs nothing: the only proof is the
 * `secret_token` given to setWebhook, echoed in `X-Telegram-Bot-Api-Secret-Token` on every POST.
 * It is compared in constant time (fixed-length digests, so neither content nor length leaks).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { VerifiedWebhook, WebhookRequest } from '../../core/adapter.ts';
import { WebhookVerificationError } from '../../core/errors.ts';

/** The header Telegram puts the secret token in. */
export const SECRET_HEADER = 'x-telegram-bot-api-secret-token';

/** Accepts a POST whose secret header equals the account's secret token; throws otherwise. */
export function verifySecretToken(request: WebhookRequest, secretToken: string | undefined): VerifiedWebhook {
  if (request.method !== 'POST') throw new WebhookVerificationError('method');
  // A polling account has no webhook: nothing posted to its route can be Telegram's.
  if (secretToken === undefined || secretToken === '') throw new WebhookVerificationError('no_secret_configured');
  const given = request.headers.get(SECRET_HEADER);
  if (given === undefined || given === '') throw new WebhookVerificationError('missing_secret');
  if (!constantTimeEqual(given, secretToken)) throw new WebhookVerificationError('secret_mismatch');
  return { request, body: request.body };
}

function constantTimeEqual(a: string, b: string): boolean {
  const digest = (text: string) => createHash('sha256').update(text, 'utf8').digest();
  return timingSafeEqual(digest(a), digest(b));
}
