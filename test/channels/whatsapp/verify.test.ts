/** X-Hub-Signature-256 over the raw bytes, the escaped-unicode variant, and the GET handshake. */
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { escapeUnicode } from '../../../src/channels/whatsapp/verify.ts';
import type { WebhookAnswer } from '../../../src/core/adapter.ts';
import { WebhookVerificationError } from '../../../src/core/errors.ts';
import { createAdapter, envelope, fixtureBytes, handshakeRequest, postRequest, SECRETS, signature } from './helpers.ts';

const adapter = createAdapter();

function verificationReason(call: () => unknown): string {
  try {
    call();
  } catch (error) {
    expect(error).toBeInstanceOf(WebhookVerificationError);
    const failure = error as WebhookVerificationError;
    for (const secret of Object.values(SECRETS)) expect(failure.message).not.toContain(secret);
    return failure.reason;
  }
  throw new Error('expected verification to fail');
}

describe('whatsapp POST signature', () => {
  const body = fixtureBytes('text-message.json');

  it('accepts a body signed with the app secret and hands back the same bytes', () => {
    const verified = adapter.verify(postRequest(body)) as { body: Uint8Array };
    expect(verified.body).toBe(body);
  });

  it('accepts uppercase hex (same bytes) but not another prefix', () => {
    const header = signature(body);
    expect(() => adapter.verify(postRequest(body, `sha256=${header.slice(7).toUpperCase()}`))).not.toThrow();
    expect(verificationReason(() => adapter.verify(postRequest(body, header.replace('sha256=', 'sha1='))))).toBe('malformed_signature');
  });

  it('rejects a signature made with another secret or with the verify token', () => {
    expect(verificationReason(() => adapter.verify(postRequest(body, signature(body, 'wrong-secret'))))).toBe('signature_mismatch');
    expect(verificationReason(() => adapter.verify(postRequest(body, signature(body, SECRETS.verifyToken))))).toBe('signature_mismatch');
  });

  it('rejects re-serialised JSON: same data, other whitespace, original signature', () => {
    const reserialised = JSON.stringify(JSON.parse(new TextDecoder().decode(body)));
    expect(verificationReason(() => adapter.verify(postRequest(reserialised, signature(body))))).toBe('signature_mismatch');
  });

  it('rejects missing, empty, truncated, odd-length, non-hex and over-long signatures', () => {
    const hex = signature(body).slice(7);
    expect(verificationReason(() => adapter.verify(postRequest(body, null)))).toBe('missing_signature');
    expect(verificationReason(() => adapter.verify(postRequest(body, '')))).toBe('missing_signature');
    expect(verificationReason(() => adapter.verify(postRequest(body, `sha256=${hex.slice(0, 62)}`)))).toBe('signature_length');
    expect(verificationReason(() => adapter.verify(postRequest(body, `sha256=${hex.slice(0, 63)}`)))).toBe('malformed_signature');
    expect(verificationReason(() => adapter.verify(postRequest(body, `sha256=${hex}0`)))).toBe('malformed_signature');
    expect(verificationReason(() => adapter.verify(postRequest(body, `sha256=${hex}00`)))).toBe('signature_length');
    expect(verificationReason(() => adapter.verify(postRequest(body, `sha256=${'g'.repeat(64)}`)))).toBe('malformed_signature');
    expect(verificationReason(() => adapter.verify(postRequest(body, 'sha256=')))).toBe('signature_length');
  });

  it('rejects a GET on the POST path', () => {
    expect(verificationReason(() => adapter.verify({ ...postRequest(body), method: 'GET' }))).toBe('method');
  });

  describe('non-ASCII payloads', () => {
    const payload = envelope({ contacts: [{ profile: { name: 'Zoë' }, wa_id: '33612345678' }], messages: [{ from: '33612345678', id: 'wamid.FR', timestamp: '1', type: 'text', text: { body: "J'ai mangé des pâtes 👍" } }] });
    const text = JSON.stringify(payload);
    const bytes = new TextEncoder().encode(text);
    const escapedSignature = `sha256=${createHmac('sha256', SECRETS.appSecret).update(escapeUnicode(text)).digest('hex')}`;

    it('escapes every UTF-16 unit outside \\0-~ with lowercase hex', () => {
      expect(escapeUnicode('äöå 👍 ~\u007f')).toBe('\\u00e4\\u00f6\\u00e5 \\ud83d\\udc4d ~\\u007f');
    });

    it('passes when Meta signed the escaped-unicode form of the raw body', () => {
      expect(escapedSignature).not.toBe(signature(bytes));
      expect(() => adapter.verify(postRequest(bytes, escapedSignature))).not.toThrow();
      const events = adapter.parse(adapter.verify(postRequest(bytes, escapedSignature)) as never);
      expect(events[0]).toMatchObject({ parts: [{ type: 'text', text: "J'ai mangé des pâtes 👍" }], sender: { displayName: 'Zoë' } });
    });

    it('passes when Meta signed the raw UTF-8 bytes', () => {
      expect(() => adapter.verify(postRequest(bytes, signature(bytes)))).not.toThrow();
    });

    it('still fails when the escaped form was signed with another secret', () => {
      const wrong = `sha256=${createHmac('sha256', 'nope').update(escapeUnicode(text)).digest('hex')}`;
      expect(verificationReason(() => adapter.verify(postRequest(bytes, wrong)))).toBe('signature_mismatch');
    });
  });
});

describe('whatsapp GET handshake', () => {
  const token = `hub.verify_token=${SECRETS.verifyToken}`;
  const bodyBytes = (answer: WebhookAnswer) => Buffer.from(answer.body as Uint8Array);

  it('echoes hub.challenge as text/plain with status 200', () => {
    const answer = adapter.handshake!(handshakeRequest(`hub.mode=subscribe&hub.challenge=1158201444&${token}`));
    expect(answer.status).toBe(200);
    expect(answer.contentType).toBe('text/plain');
    expect(bodyBytes(answer).toString('utf8')).toBe('1158201444');
  });

  it('echoes weird challenges byte for byte, whatever order the parameters come in', () => {
    const cases: Array<[string, Buffer]> = [
      ['%E2%9C%93ok', Buffer.from('✓ok', 'utf8')],
      ['%FF%00%80', Buffer.from([0xff, 0x00, 0x80])],
      ['abc==', Buffer.from('abc==')],
      ['a+b%2Bc', Buffer.from('a b+c')],
      ['100%25%zz', Buffer.from('100%%zz')],
      ['%3Cscript%3E', Buffer.from('<script>')],
      ['x'.repeat(2000), Buffer.from('x'.repeat(2000))],
    ];
    for (const [encoded, expected] of cases) {
      const answer = adapter.handshake!(handshakeRequest(`${token}&hub.challenge=${encoded}&hub.mode=subscribe`));
      expect(bodyBytes(answer), encoded.slice(0, 20)).toEqual(expected);
    }
  });

  it('uses the first of repeated parameters', () => {
    const answer = adapter.handshake!(handshakeRequest(`hub.mode=subscribe&hub.challenge=first&hub.challenge=second&${token}`));
    expect(bodyBytes(answer).toString()).toBe('first');
  });

  it('rejects a wrong, longer, shorter or missing token, another mode and a missing challenge', () => {
    const reason = (query: string) => verificationReason(() => adapter.handshake!(handshakeRequest(query)));
    expect(reason('hub.mode=subscribe&hub.challenge=1&hub.verify_token=wrong')).toBe('handshake_token_mismatch');
    expect(reason(`hub.mode=subscribe&hub.challenge=1&${token}x`)).toBe('handshake_token_mismatch');
    expect(reason(`hub.mode=subscribe&hub.challenge=1&${token.slice(0, -1)}`)).toBe('handshake_token_mismatch');
    expect(reason('hub.mode=subscribe&hub.challenge=1')).toBe('handshake_token_missing');
    expect(reason(`hub.mode=unsubscribe&hub.challenge=1&${token}`)).toBe('handshake_mode');
    expect(reason(`hub.challenge=1&${token}`)).toBe('handshake_mode');
    expect(reason(`hub.mode=subscribe&${token}`)).toBe('handshake_challenge_missing');
    expect(reason(`hub.mode=subscribe&hub.challenge=&${token}`)).toBe('handshake_challenge_missing');
  });
});
