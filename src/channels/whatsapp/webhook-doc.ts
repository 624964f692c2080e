/** How Meta calls the WhatsApp webhook, for docs/openapi.json. */
import type { WebhookDoc } from '../../core/adapter.ts';
import { SIGNATURE_HEADER } from './verify.ts';

export const whatsappWebhookDoc: WebhookDoc = {
  summary: 'WhatsApp Cloud API notifications (messages, statuses), signed by Meta.',
  contentType: 'application/json',
  signature: [{ name: SIGNATURE_HEADER, in: 'header', description: '`sha256=` + hex HMAC-SHA256 of the raw body with the app secret (`appSecret`).' }],
  handshake: {
    summary: "Meta's subscription check: answers hub.challenge when hub.verify_token is the account's `verifyToken`.",
    query: [
      { name: 'hub.mode', description: 'Always `subscribe`.' },
      { name: 'hub.verify_token', description: 'Must equal `verifyToken` of the channel file.' },
      { name: 'hub.challenge', description: 'Echoed back unchanged.' },
    ],
  },
};
