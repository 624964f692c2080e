/** The Telegram adapter against the shared conformance suite, with every real fixture. */
import { telegram } from '../../src/channels/telegram/index.ts';
import type { WebhookRequest } from '../../src/core/adapter.ts';
import { FIXTURE_NAMES, SECRETS, fixtureBytes, postRequest, testAccount } from '../channels/telegram/helpers.ts';
import { runAdapterConformance } from './suite.ts';

/** Variants Telegram would never send: a missing, empty, wrong, cut or padded secret. */
function tamper(request: WebhookRequest): WebhookRequest[] {
  const { body } = request;
  return [
    postRequest(body, null),
    postRequest(body, ''),
    postRequest(body, 'another-webhook-secret-token-000000'),
    postRequest(body, SECRETS.secretToken.slice(0, -1)),
    postRequest(body, `${SECRETS.secretToken}x`),
    postRequest(body, SECRETS.secretToken.toUpperCase()),
    postRequest(body, SECRETS.botToken),
    { ...postRequest(body), method: 'GET' },
  ];
}

runAdapterConformance({
  definition: telegram,
  account: testAccount(),
  validRequests: () => FIXTURE_NAMES.map((name) => postRequest(fixtureBytes(name))),
  tamper,
  sign: (plaintext) => postRequest(plaintext),
  sendMessage: {
    messageId: 'msg_conformance',
    idempotencyKey: 'conformance-1',
    to: { externalId: '1111111', conversationExternalId: '1111111' },
    parts: [{ type: 'text', text: 'hello' }],
  },
});
