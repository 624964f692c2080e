/**
 * Webhooks exactly as Meta sends them: the `whatsapp_business_account` envelope, `wamid.` ids,
 * Unix-second timestamps as strings and an `X-Hub-Signature-256` over the exact body bytes.
 * The customer simulator and the fake's status callbacks both build their requests here.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import type { SimulateInput, WebhookRequestSpec } from '../../core/adapter.ts';
import { OmniError } from '../../core/errors.ts';
import { displayPhoneNumber, wabaIdOf, type WhatsAppAccount } from './sandbox-graph.ts';

/** `sha256=<lower-case hex HMAC-SHA256>` of the body bytes (a string is taken as UTF-8), keyed by the app secret. */
export function signWhatsAppBody(body: string | Uint8Array, appSecret: string): string {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  return `sha256=${createHmac('sha256', appSecret).update(bytes).digest('hex')}`;
}

/**
 * A fresh `wamid.` in Meta's layout: base64 of a small protobuf-like record holding the user's
 * number and a random key (20 hex digits for inbound messages, 18 for the business's own).
 */
export function newWamid(userId: string, direction: 'inbound' | 'outbound' = 'inbound'): string {
  const user = Buffer.from(userId, 'utf8').subarray(0, 127);
  const key = randomBytes(10).toString('hex').toUpperCase().slice(0, direction === 'inbound' ? 20 : 18);
  const marker = direction === 'inbound' ? [0x15, 0x02, 0x00, 0x12] : [0x15, 0x02, 0x00, 0x11];
  const record = Buffer.concat([
    Buffer.from([0x1c, 0x18, user.length]),
    user,
    Buffer.from([...marker, 0x18, key.length]),
    Buffer.from(key, 'ascii'),
    Buffer.from([0x00]),
  ]);
  return `wamid.${record.toString('base64')}`;
}

/** Unix seconds as the string Meta puts in `timestamp`. */
function unixSeconds(at: Date): string {
  return String(Math.floor(at.getTime() / 1000));
}

/** Wrap one `value` in Meta's envelope for the account. */
function envelope(account: WhatsAppAccount, value: Record<string, unknown>): Record<string, unknown> {
  const { phoneNumberId } = account.settings;
  return {
    object: 'whatsapp_business_account',
    entry: [
      {
        id: wabaIdOf(account.settings),
        changes: [
          {
            value: {
              messaging_product: 'whatsapp',
              metadata: { display_phone_number: displayPhoneNumber(phoneNumberId), phone_number_id: phoneNumberId },
              ...value,
            },
            field: 'messages',
          },
        ],
      },
    ],
  };
}

/**
 * A signed POST to the account's webhook route. JSON.stringify keeps non-ASCII characters as
 * UTF-8, and the signature covers exactly those bytes; send the string as UTF-8.
 */
function signedRequest(account: WhatsAppAccount, payload: unknown): WebhookRequestSpec {
  const body = JSON.stringify(payload);
  return {
    method: 'POST',
    path: `/webhooks/whatsapp/${encodeURIComponent(account.id)}`,
    headers: { 'content-type': 'application/json', 'x-hub-signature-256': signWhatsAppBody(body, account.settings.appSecret) },
    body,
  };
}

// A BSUID (`US.13491208655302741918`, parent `US.ENT.…`) replaces the phone number for users
// with a username: Meta then sends `user_id`/`from_user_id` instead of `wa_id`/`from`.
const BSUID = /^[A-Z]{2}\.(?:ENT\.)?\d+$/;

const DOCUMENT_EXTENSIONS: Readonly<Record<string, string>> = {
  'application/pdf': 'pdf',
  'application/msword': 'doc',
  'application/vnd.ms-excel': 'xls',
  'application/vnd.ms-powerpoint': 'ppt',
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document': 'docx',
  'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet': 'xlsx',
  'application/vnd.openxmlformats-officedocument.presentationml.presentation': 'pptx',
  'text/plain': 'txt',
};

/** Meta's `sha256` in webhooks is base64; accept the hex `putMedia` returns and convert it. */
function webhookSha256(sha256: string): string {
  return /^[0-9a-f]{64}$/i.test(sha256) ? Buffer.from(sha256, 'hex').toString('base64') : sha256;
}

type MediaInput = NonNullable<SimulateInput['media']>;

/** The message type and its object for a media input, by mime as WhatsApp classifies it. */
function mediaMessage(media: MediaInput, caption: string | undefined): { type: string; object: Record<string, unknown> } {
  const mime = media.mime.trim().toLowerCase();
  const base = mime.split(';')[0]!.trim();
  const common = { mime_type: mime, ...(media.sha256 !== undefined ? { sha256: webhookSha256(media.sha256) } : {}), id: media.id };
  const withCaption = caption !== undefined ? { caption } : {};
  if (base === 'image/webp') return { type: 'sticker', object: { ...common, animated: false } };
  if (base === 'image/jpeg' || base === 'image/png') return { type: 'image', object: { ...withCaption, ...common } };
  if (base.startsWith('video/')) return { type: 'video', object: { ...withCaption, ...common } };
  // WhatsApp records voice notes as OGG/Opus; any other audio arrives as a forwarded file.
  if (base.startsWith('audio/')) return { type: 'audio', object: { ...common, voice: base === 'audio/ogg' } };
  const filename = media.filename ?? `document.${DOCUMENT_EXTENSIONS[base] ?? 'bin'}`;
  return { type: 'document', object: { ...withCaption, filename, ...common } };
}

function requireSetting(account: WhatsAppAccount, field: 'phoneNumberId' | 'appSecret'): void {
  const value = account.settings?.[field];
  if (typeof value !== 'string' || value === '') {
    throw new OmniError('invalid_request', `account ${account.id}: settings.${field} is required to simulate a webhook`, {
      details: { account: account.id, field: `settings.${field}` },
    });
  }
}

/**
 * The webhook WhatsApp sends when a customer writes: text, media with an optional caption, or
 * both. Audio and stickers take no caption, so text beside them becomes a second message in the
 * same webhook, as Meta batches them.
 */
export function simulateInbound(account: WhatsAppAccount, input: SimulateInput): WebhookRequestSpec {
  requireSetting(account, 'phoneNumberId');
  requireSetting(account, 'appSecret');
  const user = input.from.trim().replace(/^\+/, '').replace(/[\s()-]/g, '');
  if (user === '') throw new OmniError('invalid_request', 'simulate: --from is required', { details: { field: 'from' } });
  const text = input.text !== undefined && input.text !== '' ? input.text : undefined;
  if (text === undefined && input.media === undefined) {
    throw new OmniError('invalid_request', 'simulate: give a text, a file, or both', { details: { field: 'text' } });
  }
  const isBsuid = BSUID.test(user);
  const timestamp = unixSeconds(input.timestamp ?? new Date());
  const header = () => ({ ...(isBsuid ? { from_user_id: user } : { from: user }), id: newWamid(user), timestamp });

  const messages: Array<Record<string, unknown>> = [];
  let pendingText = text;
  if (input.media !== undefined) {
    const takesCaption = !/^(audio\/|image\/webp)/i.test(input.media.mime.trim());
    const { type, object } = mediaMessage(input.media, takesCaption ? text : undefined);
    messages.push({ ...header(), type, [type]: object });
    if (takesCaption) pendingText = undefined;
  }
  if (pendingText !== undefined) messages.push({ ...header(), type: 'text', text: { body: pendingText } });

  const profile = { name: input.name ?? 'Sandbox Customer' };
  const contact = isBsuid ? { profile, user_id: user } : { profile, wa_id: user };
  return signedRequest(account, envelope(account, { contacts: [contact], messages }));
}

/** What the fake reports about a message it accepted. */
export interface StatusInput {
  wamid: string;
  status: 'sent' | 'delivered' | 'read' | 'failed';
  /** The customer's wa_id. */
  recipientId: string;
  timestamp: Date;
  /** For `failed`: Meta's error (e.g. 131047 "Re-engagement message"). */
  error?: { code: number; title: string; message?: string; details?: string };
  /**
   * Per-message pricing (reference 1.6): the template's category with type `regular`, or
   * `service` / `free_customer_service` for a reply inside the window. Default: the latter.
   */
  pricing?: { category: string; type: string };
}

/** A signed status webhook in Meta's shape (fixture `status-delivered.json`), for `deliverWebhook`. */
export function buildStatusWebhook(account: WhatsAppAccount, input: StatusInput): WebhookRequestSpec {
  requireSetting(account, 'appSecret');
  const status: Record<string, unknown> = {
    id: input.wamid,
    status: input.status,
    timestamp: unixSeconds(input.timestamp),
    recipient_id: input.recipientId,
  };
  // Sent and delivered carry billing facts; the conversation id is stable per customer.
  if (input.status === 'sent' || input.status === 'delivered') {
    const conversationSeed = `conversation:${account.settings.phoneNumberId}:${input.recipientId}`;
    status['conversation'] = {
      id: createHash('sha256').update(conversationSeed).digest('hex').slice(0, 32),
      ...(input.status === 'sent' ? { expiration_timestamp: unixSeconds(new Date(input.timestamp.getTime() + 86_400_000)) } : {}),
      origin: { type: 'service' },
    };
    const pricing = input.pricing ?? { category: 'service', type: 'free_customer_service' };
    status['pricing'] = { billable: pricing.type === 'regular', pricing_model: 'PMP', category: pricing.category, type: pricing.type };
  }
  if (input.status === 'failed' && input.error !== undefined) {
    const { code, title, message, details } = input.error;
    status['errors'] = [
      {
        code,
        title,
        message: message ?? title,
        error_data: { details: details ?? title },
        href: 'https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/',
      },
    ];
  }
  return signedRequest(account, envelope(account, { statuses: [status] }));
}
