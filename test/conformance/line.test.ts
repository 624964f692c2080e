/**
 * The LINE adapter against the shared conformance suite: every webhook body fixture (the
 * 28-event SDK file included), signed with the channel secret as LINE signs it.
 */
import { createHmac } from 'node:crypto';
import { line } from '../../src/channels/line/index.ts';
import type { OutboundMessage, WebhookRequest } from '../../src/core/adapter.ts';
import { BODY_FIXTURES, SECRETS, fixtureBytes, signedRequest, testAccount } from '../channels/line/helpers.ts';
import { runAdapterConformance } from './suite.ts';

/** The console's "Verify" body has no events: it is answered 200 but yields nothing (see line/verify.test.ts). */
const EVENT_FIXTURES = BODY_FIXTURES.filter((name) => !name.includes('verify-empty-events'));

/** Variants LINE would never send: wrong keys, changed bytes, broken or missing headers. */
function tamper(request: WebhookRequest): WebhookRequest[] {
  const signature = request.headers.get('x-line-signature')!;
  const withHeader = (value: string | null): WebhookRequest => {
    const headers = new Map(request.headers);
    if (value === null) headers.delete('x-line-signature');
    else headers.set('x-line-signature', value);
    return { ...request, headers };
  };
  const flipped = request.body.slice();
  const middle = Math.floor(flipped.length / 2);
  flipped[middle] = flipped[middle]! ^ 0x01;
  // The secret hex-decoded into 16 key bytes is the classic mistake (trap 1): it must not verify.
  const hexKeyed = new Map(request.headers).set('x-line-signature', createHmac('sha256', Buffer.from(SECRETS.channelSecret, 'hex')).update(request.body).digest('base64'));
  return [
    signedRequest(request.body, 'another-channel-secret-0000000000'),
    { ...request, headers: hexKeyed },
    { ...request, body: flipped },
    { ...request, body: new Uint8Array([...request.body, 0x0a]) },
    withHeader(null),
    withHeader(''),
    withHeader(signature.slice(0, -2)),
    withHeader(`${signature.slice(0, 10)}${signature[10] === 'A' ? 'B' : 'A'}${signature.slice(11)}`),
    withHeader(Buffer.from(signature, 'base64').toString('hex')),
    withHeader('sha256=' + signature),
    { ...request, method: 'GET' },
  ];
}

const sendMessage: OutboundMessage = {
  messageId: 'msg_0001',
  idempotencyKey: 'idem-0001',
  to: { externalId: 'U206d25c2ea6bd87c17655609a1c37cb8', conversationExternalId: 'U206d25c2ea6bd87c17655609a1c37cb8', conversationKind: 'direct' },
  parts: [{ type: 'text', text: 'Hello from the conformance suite' }],
};

runAdapterConformance({
  definition: line,
  account: testAccount(),
  validRequests: () => EVENT_FIXTURES.map((name) => signedRequest(fixtureBytes(name))),
  tamper,
  sign: (plaintext) => signedRequest(plaintext),
  sendMessage,
});
