/** How the Telegram Bot API calls the webhook, for docs/openapi.json. */
import type { WebhookDoc } from '../../core/adapter.ts';
import { SECRET_HEADER } from './verify.ts';

export const telegramWebhookDoc: WebhookDoc = {
  summary: 'Telegram Bot API updates (one Update per call), set up with setWebhook.',
  contentType: 'application/json',
  signature: [{ name: SECRET_HEADER, in: 'header', description: 'The `secret_token` given to setWebhook (`secretToken`), compared in constant time.' }],
};
