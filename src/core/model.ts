/**
 * The one message model (docs/api.md): what adapters produce at the edge and what
 * helpdesks receive on NATS. Adapters speak platform formats; everything past them speaks this.
 */

/** A channel id: the `id` of a registered `ChannelDefinition` (the core knows no channel by name). */
export type ChannelId = string;

/** A customer identity on one account of one channel. */
export interface IdentityKey {
  channel: ChannelId;
  account: string;
  externalId: string;
}

/** Media status on a published part. */
export type MediaStatus = 'pending' | 'ready' | 'rejected' | 'failed';

/** Media as published in `omni.message/v1`. */
export interface MediaInfo {
  id: string;
  mime: string | null;
  ext: string | null;
  size: number | null;
  sha256: string | null;
  status: MediaStatus;
  url: string | null;
  filename?: string;
  reason?: string;
  /** Only on `failed`: what the last fetch ran into (short constants and numbers, never platform text). */
  details?: { code?: string; reason?: string; status?: number; attempts?: number; expired?: boolean };
}

/**
 * What an adapter knows about inbound media before it is fetched. `ref` is adapter-private
 * (a WhatsApp media id, a Telegram file_id, ...) and is handed back to `fetchMedia`.
 */
export interface InboundMediaRef {
  ref: string;
  declaredMime?: string;
  filename?: string;
  sha256?: string;
  /** Size the platform announced, if any; used to refuse oversized media before fetching. */
  declaredSize?: number;
}

interface PartBase {
  /** Extra platform facts kept on the part (voice `format`, sticker ids, ...). */
  meta?: Record<string, unknown>;
  /** Only on a bounded event (see `MessageEvent.bounded`): this part's text or caption was cut. */
  truncated?: boolean;
}

/** A normalised message part. Media parts carry `media` (a ref inbound, MediaInfo once stored). */
export type Part<M = MediaInfo> =
  | (PartBase & { type: 'text'; text: string; previewUrl?: boolean })
  | (PartBase & { type: 'image' | 'video' | 'audio' | 'voice' | 'file' | 'sticker'; caption?: string; filename?: string; media: M })
  | (PartBase & { type: 'location'; latitude: number; longitude: number; name?: string; address?: string })
  | (PartBase & { type: 'contact_card'; name: string; phones: string[]; emails?: string[]; raw?: unknown })
  | (PartBase & { type: 'reply'; id: string; title: string })
  | (PartBase & { type: 'reaction'; emoji: string; targetExternalId: string })
  | (PartBase & { type: 'unsupported'; reason: string })
  /** Outbound only: reply buttons and lists a business sent. */
  | (PartBase & { type: 'buttons'; text: string; buttons: Array<{ id: string; title: string }>; header?: string; footer?: string })
  | (PartBase & {
      type: 'list';
      text: string;
      button: string;
      sections: Array<{ title?: string; rows: Array<{ id: string; title: string; description?: string }> }>;
      header?: string;
      footer?: string;
    });

export type PartType = Part['type'];
export const MEDIA_PART_TYPES = ['image', 'video', 'audio', 'voice', 'file', 'sticker'] as const;
export type MediaPartType = (typeof MEDIA_PART_TYPES)[number];

/** A part as it leaves an adapter: media not fetched yet. */
export type InboundPart = Part<InboundMediaRef>;

/** Delivery status of a message; only ever moves forward (failed is terminal). */
export type DeliveryStatus = 'queued' | 'sent' | 'delivered' | 'read' | 'failed';
export const STATUS_RANK: Record<DeliveryStatus, number> = { queued: 0, sent: 1, delivered: 2, read: 3, failed: 4 };

/** `omni.message/v1` */
export interface MessageEvent {
  schema: 'omni.message/v1';
  id: string;
  direction: 'in' | 'out';
  channel: ChannelId;
  account: string;
  externalId: string | null;
  conversationId: string;
  contact: {
    id: string;
    identity: IdentityKey;
    displayName: string | null;
    phone: string | null;
  };
  timestamp: string;
  receivedAt: string;
  parts: Part[];
  replyTo?: { externalId: string };
  referral?: Record<string, unknown>;
  session: { window: string; expiresAt: string } | null;
  raw: unknown;
  /** Outbound only: the send's `metadata` (agent id, ticket id, free keys), when it had one. */
  metadata?: Record<string, unknown>;
  /** Only on a bounded event: `raw` was replaced by null to fit the server's max_payload. */
  rawOmitted?: boolean;
  /** Only on an event too large for the server's max_payload, published shortened. */
  bounded?: BoundedNote;
}

/** How a published event was shortened; the whole message is at `fetch` (`GET /v1/messages/{id}`). */
export interface BoundedNote {
  reason: 'max_payload';
  limitBytes: number;
  fetch?: string;
}

/** `omni.status/v1` */
export interface StatusEvent {
  schema: 'omni.status/v1';
  messageId: string | null;
  idempotencyKey: string | null;
  channel: ChannelId;
  account: string;
  externalId: string;
  status: DeliveryStatus;
  error?: { code: string; message: string; details?: Record<string, unknown> };
  /** With `sent`: which way it went where a channel has more than one (LINE `reply`/`push`). */
  route?: string;
  at: string;
}

/** `omni.session/v1` */
export interface SessionEvent {
  schema: 'omni.session/v1';
  state: 'opened' | 'expiring' | 'expired';
  channel: ChannelId;
  account: string;
  conversationId: string;
  contactId: string;
  window: string;
  openedAt: string;
  expiresAt: string;
  quota?: { limit: number; used: number; remaining: number };
}
