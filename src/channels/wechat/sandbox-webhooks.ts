/**
 * Pushes exactly as WeChat sends them, in the account's mode: plain (query `signature` only),
 * compat (plaintext fields plus `Encrypt`) or safe (only `Encrypt`, with `msg_signature`).
 * The customer simulator and the tests build their requests here.
 */
import { createHash, randomInt } from 'node:crypto';
import type { SimulateInput, WebhookRequestSpec } from '../../core/adapter.ts';
import { OmniError } from '../../core/errors.ts';
import type { WeChatMode, WeChatSettings } from './config.ts';
import { aesKeyFrom, encryptMessage, sortedSha1 } from './crypto.ts';
import { mediaTypeOf } from './sandbox-media.ts';
import type { WeChatAccount } from './sandbox-state.ts';
import { buildXml, cdata } from './xml.ts';

/** The account's original id: configured, or a stable `gh_` id derived from the AppID. */
export function originalIdOf(settings: Pick<WeChatSettings, 'appId' | 'originalId'>): string {
  return settings.originalId ?? `gh_${createHash('sha256').update(`gh:${settings.appId}`).digest('hex').slice(0, 12)}`;
}

/** A fresh 64-bit MsgId as WeChat writes it: 19 digits, above 2^53 so precision bugs show. */
export function newMsgId(): string {
  const digits = (n: number) => String(randomInt(0, 10 ** n)).padStart(n, '0');
  return `6${digits(9)}${digits(9)}`;
}

/** Options of one push. */
export interface PushOptions {
  /** When WeChat sends it (query `timestamp`); default now. */
  at?: Date;
  nonce?: string;
  /** Overrides the account's mode (to build the pushes of a misconfigured console, in tests). */
  mode?: WeChatMode;
  /** The `openid` query parameter WeChat adds. */
  openId?: string;
}

/** Wraps a message's XML into the POST WeChat would send to the account's webhook. */
export function buildPush(account: WeChatAccount, innerXml: string, options: PushOptions = {}): WebhookRequestSpec {
  const { appId, token, encodingAesKey } = account.settings;
  const mode = options.mode ?? account.settings.mode;
  const timestamp = String(Math.floor((options.at ?? new Date()).getTime() / 1000));
  const nonce = options.nonce ?? String(randomInt(100_000_000, 2_000_000_000));
  const query = new URLSearchParams({ signature: sortedSha1([token, timestamp, nonce]), timestamp, nonce });
  if (options.openId !== undefined) query.set('openid', options.openId);
  let body = innerXml;
  if (mode !== 'plain') {
    if (encodingAesKey === undefined) throw new OmniError('invalid_request', `account ${account.id}: encodingAesKey is required to build ${mode} mode pushes`);
    const encrypt = encryptMessage(innerXml, aesKeyFrom(encodingAesKey), appId);
    query.set('encrypt_type', 'aes');
    query.set('msg_signature', sortedSha1([token, timestamp, nonce, encrypt]));
    const toUser = `<ToUserName>${cdata(originalIdOf(account.settings))}</ToUserName>`;
    const encryptElement = `<Encrypt>${cdata(encrypt)}</Encrypt>`;
    body = mode === 'safe' ? `<xml>${toUser}${encryptElement}</xml>` : innerXml.replace(/<\/xml>\s*$/, `${encryptElement}</xml>`);
  }
  return {
    method: 'POST',
    path: `/webhooks/wechat/${encodeURIComponent(account.id)}?${query.toString()}`,
    headers: { 'content-type': 'text/xml' },
    body,
  };
}

/** The XML of a user message (`MsgType` and its fields), with a fresh MsgId unless given. */
export function messageXml(
  account: WeChatAccount,
  input: { from: string; msgType: string; fields: ReadonlyArray<readonly [string, string | number]>; at?: Date; msgId?: string },
): string {
  return buildXml([
    ['ToUserName', originalIdOf(account.settings)],
    ['FromUserName', input.from],
    ['CreateTime', seconds(input.at)],
    ['MsgType', input.msgType],
    ...input.fields,
    ['MsgId', { raw: input.msgId ?? newMsgId() }],
  ]);
}

/** The XML of an event push (subscribe, unsubscribe, SCAN, CLICK, VIEW, LOCATION, ...). */
export function eventXml(account: WeChatAccount, input: { from: string; event: string; eventKey?: string; ticket?: string; at?: Date }): string {
  return buildXml([
    ['ToUserName', originalIdOf(account.settings)],
    ['FromUserName', input.from],
    ['CreateTime', seconds(input.at)],
    ['MsgType', 'event'],
    ['Event', input.event],
    ...(input.eventKey !== undefined ? ([['EventKey', input.eventKey]] as const) : []),
    ...(input.ticket !== undefined ? ([['Ticket', input.ticket]] as const) : []),
  ]);
}

/**
 * The push WeChat sends when a user writes: text, or media the fake holds (`media.id`). WeChat
 * pushes one message at a time and its media carry no caption, so text and media together are
 * refused rather than silently dropping one.
 */
export function simulateInbound(account: WeChatAccount, input: SimulateInput): WebhookRequestSpec {
  for (const field of ['appId', 'token'] as const) {
    if (typeof account.settings?.[field] !== 'string' || account.settings[field] === '') {
      throw new OmniError('invalid_request', `account ${account.id}: settings.${field} is required to simulate a push`, { details: { field: `settings.${field}` } });
    }
  }
  const from = input.from.trim();
  if (from === '') throw new OmniError('invalid_request', 'simulate: --from (the OpenID) is required', { details: { field: 'from' } });
  const text = input.text !== undefined && input.text !== '' ? input.text : undefined;
  if (text === undefined && input.media === undefined) {
    throw new OmniError('invalid_request', 'simulate: give a text or a file', { details: { field: 'text' } });
  }
  if (text !== undefined && input.media !== undefined) {
    throw new OmniError('invalid_request', 'simulate: WeChat pushes one message at a time; give a text or a file, not both', { details: { field: 'text' } });
  }
  const at = input.timestamp ?? new Date();
  const xml = input.media === undefined
    ? messageXml(account, { from, msgType: 'text', fields: [['Content', text!]], at })
    : messageXml(account, { from, at, ...mediaMessage(input.media) });
  return buildPush(account, xml, { at, openId: from });
}

/** The MsgType and fields of a media message, by the media's mime type as WeChat classifies it. */
function mediaMessage(media: NonNullable<SimulateInput['media']>): { msgType: string; fields: Array<readonly [string, string]> } {
  switch (mediaTypeOf(media.mime)) {
    case 'image':
      return { msgType: 'image', fields: [['PicUrl', `https://mmbiz.qpic.cn/sandbox/${media.id}/0`], ['MediaId', media.id]] };
    case 'voice': {
      const format = /amr/i.test(media.mime) ? 'amr' : /speex/i.test(media.mime) ? 'speex' : 'mp3';
      return { msgType: 'voice', fields: [['MediaId', media.id], ['Format', format]] };
    }
    case 'video':
      return { msgType: 'video', fields: [['MediaId', media.id], ['ThumbMediaId', media.id]] };
    default:
      throw new OmniError('invalid_request', 'simulate: WeChat users can send images, voice and video to an official account, not files', {
        details: { field: 'file', mime: media.mime },
      });
  }
}

function seconds(at: Date | undefined): number {
  return Math.floor((at ?? new Date()).getTime() / 1000);
}
