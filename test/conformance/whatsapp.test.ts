/** The WhatsApp adapter against the shared conformance suite, with every real fixture. */
import { whatsapp } from '../../src/channels/whatsapp/index.ts';
import type { WebhookRequest } from '../../src/core/adapter.ts';
import {
  SECRETS, WEBHOOK_FIXTURES, fixtureBytes, handshakeRequest, postRequest, signature, testAccount,
} from '../channels/whatsapp/helpers.ts';
import { runAdapterConformance } from './suite.ts';

/** Variants Meta would never send: wrong key, changed bytes, broken or missing header. */
function tamper(request: WebhookRequest): WebhookRequest[] {
  const body = request.body;
  const header = request.headers.get('x-hub-signature-256')!;
  const flipped = Uint8Array.from(body);
  const middle = Math.floor(flipped.length / 2);
  flipped[middle] = flipped[middle]! ^ 0x01;
  const reformatted = new TextEncoder().encode(JSON.stringify(JSON.parse(new TextDecoder().decode(body))));
  return [
    postRequest(body, signature(body, 'another-app-secret')),
    postRequest(body, signature(body, SECRETS.verifyToken)), // the classic mistake: keyed with the verify token
    postRequest(flipped, header),
    postRequest(reformatted, header),
    postRequest(body, null),
    postRequest(body, ''),
    postRequest(body, header.slice(0, -2)),
    postRequest(body, header.slice(0, -1)),
    postRequest(body, header.replace('sha256=', 'sha1=')),
    postRequest(body, header.replace('sha256=', '')),
    postRequest(body, `${header}00`),
    postRequest(body, `sha256=${'z'.repeat(64)}`),
    { ...postRequest(body, header), method: 'GET' },
  ];
}

runAdapterConformance({
  definition: whatsapp,
  account: testAccount(),
  validRequests: () => WEBHOOK_FIXTURES.map((name) => postRequest(fixtureBytes(name))),
  tamper,
  sign: (plaintext) => postRequest(plaintext),
  sendMessage: {
    messageId: 'msg_conformance',
    idempotencyKey: 'conformance-1',
    to: { externalId: '16315551234', conversationExternalId: '16315551234' },
    parts: [{ type: 'text', text: 'hello' }],
  },
  handshake: {
    valid: handshakeRequest(`hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=${SECRETS.verifyToken}`),
    invalid: [
      handshakeRequest('hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=wrong'),
      handshakeRequest(`hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=${SECRETS.verifyToken}x`),
      handshakeRequest(`hub.mode=unsubscribe&hub.challenge=1158201444&hub.verify_token=${SECRETS.verifyToken}`),
      handshakeRequest(`hub.mode=subscribe&hub.verify_token=${SECRETS.verifyToken}`),
      handshakeRequest('hub.mode=subscribe&hub.challenge=1158201444'),
      handshakeRequest(''),
    ],
  },
});
