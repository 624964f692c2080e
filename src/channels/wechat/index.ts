/**
 * The WeChat Official Account channel (公众号 / 服务号): one adapter per AppID. Pushes are
 * verified (safe mode by default), decrypted and parsed into events; agents answer through the
 * customer-service API within the 48 h window, which the core enforces from the capabilities.
 */
import type { AdapterContext, ChannelAdapter, ChannelDefinition, InboundIdentity } from '../../core/adapter.ts';
import { WeChatClient } from './client.ts';
import {
  WECHAT_API_BASE,
  WECHAT_DEFAULTS,
  WECHAT_SECRET_FIELDS,
  WECHAT_SAMPLE_SECRETS,
  wechatCapabilities,
  wechatSettingsSchema,
  type WeChatSettings,
} from './config.ts';
import { parsePush } from './inbound.ts';
import { fetchWeChatMedia } from './media.ts';
import { sendMessage } from './outbound.ts';
import { wechatSandbox } from './sandbox.ts';
import { wechatWebhookDoc } from './webhook-doc.ts';
import { accountAesKey, answerHandshake, answerPush, verifyPush } from './verify.ts';
import { WECHAT_COST, sendWeChatSignal } from './signals.ts';

export type { WeChatSettings } from './config.ts';

/** The WeChat adapter, with the identity lookup the core may call to enrich an OpenID. */
export interface WeChatAdapter extends ChannelAdapter {
  /**
   * The identity of an OpenID with its UnionID as merge evidence, from `/cgi-bin/user/info`
   * (pushes never carry it). Network I/O: call it after recording, never on the webhook path.
   */
  lookupIdentity(openId: string, signal?: AbortSignal): Promise<InboundIdentity>;
}

/** Creates the adapter of one WeChat account; no I/O happens until a method is called. */
export function createWeChatAdapter(context: AdapterContext<WeChatSettings>): WeChatAdapter {
  const { account, logger, http, clock, shared } = context;
  const settings = account.settings;
  const capabilities = wechatCapabilities(account);
  const aesKey = accountAesKey(settings.encodingAesKey);
  const crypto = { appId: settings.appId, token: settings.token, mode: settings.mode, aesKey, clock };
  const client = new WeChatClient({ http, apiBase: account.apiBase ?? WECHAT_API_BASE, appId: settings.appId, appSecret: settings.appSecret, shared, clock });
  if (settings.mode === 'plain') {
    logger.warn(
      { mode: 'plain' },
      'wechat account in plain mode: push bodies are not signed, so only the replay guard stops a captured URL from carrying a forged body; switch the WeChat console and this file to safe mode',
    );
  }

  return Object.freeze({
    channel: 'wechat',
    account: account.id,
    capabilities,
    handshake: (request) => answerHandshake(request, settings.token),
    verify: (request) => verifyPush(request, crypto),
    parse: (webhook) => parsePush(webhook.body, { originalId: settings.originalId }),
    answer: (webhook) => answerPush(webhook, crypto),
    checkCredentials: (signal) => client.checkCredentials(signal),
    fetchMedia: (ref, signal) =>
      fetchWeChatMedia(ref, { client, maxBytes: capabilities.attachments.inboundMaxBytes, logger, now: () => clock.now() }, signal),
    // WeChat counts every message it delivers against the 5-per-window quota: a caption on an
    // image or voice goes out as its own text message, so it costs one more.
    platformMessageCount: (parts) =>
      parts.reduce((n, part) => n + 1 + ((part.type === 'image' || part.type === 'voice') && part.caption ? 1 : 0), 0),
    send: (message, signal) => sendMessage(message, { client, shared }, signal),
    costOf: () => WECHAT_COST,
    sendSignal: (request, signal) => sendWeChatSignal(client, request, signal),
    async lookupIdentity(openId, signal) {
      const info = await client.userInfo(openId, signal);
      const identity: InboundIdentity = { externalId: openId };
      if (info.unionId !== undefined) identity.evidence = [{ type: 'platform_id', namespace: WECHAT_UNIONID, value: info.unionId }];
      return identity;
    },
  } satisfies WeChatAdapter);
}

/**
 * The merge evidence namespace of UnionIDs: one id per person across every official account
 * bound to the same Open Platform account. `merge.auto` calls it `wechat_unionid`.
 */
export const WECHAT_UNIONID = 'wechat_unionid';

/** The WeChat channel definition the composition root registers. */
export const wechat: ChannelDefinition<WeChatSettings> = {
  id: 'wechat',
  settingsSchema: wechatSettingsSchema,
  defaults: WECHAT_DEFAULTS,
  secretFields: WECHAT_SECRET_FIELDS,
  sampleSecrets: WECHAT_SAMPLE_SECRETS,
  mergeEvidence: [
    {
      namespace: WECHAT_UNIONID,
      autoByDefault: true,
      description: 'The same WeChat UnionID on two official accounts bound to one Open Platform account.',
    },
  ],
  create: createWeChatAdapter,
  sandbox: wechatSandbox,
  webhookDoc: wechatWebhookDoc,
};
