/**
 * The WhatsApp Business Cloud API channel: one adapter per business phone number id.
 * Inbound for now (webhooks, media, credential check) plus the sandbox fake; `send` comes
 * with the outbound issue.
 */
import type { AdapterContext, ChannelAdapter, ChannelDefinition } from '../../core/adapter.ts';
import { GraphClient } from './client.ts';
import {
  GRAPH_API_BASE,
  WHATSAPP_DEFAULTS,
  WHATSAPP_SECRET_FIELDS,
  whatsappCapabilities,
  whatsappSettingsSchema,
  type WhatsAppSettings,
} from './config.ts';
import { parseWebhook } from './inbound.ts';
import { fetchWhatsAppMedia } from './media.ts';
import { answerHandshake, verifySignature } from './verify.ts';
import { whatsappSandbox } from './sandbox.ts';

export type { WhatsAppSettings } from './config.ts';

/** Creates the adapter of one WhatsApp account; no I/O happens until a method is called. */
export function createWhatsAppAdapter(context: AdapterContext<WhatsAppSettings>): ChannelAdapter {
  const { account, logger, http } = context;
  const settings = account.settings;
  const capabilities = whatsappCapabilities(account);
  const graph = new GraphClient({
    http,
    apiBase: account.apiBase ?? GRAPH_API_BASE,
    apiVersion: settings.apiVersion,
    accessToken: settings.accessToken,
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
  } satisfies ChannelAdapter);
}

/** The WhatsApp channel definition the composition root registers. */
export const whatsapp: ChannelDefinition<WhatsAppSettings> = {
  id: 'whatsapp',
  settingsSchema: whatsappSettingsSchema,
  defaults: WHATSAPP_DEFAULTS,
  secretFields: WHATSAPP_SECRET_FIELDS,
  create: createWhatsAppAdapter,
  sandbox: whatsappSandbox,
};
