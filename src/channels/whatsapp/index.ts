/**
 * The WhatsApp Business Cloud API channel: one adapter per business phone number id.
 * Webhooks, media download, the credential check, `send` (text, media, interactive,
 * templates) and the sandbox fake of the Graph API.
 */
import type { AdapterContext, ChannelAdapter, ChannelDefinition, TemplateChange } from '../../core/adapter.ts';
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
import { fetchCatalog } from './templates-catalog.ts';
import { validateAgainstCatalog } from './templates-validate.ts';
import { sendWhatsAppSignal } from './signals.ts';

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

  const templateListeners = new Set<(change: TemplateChange) => void>();
  const wabaId = settings.wabaId;
  // Only an account with a WABA id has a catalog; without one, templates are checked as before.
  const catalog =
    wabaId === undefined
      ? {}
      : {
          fetchTemplates: (signal: AbortSignal) => fetchCatalog(graph, wabaId, signal),
          validateTemplate: validateAgainstCatalog,
          watchTemplates(listener: (change: TemplateChange) => void) {
            templateListeners.add(listener);
            return () => void templateListeners.delete(listener);
          },
        };

  return Object.freeze({
    ...catalog,
    channel: 'whatsapp',
    account: account.id,
    capabilities,
    handshake: (request) => answerHandshake(request, settings.verifyToken),
    verify: (request) => verifySignature(request, settings.appSecret),
    parse: (webhook) =>
      parseWebhook(webhook.body, {
        phoneNumberId: settings.phoneNumberId,
        onAccountError: ({ code, title }) => logger.warn({ code, title }, 'whatsapp account-level webhook error'),
        ...(wabaId !== undefined ? { wabaId } : {}),
        onTemplateChange: (change) => {
          for (const listener of templateListeners) listener(change);
        },
      }),
    checkCredentials: (signal) => graph.checkCredentials(settings.phoneNumberId, signal),
    fetchMedia: (ref, signal) =>
      fetchWhatsAppMedia(ref, { graph, phoneNumberId: settings.phoneNumberId, maxBytes: capabilities.attachments.inboundMaxBytes, logger }, signal),
    send,
    // The price is only known from the status webhooks' `pricing` (InboundStatus.cost).
    costOf: () => null,
    sendSignal: (request, signal) => sendWhatsAppSignal(graph, settings.phoneNumberId, request, signal),
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
