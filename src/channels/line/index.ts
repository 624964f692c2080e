/**
 * The LINE Messaging API channel: one adapter per channel (bot). Webhooks are verified on the
 * raw bytes and parsed into events, each with the free reply token it carries; agents answer
 * through that token while it is fresh, else by push (monthly quota, retry key). Media is
 * fetched from LINE's content host. The sandbox fake stands in for the Messaging API.
 */
import type { AdapterContext, ChannelAdapter, ChannelDefinition, InboundIdentity } from '../../core/adapter.ts';
import { LineClient } from './client.ts';
import { LINE_DEFAULTS, LINE_SECRET_FIELDS, LINE_SAMPLE_SECRETS, lineBases, lineCapabilities, lineSettingsSchema, type LineSettings } from './config.ts';
import { parseWebhook } from './inbound.ts';
import { STICKER_CDN, fetchLineMedia } from './media.ts';
import { MemberCounts, membershipChanges } from './members.ts';
import { messageCount } from './outbound-messages.ts';
import { sendMessage } from './outbound.ts';
import { readQuota } from './quota.ts';
import { lineSandbox } from './sandbox.ts';
import { lineWebhookDoc } from './webhook-doc.ts';
import { SharedTokens, staticToken, type TokenSource } from './token.ts';
import { verifySignature } from './verify.ts';
import { createLineSignals, lineCostOf } from './signals.ts';

export type { LineSettings } from './config.ts';

/** Creates the adapter of one LINE channel; no I/O happens until a method is called. */
export function createLineAdapter(context: AdapterContext<LineSettings>): ChannelAdapter {
  const { account, logger, http, clock, shared, mediaLinks } = context;
  const settings = account.settings;
  const capabilities = lineCapabilities(account, mediaLinks !== undefined);
  const bases = lineBases(account);
  let client: LineClient;
  const tokens: TokenSource =
    settings.channelAccessToken !== undefined
      ? staticToken(settings.channelAccessToken)
      : new SharedTokens({ shared, clock, issue: (signal) => client.issueToken(settings.channelId!, settings.channelSecret, signal) });
  client = new LineClient({ http, apiBase: bases.api, dataBase: bases.data, tokens, clock });
  const members = new MemberCounts(client, shared, logger);
  const stickers = account.apiBase !== null ? { base: bases.api, trusted: true } : { base: STICKER_CDN, trusted: false };

  return Object.freeze({
    channel: 'line',
    account: account.id,
    capabilities,
    verify: (request) => verifySignature(request, settings.channelSecret),
    parse: (webhook) => parseWebhook(webhook.body, { now: clock.now() }),
    checkCredentials: (signal) => client.checkCredentials(signal),
    fetchMedia: (ref, signal) =>
      fetchLineMedia(ref, { client, http, maxBytes: capabilities.attachments.inboundMaxBytes, logger, stickers, now: () => clock.now() }, signal),
    // LINE media has no captions: each caption is one more message of the five a send may carry.
    platformMessageCount: (parts) => messageCount(parts),
    send: (message, signal) =>
      sendMessage(message, { client, shared, clock, logger, accountId: account.id, links: mediaLinks, videoPreviewUrl: settings.videoPreviewUrl, members }, signal),
    async lookupIdentity(externalId, signal): Promise<InboundIdentity | null> {
      // Groups and rooms have no profile; a user without consent has none either (404).
      if (externalId.includes(':')) return null;
      const profile = await client.profile(externalId, signal);
      if (profile === null) return null;
      return { externalId, ...(profile.displayName !== undefined ? { displayName: profile.displayName } : {}) };
    },
    // Members joined or left (or the bot joined): the group's cached member count is stale.
    async afterRecorded(events) {
      for (const conversation of membershipChanges(events)) await members.forget(conversation);
    },
    accountQuota: (name, signal) => readQuota(client, name, clock.now(), signal),
    costOf: lineCostOf,
    sendSignal: createLineSignals(client, tokens.field, () => clock.now()),
  } satisfies ChannelAdapter);
}

/** The LINE channel definition the composition root registers. */
export const line: ChannelDefinition<LineSettings> = {
  id: 'line',
  settingsSchema: lineSettingsSchema,
  defaults: LINE_DEFAULTS,
  secretFields: LINE_SECRET_FIELDS,
  sampleSecrets: LINE_SAMPLE_SECRETS,
  create: createLineAdapter,
  sandbox: lineSandbox,
  webhookDoc: lineWebhookDoc,
};
