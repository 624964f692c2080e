/** How the LINE Messaging API calls the webhook, for docs/openapi.json. */
import type { WebhookDoc } from '../../core/adapter.ts';
import { SIGNATURE_HEADER } from './verify.ts';

export const lineWebhookDoc: WebhookDoc = {
  summary: 'LINE Messaging API webhook events (a batch per call), signed by LINE.',
  contentType: 'application/json',
  signature: [{ name: SIGNATURE_HEADER, in: 'header', description: 'Base64 HMAC-SHA256 of the raw body with the channel secret (`channelSecret`).' }],
};
