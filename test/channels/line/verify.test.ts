/**
 * LINE webhook signatures against the published vectors, and every way a request must fail
 * (traps 1 and 3 of the reference: the UTF-8 key, the console's empty verify request).
 */
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { lineSignature, verifySignature } from '../../../src/channels/line/verify.ts';
import { WebhookPayloadError, WebhookVerificationError } from '../../../src/core/errors.ts';
import { VECTORS, createAdapter, fixtureBytes, signedRequest, testAccount } from './helpers.ts';

function reasonOf(call: () => unknown): string {
  try {
    call();
  } catch (error) {
    expect(error).toBeInstanceOf(WebhookVerificationError);
    return (error as WebhookVerificationError).reason;
  }
  throw new Error('expected verification to fail');
}

describe('LINE signature vectors', () => {
  it('reproduces both published signatures, the docs one on the exact bytes of its body file', () => {
    expect(VECTORS).toHaveLength(2);
    for (const vector of VECTORS) expect(lineSignature(vector.channelSecret, vector.body)).toBe(vector.expectedSignature);
    const docs = VECTORS.find((vector) => vector.bodyFile !== undefined)!;
    const bytes = fixtureBytes(docs.bodyFile!);
    expect(new TextDecoder().decode(bytes)).toBe(docs.body);
    expect(lineSignature(docs.channelSecret, bytes)).toBe(docs.expectedSignature);
  });

  it('verifies the vectors and refuses the negative one', () => {
    for (const vector of VECTORS) {
      const request = { ...signedRequest(vector.body, vector.channelSecret) };
      expect(request.headers.get('x-line-signature')).toBe(vector.expectedSignature);
      expect(verifySignature(request, vector.channelSecret).body).toEqual(new TextEncoder().encode(vector.body));
      if (vector.negativeSignature !== undefined) {
        const headers = new Map(request.headers).set('x-line-signature', vector.negativeSignature);
        expect(reasonOf(() => verifySignature({ ...request, headers }, vector.channelSecret))).toBe('signature_mismatch');
      }
    }
  });

  it('keys the HMAC with the secret as text, never hex-decoded (trap 1)', () => {
    const docs = VECTORS[0]!;
    const hexKeyed = createHmac('sha256', Buffer.from(docs.channelSecret, 'hex')).update(docs.body).digest('base64');
    expect(hexKeyed).not.toBe(docs.expectedSignature);
    const headers = new Map(signedRequest(docs.body, docs.channelSecret).headers).set('x-line-signature', hexKeyed);
    expect(reasonOf(() => verifySignature({ ...signedRequest(docs.body, docs.channelSecret), headers }, docs.channelSecret))).toBe('signature_mismatch');
  });
});

describe('verify', () => {
  const body = fixtureBytes('docs-webhook-body-message-follow-unfollow.json');
  const secret = testAccount().settings.channelSecret;
  const withSignature = (value: string | undefined) => {
    const request = signedRequest(body);
    const headers = new Map(request.headers);
    if (value === undefined) headers.delete('x-line-signature');
    else headers.set('x-line-signature', value);
    return { ...request, headers };
  };

  it('refuses a missing, empty, malformed or wrong signature with a reason that holds no secret', () => {
    const good = signedRequest(body).headers.get('x-line-signature')!;
    expect(reasonOf(() => verifySignature(withSignature(undefined), secret))).toBe('missing_signature');
    expect(reasonOf(() => verifySignature(withSignature('  '), secret))).toBe('missing_signature');
    expect(reasonOf(() => verifySignature(withSignature('not base64!'), secret))).toBe('malformed_signature');
    expect(reasonOf(() => verifySignature(withSignature(good.slice(0, -4)), secret))).toBe('malformed_signature');
    expect(reasonOf(() => verifySignature(signedRequest(body, 'someone-elses-secret'), secret))).toBe('signature_mismatch');
    const changed = { ...signedRequest(body), body: new TextEncoder().encode(new TextDecoder().decode(body).replace('Hello', 'Hallo')) };
    expect(reasonOf(() => verifySignature(changed, secret))).toBe('signature_mismatch');
    expect(reasonOf(() => verifySignature({ ...signedRequest(body), method: 'GET' }, secret))).toBe('method');
  });

  it('accepts surrounding whitespace in the header value (proxies add it)', () => {
    const good = signedRequest(body).headers.get('x-line-signature')!;
    expect(() => verifySignature(withSignature(` ${good} `), secret)).not.toThrow();
  });

  it("answers the console's verify request (no events) with no events and no error", async () => {
    const adapter = createAdapter(testAccount({ settings: { channelSecret: VECTORS[0]!.channelSecret } }));
    const request = signedRequest(fixtureBytes('docs-webhook-verify-empty-events.body.json'), VECTORS[0]!.channelSecret);
    expect(request.headers.get('x-line-signature')).toBe(VECTORS[0]!.expectedSignature);
    const verified = await adapter.verify(request);
    expect(adapter.parse(verified)).toEqual([]);
    // No custom answer: the core answers 200 with an empty object, which is what LINE expects.
    expect(adapter.answer).toBeUndefined();
  });

  it('throws WebhookPayloadError for an authentic body that is not a webhook', async () => {
    const adapter = createAdapter();
    const cases: Array<[string, string]> = [
      ['{"destination":"U1","events":[', 'invalid_json'],
      ['[]', 'not_an_object'],
      ['{"destination":"U1"}', 'missing_events'],
      ['{"destination":"U1","events":{}}', 'missing_events'],
      [`{"events":${'['.repeat(100)}${']'.repeat(100)}}`, 'too_deep'],
    ];
    for (const [text, reason] of cases) {
      const verified = await adapter.verify(signedRequest(text));
      let caught: unknown;
      try {
        adapter.parse(verified);
      } catch (error) {
        caught = error;
      }
      expect(caught, text.slice(0, 30)).toBeInstanceOf(WebhookPayloadError);
      expect((caught as WebhookPayloadError).reason).toBe(reason);
    }
    const invalidUtf8 = await adapter.verify(signedRequest(Uint8Array.from([0x7b, 0xff, 0x7d])));
    expect(() => adapter.parse(invalidUtf8)).toThrow(WebhookPayloadError);
  });
});
