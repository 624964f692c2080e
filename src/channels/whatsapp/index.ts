/**
 * The WhatsApp Business Cloud API channel: one adapter per business phone number id.
 * Webhooks, media download, the credential check, `send` (text, media, interactive,
 * templates) and the sandbox fake of the Graph API.
 */
import type { AdapterContext, ChannelAdapter, ChannelDefinition } from '../../core/adapter.ts';
import { GraphClient } from './client.ts';
import {
  GRAPH_API_BASE,
  WHATSAPP_DEFAULTS,
  WHATSAPP_SECRET_FIELDS,
  WHATSAPP_SAMPLE_SECRETS,
  whatsappCapabilities,
  whatsappSettingsSchema,
  type WhatsAppSettings,
} from './config.ts';
import { parseWebhook } from './inbound.ts';
import { fetchWhatsAppMedia } from './media.ts';
import { createWhatsAppSender } from './outbound.ts';
import { answerHandshake, verifySignature } from './verify.ts';
import { whatsappSandbox } from './sandbox.ts';
import { whatsappWebhookDoc } from './webhook-doc.ts';

export type { WhatsAppSettings } from './config.ts';

/** Creates the adapter of one WhatsApp account; no I/O happens until a method is called. */
export function createWhatsAppAdapter(context: AdapterContext<WhatsAppSettings>): ChannelAdapter {
  const { account, logger, http, clock, shared } = context;
  const settings = account.settings;
  const capabilities = whatsappCapabilities(account);
  const graph = new GraphClient({
    http,
    apiBase: account.apiBase ?? GRAPH_API_BASE,
    apiVersion: settings.apiVersion,
    accessToken: settings.accessToken,
  });
  const send = createWhatsAppSender({
    graph,
    phoneNumberId: settings.phoneNumberId,
    accessToken: settings.accessToken,
    templates: capabilities.templates,
    clock,
    shared,
    logger,
  });

  return Object.freeze({
    channel: 'whatsapp',
    account: account.id,
    capabilities,
    handshake: (request) => answerHandshake(request, settings.verifyToken),
    verify: (request) => verifySignature(request, settings.appSecret),
    parse: (webhook) =>
      parseWebhook(webhook.body, {
        phoneNumberId: settings.phoneNumberId,
        onAccountError: ({ code, title }) => logger.warn({ code, title }, 'whatsapp account-level webhook error'),
      }),
    checkCredentials: (signal) => graph.checkCredentials(settings.phoneNumberId, signal),
    fetchMedia: (ref, signal) =>
      fetchWhatsAppMedia(ref, { graph, phoneNumberId: settings.phoneNumberId, maxBytes: capabilities.attachments.inboundMaxBytes, logger }, signal),
    send,
  } satisfies ChannelAdapter);
}

/** The WhatsApp channel definition the composition root registers. */
export const whatsapp: ChannelDefinition<WhatsAppSettings> = {
  id: 'whatsapp',
  settingsSchema: whatsappSettingsSchema,
  defaults: WHATSAPP_DEFAULTS,
  secretFields: WHATSAPP_SECRET_FIELDS,
  sampleSecrets: WHATSAPP_SAMPLE_SECRETS,
  create: createWhatsAppAdapter,
  sandbox: whatsappSandbox,
  webhookDoc: whatsappWebhookDoc,
};
