/**
 * The WeChat adapter against the shared conformance suite: every plaintext push fixture,
 * encrypted in safe mode as WeChat would send it at the suite's clock time.
 */
import { wechat } from '../../src/channels/wechat/index.ts';
import { aesKeyFrom, encryptMessage, sortedSha1 } from '../../src/channels/wechat/crypto.ts';
import { buildPush } from '../../src/channels/wechat/sandbox.ts';
import type { WebhookRequest } from '../../src/core/adapter.ts';
import { NOW, PUSH_FIXTURES, SECRETS, fixtureText, rawRequest, testAccount, toRequest, withQuery } from '../channels/wechat/helpers.ts';
import { runAdapterConformance } from './suite.ts';

const account = testAccount();
const timestamp = String(Math.floor(NOW.getTime() / 1000));
const nonce = '1320562132';

/** VIEW and LOCATION pushes are understood but recorded as ignored (see the channel README). */
const RECORDED_FIXTURES = PUSH_FIXTURES.filter((name) => !/view-event|location-event/.test(name));

/** A safe-mode push of arbitrary plaintext bytes, signed with the account's token. */
function sign(plaintext: Uint8Array, options: { token?: string; appId?: string } = {}): WebhookRequest {
  const encrypt = encryptMessage(plaintext, aesKeyFrom(SECRETS.encodingAesKey), options.appId ?? account.settings.appId);
  const signature = sortedSha1([options.token ?? SECRETS.token, timestamp, nonce, encrypt]);
  const query = new URLSearchParams({ signature: sortedSha1([SECRETS.token, timestamp, nonce]), timestamp, nonce, encrypt_type: 'aes', msg_signature: signature });
  return rawRequest(query.toString(), `<xml><ToUserName><![CDATA[gh_test]]></ToUserName><Encrypt><![CDATA[${encrypt}]]></Encrypt></xml>`);
}

/** Variants WeChat would never send: wrong keys, changed bytes, stale or missing parameters, a downgrade. */
function tamper(request: WebhookRequest): WebhookRequest[] {
  const body = new TextDecoder().decode(request.body);
  const encrypt = /<Encrypt><!\[CDATA\[([^\]]+)\]\]>/.exec(body)![1]!;
  const flipped = encrypt.slice(0, 10) + (encrypt[10] === 'A' ? 'B' : 'A') + encrypt.slice(11);
  const plaintext = new TextEncoder().encode('<xml><MsgType><![CDATA[text]]></MsgType></xml>');
  const stale = String(Number(timestamp) - 301);
  return [
    withQuery(request, { msg_signature: sortedSha1(['another-token', timestamp, nonce, encrypt]) }),
    withQuery(request, { msg_signature: null }),
    withQuery(request, { msg_signature: 'z'.repeat(40) }),
    withQuery(request, { msg_signature: request.url.searchParams.get('msg_signature')!.slice(0, 39) }),
    withQuery(request, { timestamp: stale, msg_signature: sortedSha1([SECRETS.token, stale, nonce, encrypt]) }),
    withQuery(request, { nonce: '42' }),
    withQuery(request, { nonce: null }),
    withQuery(request, { encrypt_type: 'des' }),
    // A downgrade: the plaintext body with a valid URL signature is refused in safe mode.
    { ...withQuery(request, { encrypt_type: null, msg_signature: null }), body: plaintext },
    { ...request, body: new TextEncoder().encode(body.replace(encrypt, flipped)) },
    { ...request, body: new TextEncoder().encode(body.replace(encrypt, encrypt.slice(0, -8))) },
    { ...request, body: new TextEncoder().encode(body.replace('<Encrypt>', '<Encrypted>').replace('</Encrypt>', '</Encrypted>')) },
    { ...request, body: new TextEncoder().encode(body.replace('</xml>', `<Encrypt><![CDATA[${encrypt}]]></Encrypt></xml>`)) },
    sign(plaintext, { appId: 'wx9999999999999999' }),
    sign(plaintext, { token: 'someOtherToken' }),
    { ...request, method: 'GET' },
  ];
}

const handshake = (query: Record<string, string>) => rawRequest(new URLSearchParams(query).toString(), '', 'GET');
const handshakeSignature = sortedSha1([SECRETS.token, timestamp, nonce]);

runAdapterConformance({
  definition: wechat,
  account,
  validRequests: () => RECORDED_FIXTURES.map((name) => toRequest(buildPush(account, fixtureText(name), { at: NOW, nonce }))),
  tamper,
  sign: (plaintext) => sign(plaintext),
  handshake: {
    valid: handshake({ signature: handshakeSignature, timestamp, nonce, echostr: '4375120948345356249' }),
    invalid: [
      handshake({ signature: sortedSha1(['wrong', timestamp, nonce]), timestamp, nonce, echostr: '4375120948345356249' }),
      handshake({ signature: handshakeSignature, timestamp: String(Number(timestamp) + 1), nonce, echostr: '4375120948345356249' }),
      handshake({ signature: handshakeSignature, timestamp, nonce }),
      handshake({ signature: handshakeSignature, timestamp, nonce, echostr: '<script>alert(1)</script>' }),
      handshake({ timestamp, nonce, echostr: '4375120948345356249' }),
      handshake({}),
    ],
  },
});
