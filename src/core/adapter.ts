/**
 * The channel adapter SDK (docs/adapters.md). A channel is one folder exporting one
 * `ChannelDefinition`; the core only ever talks to this interface and never branches on a
 * channel's name. Rules (windows, attachment types, rates) are declared here as data and
 * enforced by the core.
 */
import type { ZodType } from 'zod';
import type { Logger } from 'pino';
import type { AccountConfig } from './config/types.ts';
import type { Clock } from './clock.ts';
import type { HttpClient } from './http-client.ts';
import type { ErrorCode } from './errors.ts';
import type { DeliveryStatus, InboundMediaRef, InboundPart, MediaPartType } from './model.ts';

/** The shared access-token cache (a lease over `SharedState`), for adapters whose platform issues short-lived tokens. */
export { TokenCache, TOKEN_KEY, type FetchedToken, type TokenCacheOptions, type TokenFetchRequest } from './token-cache.ts';

/** A webhook request as the adapter sees it: the raw bytes, never a parsed body. */
export interface WebhookRequest {
  method: 'GET' | 'POST';
  url: URL;
  /** Lower-cased header names. */
  headers: ReadonlyMap<string, string>;
  body: Uint8Array;
}

/** What the core answers to the platform. */
export interface WebhookAnswer {
  status: number;
  body?: string | Uint8Array;
  contentType?: string;
}

/**
 * A webhook that passed verification. `body` is the authentic plaintext (WeChat decrypts here).
 * `replayGuard`, when present, is recorded in the same transaction as the events: a second
 * delivery with the same key but another fingerprint is refused as a replay.
 */
export interface VerifiedWebhook {
  request: WebhookRequest;
  body: Uint8Array;
  replayGuard?: { key: string; fingerprint: string; expiresAt: Date };
  /** Adapter-private facts to carry from verify to parse/answer (e.g. decryption context). */
  context?: Record<string, unknown>;
}

/** A customer identity as an inbound event names it. */
export interface InboundIdentity {
  /** Stable platform id of the person on this account (BSUID, wa_id, Telegram user id, OpenID). */
  externalId: string;
  /** Other ids the platform uses for the same person on this account (e.g. wa_id beside a BSUID). */
  aliases?: string[];
  displayName?: string;
  username?: string;
  /** E.164 or platform digits; only with `phoneVerified` is it merge evidence. */
  phone?: string;
  phoneVerified?: boolean;
  /** Evidence for automatic merge beyond the phone (see `EvidenceFact`). */
  evidence?: EvidenceFact[];
}

/**
 * One fact about a person that may merge contacts: a phone or an email, or an id in an id
 * space wider than one account (`platform_id`), named by a `namespace` the channel declares in
 * `ChannelDefinition.mergeEvidence`. Two identities with the same namespace and value are the
 * same person. The namespace is the name `merge.auto`, merge logs and suggestions use.
 */
export type EvidenceFact = { type: 'phone' | 'email'; value: string } | { type: 'platform_id'; namespace: string; value: string };

/** An id space a channel declares as merge evidence (`EvidenceFact` of type `platform_id`). */
export interface EvidenceNamespace {
  /** Lower-case letters, digits and `_`, unique across channels; not `phone`, `email`, `manual` or `name`. */
  namespace: string;
  /** Whether `merge.auto` holds it when the daemon file names no list. */
  autoByDefault: boolean;
  /** What the ids are, for the configuration's JSON Schema and docs. */
  description: string;
}

/**
 * Where a conversation lives on the platform. `sessionKind` names an entry of
 * `capabilities.session.kinds` whose window rule replaces the channel's default for this
 * conversation (Telegram Business chats have a 24 h reply rule; the bot's own chats have none).
 * `via` is a platform-side connection the conversation runs through (Telegram's
 * `business_connection_id`); the core stores it and hands it back on every send.
 */
export interface InboundConversation {
  externalId: string;
  kind: 'direct' | 'group';
  title?: string;
  sessionKind?: string;
  via?: string;
}

/**
 * A free way to answer this message that the platform hands out with it (LINE's reply token).
 * The core stores it and gives it to `send` for the next outbound message of the conversation
 * while it is fresh and unused; it is marked used in the transaction that claims that send.
 */
export interface ReplyContext {
  token: string;
  expiresAt: Date;
  /** How many platform messages one use may carry (LINE: 5). */
  maxMessages: number;
}

/** A message from a customer. */
export interface InboundMessage {
  kind: 'message';
  /** Unique per account across redeliveries (wamid, `chat:message_id`, webhookEventId, MsgId). */
  dedupeKey: string;
  externalId: string;
  conversation: InboundConversation;
  sender: InboundIdentity;
  timestamp: Date;
  parts: InboundPart[];
  replyTo?: { externalId: string };
  /** A free reply channel for answering this message (LINE's reply token). */
  replyContext?: ReplyContext;
  /** Platform delivery facts kept on the stored message (LINE `deliveryContext.isRedelivery`). */
  delivery?: { redelivery?: boolean; standby?: boolean };
  /** Entry-point facts (click-to-WhatsApp ad, QR scene) kept on the message and the session. */
  referral?: Record<string, unknown>;
  /**
   * Which session grant this event triggers (a key of `capabilities.session.grants`), or null
   * when it does not open or refresh a window (edits, group chatter the bot may not answer).
   */
  sessionGrant: string | null;
  /** A pricing window the platform opens beside the service window (WhatsApp free entry point). */
  pricingWindow?: { kind: string; durationMs: number };
  raw: unknown;
}

/** A delivery receipt for a message the daemon sent. */
export interface InboundStatus {
  kind: 'status';
  dedupeKey: string;
  /** The platform id of the outbound message (wamid, ...). */
  externalId: string;
  status: Exclude<DeliveryStatus, 'queued'>;
  timestamp: Date;
  recipient?: string;
  /** `code` is the platform's; `contractCode` what it means in the contract's terms, when known. */
  error?: { code: string; message: string; details?: Record<string, unknown>; contractCode?: ErrorCode };
  /** What the platform says the message costs, where the receipt carries it (WhatsApp `pricing`). */
  cost?: CostFacts;
  raw: unknown;
}

/**
 * What a platform says one outbound message costs, for the cost ledger. `category` is the
 * platform's (`marketing`, `utility`, `service`, `push`, `reply`, `free`); the amount is
 * estimated from the account's configured `prices` for that category, times `units`.
 */
export interface CostFacts {
  category: string;
  billable: boolean;
  /** Messages the platform counts (a LINE push to a group counts each member); default 1. */
  units?: number;
  /** The platform's pricing model (`PMP`, `CBP`). */
  pricingModel?: string;
  /** The platform's pricing type (`regular`, `free_customer_service`, `free_entry_point`). */
  pricingType?: string;
  /** Facts behind an estimate (`{ membersUnknown: true }`); never personal data. */
  note?: Record<string, unknown>;
}

/** One template of an account's platform catalog, as its adapter reads it. */
export interface CatalogTemplate {
  name: string;
  language: string;
  externalId?: string;
  /** The platform's status word (`APPROVED`, `PAUSED`, ...). Only `APPROVED` may be sent. */
  status: string;
  category?: string;
  quality?: string;
  /** What a send must give, as the adapter summarises it (header kind, body parameters, buttons). */
  parameters: Record<string, unknown>;
  /** The platform's components, untouched. */
  components: unknown[];
}

/** A change to a template the platform announced by webhook; the core applies it and resyncs. */
export interface TemplateChange {
  /** The webhook field that carried it (`message_template_status_update`, ...). */
  field: string;
  name?: string;
  language?: string;
  externalId?: string;
  status?: string;
  category?: string;
  quality?: string;
}

/** Signals a helpdesk can show the customer: their messages were read, an agent is typing. */
export type SignalKind = 'read' | 'typing';

/** A read or typing signal for one conversation, with what the platform may need from it. */
export interface SignalRequest {
  kind: SignalKind;
  conversation: { externalId: string; kind: 'direct' | 'group'; via?: string };
  /** The newest customer message of the conversation (its platform id, time and raw event). */
  lastInbound: { externalId: string; at: Date; raw: unknown } | null;
  /** How long to show typing, where the platform takes one (LINE 5-60 s); the adapter rounds. */
  seconds?: number;
  now: Date;
}

/** Something happened to a customer identity rather than a conversation. */
export interface InboundIdentityEvent {
  kind: 'identity';
  dedupeKey: string;
  identity: InboundIdentity;
  change: 'unreachable' | 'reachable' | 'changed_id' | 'erase';
  /** For `changed_id`: the identity's new platform id. */
  newExternalId?: string;
  timestamp: Date;
  raw: unknown;
}

/** A customer edited a message they had sent; the stored message takes the new parts. */
export interface InboundEdit {
  kind: 'edit';
  dedupeKey: string;
  /** The platform id of the edited message (as its `InboundMessage.externalId`). */
  targetExternalId: string;
  conversation: InboundConversation;
  sender: InboundIdentity;
  timestamp: Date;
  parts: InboundPart[];
  raw: unknown;
}

/** A customer unsent (deleted) a message; its text and media are removed from the store. */
export interface InboundDelete {
  kind: 'delete';
  dedupeKey: string;
  targetExternalId: string;
  conversation?: InboundConversation;
  sender?: InboundIdentity;
  timestamp: Date;
  raw: unknown;
}

/** An event the adapter understood but that carries nothing to record; counted, not stored. */
export interface InboundIgnored {
  kind: 'ignored';
  reason: string;
}

/**
 * One item of a batch the adapter could not turn into an event. It never costs the other items:
 * the core records it as an inbound dead letter with its raw bytes and publishes it on
 * `evt.deadletter.in.{channel}.{account}`.
 */
export interface InboundInvalid {
  kind: 'invalid';
  /** Stable per item across redeliveries (the platform's id, else a hash of the item's bytes). */
  dedupeKey: string;
  /** A short, constant reason (`bad_timestamp`, `missing_field:from`); never personal data. */
  reason: string;
  /** The item's own bytes (JSON/XML text of that item, not the whole batch). */
  raw: Uint8Array | string;
}

/**
 * Something happened to conversations rather than to one message or person. `moved`: the
 * platform gave the conversation `externalId` a new id, `newExternalId` (a Telegram group
 * upgraded to a supergroup); later messages and sends use the new id. `via_revoked` /
 * `via_restored`: the platform connection `via` (a Telegram Business connection) was revoked
 * or restored, and with it every customer of the account's conversations through it becomes
 * unreachable (sends answer `recipient_unreachable`) or reachable again. Idempotent.
 */
export interface InboundConversationEvent {
  kind: 'conversation';
  dedupeKey: string;
  change: 'moved' | 'via_revoked' | 'via_restored';
  /** For `moved`: the old and the new platform id of the conversation. */
  externalId?: string;
  newExternalId?: string;
  /** For `via_*`: the connection, as `InboundConversation.via`. */
  via?: string;
  timestamp: Date;
  raw: unknown;
}

/** Everything `parse` can yield; one webhook may carry many. */
export type InboundEvent =
  | InboundMessage
  | InboundStatus
  | InboundIdentityEvent
  | InboundConversationEvent
  | InboundEdit
  | InboundDelete
  | InboundIgnored
  | InboundInvalid;

/** A session grant: how long a trigger opens the window and how many messages it allows. */
export interface SessionGrant {
  durationMs: number | null;
  /** Messages the business may send in this window; null = unlimited. */
  quota: number | null;
}

/** Capabilities as data: the core enforces every rule from these, never from a channel name. */
export interface ChannelCapabilities {
  session: {
    /** The customer-service window after a customer message; null = none. */
    windowMs: number | null;
    /** Named grants (`message`, `follow`, ...); `message` mirrors `windowMs`. */
    grants: Readonly<Record<string, SessionGrant>>;
    /** What may still be sent when no window is open (`['template']` on WhatsApp, `[]` on WeChat). */
    allowedOutsideWindow: ReadonlyArray<'template'>;
    /**
     * Window rules for conversations of a kind (`InboundConversation.sessionKind`) that differ
     * from the channel's default, e.g. Telegram `{ business: { windowMs: 24h, ... } }`.
     */
    kinds?: Readonly<Record<string, { windowMs: number | null; allowedOutsideWindow: ReadonlyArray<'template'> }>>;
  };
  /** What this channel can send: anything else is refused at acceptance, never after. */
  outbound?: {
    /** Part types `send` understands. */
    parts: ReadonlyArray<OutboundPart['type']>;
    /** Longest text part, in characters (UTF-16 code units unless `textUnit` says bytes). */
    maxTextLength: number;
    /** Longest caption of a media part. */
    maxCaptionLength: number;
    textUnit?: 'chars' | 'utf8_bytes';
    /** Parts one send may carry. */
    maxParts?: number;
    /** The channel reports `replyTo` and can thread a reply. */
    replyTo?: boolean;
    /**
     * The adapter makes a repeated send safe (LINE's `X-Line-Retry-Key`, derived from the
     * idempotency key): a send whose answer was lost is retried instead of failing as ambiguous.
     */
    idempotentRetry?: boolean;
  };
  /**
   * Limits of the whole account beside per-window quotas (LINE's monthly push quota), read
   * through `accountQuota` and checked before a send that would spend it.
   */
  accountQuotas?: ReadonlyArray<{ name: string; appliesTo: 'push' | 'all' }>;
  attachments: {
    /** Extensions allowed on this account (decided from bytes). */
    allow: ReadonlyArray<string>;
    /** Per part type size limits of the platform, in bytes. */
    maxBytes: Readonly<Partial<Record<MediaPartType, number>>>;
    /** Inbound media larger than this is not fetched. */
    inboundMaxBytes: number;
  };
  templates: { maxBodyParams: number; maxNameLength: number } | null;
  /** The signals `sendSignal` supports; a missing kind is refused as `invalid_request` (`unsupported`). */
  signals?: ReadonlyArray<SignalKind>;
  /** The statuses the platform reports after `sent`. */
  receipts: ReadonlyArray<Exclude<DeliveryStatus, 'queued' | 'failed'>>;
  rateLimit: {
    perSecond: number;
    perRecipientPerSecond: number | null;
    /** Sends per minute into one group conversation (Telegram: 20); null = no own limit. */
    perGroupPerMinute?: number | null;
  };
  /** Events of one conversation are published in order. */
  ordering: 'conversation';
  /** Inbound modes the channel supports; which one an account uses is `ChannelAdapter.inboundMode`. */
  inbound: ReadonlyArray<'webhook' | 'polling'>;
}

/** Bytes of a media object fetched from the platform, streamed. */
export interface FetchedMedia {
  body: AsyncIterable<Uint8Array>;
  declaredMime?: string;
  declaredSize?: number;
}

/** Media of an outbound part: fetched or decoded by the core, typed from its bytes, size-checked. */
export interface OutboundMedia {
  /** The daemon's stored media id. */
  id: string;
  bytes: Uint8Array;
  mime: string;
  ext: string;
  size: number;
  sha256: string;
  filename?: string;
}

/** A part of an outbound message; interactive parts exist on channels that declare them. */
export type OutboundPart =
  | { type: 'text'; text: string; previewUrl?: boolean }
  | { type: MediaPartType; media: OutboundMedia; caption?: string; filename?: string }
  | { type: 'location'; latitude: number; longitude: number; name?: string; address?: string }
  | { type: 'reaction'; emoji: string; targetExternalId: string }
  | { type: 'buttons'; text: string; buttons: Array<{ id: string; title: string }>; header?: string; footer?: string }
  | { type: 'list'; text: string; button: string; sections: Array<{ title?: string; rows: Array<{ id: string; title: string; description?: string }> }>; header?: string; footer?: string };

/** An outbound message, checked by the core, ready for the platform. */
export interface OutboundMessage {
  /** The daemon's message id; adapters may pass it as the platform's idempotency key. */
  messageId: string;
  /** The command's idempotency key (LINE's X-Line-Retry-Key is derived from it). */
  idempotencyKey: string;
  to: {
    externalId: string;
    conversationExternalId: string;
    conversationKind?: 'direct' | 'group';
    /** The conversation's `InboundConversation.via`, when it has one. */
    via?: string;
  };
  parts: OutboundPart[];
  template?: { name: string; language: string; params: Record<string, unknown> };
  replyTo?: { externalId: string };
  /**
   * A fresh, unused reply context this send has claimed (marked used already). The adapter may
   * answer through it; if the platform refuses the token it falls back to its normal path.
   */
  replyContext?: { token: string; expiresAt: Date; inboundExternalId: string };
}

/** The platform's acceptance of a send. */
export interface SendResult {
  externalId: string;
  raw?: unknown;
  /** Which way it went where a channel has more than one (`reply` or `push` on LINE). */
  route?: string;
  /**
   * What the send spent of the account's quotas and the cost ledger's units, where the platform
   * counts more than its messages (a LINE push to a group counts each message once per member).
   * Default: `platformMessageCount` of the parts.
   */
  quotaUnits?: number;
}

/** What an account has left of a platform-wide quota (`capabilities.accountQuotas`). */
export interface AccountQuotaReading {
  name: string;
  /** null = unlimited on this plan. */
  limit: number | null;
  used: number;
  resetsAt?: Date;
}

/** One long poll's result: the events and the cursor that confirms them once recorded. */
export interface PolledUpdates {
  events: InboundEvent[];
  /**
   * Where the next poll starts. The core commits it in the same transaction as `events`, so a
   * crash between recording and confirming neither loses nor repeats an update.
   */
  nextCursor: string | null;
}

/** The platform's view of an account's webhook, as `ChannelAdapter.webhookStatus` reports it. */
export interface WebhookStatus {
  /** The URL the platform posts to ('' = none set), without query string. */
  url: string;
  /** Updates waiting at the platform; null where it does not say. */
  pendingUpdates: number | null;
  /** The platform's last failed delivery, if it reports one. */
  lastErrorAt: Date | null;
  /** Its reason as the platform words it (never containing secrets). */
  lastErrorMessage: string | null;
}

/** Shared, cross-replica key/value state for adapters (tokens, poll offsets). */
export interface SharedState {
  /** The live value; a key past its `ttlMs` reads as absent. */
  get(key: string): Promise<{ value: string; revision: number } | null>;
  /**
   * Compare-and-set: `revision` 0 creates; returns false if someone else wrote first. Give
   * transient keys (a send's progress) `ttlMs`: each write sets the expiry anew, and expired
   * keys are deleted by the daemon's housekeeping. Without it a key lives until overwritten.
   */
  put(key: string, value: string, revision: number, options?: { ttlMs?: number }): Promise<boolean>;
}

/**
 * Public, expiring links to the daemon's stored media (`http.publicUrl` + a signed
 * `/v1/media/{id}` URL), for platforms that fetch outbound media by URL instead of taking an
 * upload (LINE).
 */
export interface MediaLinks {
  /** An absolute URL serving the media's bytes for `ttlSeconds`; null when the daemon has no public URL. */
  url(mediaId: string, ttlSeconds: number): Promise<string | null>;
}

/** What the core hands an adapter when it creates one for an account. */
export interface AdapterContext<C> {
  account: AccountConfig<C>;
  logger: Logger;
  http: HttpClient;
  clock: Clock;
  shared: SharedState;
  /** Present when the daemon can hand platforms public links to stored media. */
  mediaLinks?: MediaLinks;
  /** `http.publicUrl` of the daemon, for adapters that register their webhook URL themselves. */
  publicUrl?: string | null;
}

/** One account's adapter. Every call is scoped to that account. */
export interface ChannelAdapter {
  readonly channel: string;
  readonly account: string;
  readonly capabilities: ChannelCapabilities;
  /** Answer a GET verification handshake; throw WebhookVerificationError to answer 403. */
  handshake?(request: WebhookRequest): WebhookAnswer;
  /** Authenticate a POST on its raw bytes (constant-time); throw WebhookVerificationError. */
  verify(request: WebhookRequest): Promise<VerifiedWebhook> | VerifiedWebhook;
  /** Turn an authentic body into events; throw WebhookPayloadError for an unreadable body. */
  parse(webhook: VerifiedWebhook): InboundEvent[];
  /** The answer once events are durably recorded (default 200 with an empty JSON object). */
  answer?(webhook: VerifiedWebhook, events: InboundEvent[]): WebhookAnswer;
  /** Check the credentials against the platform; throw OmniError naming the config field. */
  checkCredentials(signal?: AbortSignal): Promise<void>;
  /** Stream inbound media from the platform's own hosts. */
  fetchMedia(ref: InboundMediaRef, signal: AbortSignal): Promise<FetchedMedia>;
  /**
   * How many platform messages a send will use, where a window's quota counts those rather
   * than sends (a WeChat caption goes out as a second message). Default 1.
   */
  platformMessageCount?(parts: ReadonlyArray<{ type: string; caption?: string }>): number;
  /** Send one message; throw OmniError with a contract code on failure. */
  send?(message: OutboundMessage, signal: AbortSignal): Promise<SendResult>;
  /**
   * Ask the platform what else it knows about a new identity (WeChat's UnionID from user/info).
   * Called once, after the identity's first event is recorded; what it returns is merge evidence.
   */
  lookupIdentity?(externalId: string, signal: AbortSignal): Promise<InboundIdentity | null>;
  /** How this account receives updates; default `webhook`. `polling` needs `fetchUpdates`. */
  readonly inboundMode?: 'webhook' | 'polling';
  /**
   * At start, for an account in webhook mode: register the webhook with the platform where the
   * platform allows it and the account asks for it (Telegram: setWebhook with the secret token).
   */
  prepareWebhook?(signal: AbortSignal): Promise<void>;
  /**
   * What the platform says about the account's webhook (Telegram getWebhookInfo): probed by
   * the core every minute in webhook mode, shown in `/readyz` details and as metrics.
   */
  webhookStatus?(signal: AbortSignal): Promise<WebhookStatus>;
  /** Before the first poll (Telegram: deleteWebhook, so getUpdates is allowed). */
  preparePolling?(signal: AbortSignal): Promise<void>;
  /**
   * One long poll from `cursor` (null: wherever the platform starts). Pure: the core owns the
   * loop, the lease (one poller per account across replicas) and the cursor's storage.
   */
  fetchUpdates?(cursor: string | null, signal: AbortSignal): Promise<PolledUpdates>;
  /** Called after events are durably recorded (Telegram answers callback queries here). */
  afterRecorded?(events: ReadonlyArray<InboundEvent>, signal: AbortSignal): Promise<void>;
  /**
   * What a message just sent costs, for the ledger; null when the platform says it later (a
   * WhatsApp status webhook's `pricing`, as `InboundStatus.cost`). Without it nothing is recorded.
   */
  costOf?(message: OutboundMessage, result: SendResult): CostFacts | null;
  /**
   * The account's whole template catalog from the platform (every page). Present only when
   * the account has one (WhatsApp with a `wabaId`); the core syncs it under a lease.
   */
  fetchTemplates?(signal: AbortSignal): Promise<CatalogTemplate[]>;
  /**
   * Checks a send's template against the synced catalog entries of that name (every language);
   * throws `template_invalid` naming the problem. Only called once the catalog has synced.
   */
  validateTemplate?(template: NonNullable<OutboundMessage['template']>, catalog: ReadonlyArray<CatalogTemplate>): void;
  /** Subscribes to template changes announced by webhook; returns the unsubscribe. */
  watchTemplates?(listener: (change: TemplateChange) => void): () => void;
  /**
   * Shows a read or typing signal (`capabilities.signals`); throws OmniError (`invalid_request`
   * with a `reason` when the platform's own rule forbids it now).
   */
  sendSignal?(request: SignalRequest, signal: AbortSignal): Promise<void>;
  /** Read an account-level quota named in `capabilities.accountQuotas`. */
  accountQuota?(name: string, signal: AbortSignal): Promise<AccountQuotaReading>;
  close?(): Promise<void>;
}

/** Channel defaults from the platform's rules (docs/configuration.md, the channel defaults table). */
export interface ChannelDefaults {
  window: string;
  attachments: ReadonlyArray<string>;
  rateLimit: { perSecond: number; perRecipientPerSecond: number | null; perGroupPerMinute?: number | null };
}

/** How a platform calls a channel's webhook route, for docs/openapi.json. */
export interface WebhookDoc {
  summary: string;
  /** Media type of the POST body. */
  contentType: string;
  /** Where the POST's proof of origin travels. */
  signature: ReadonlyArray<{ name: string; in: 'header' | 'query'; description: string; required?: boolean }>;
  /** The GET verification handshake, when the platform has one. */
  handshake?: { summary: string; query: ReadonlyArray<{ name: string; description: string; required?: boolean }> };
}

/** What a channel folder exports: its config schema, defaults and adapter factory. */
export interface ChannelDefinition<C = any> {
  id: string;
  /** Schema of the channel-specific fields of a channel file (secrets already substituted). */
  settingsSchema: ZodType<C>;
  defaults: ChannelDefaults;
  /** Names of settings that are secrets: never logged, never echoed. */
  secretFields: ReadonlyArray<string>;
  /**
   * The public sample values of secret settings, by setting (those in the shipped sample files
   * and the sandbox fakes). Outside sandbox mode the loader refuses them: anyone could sign a
   * webhook with a secret printed in the repository.
   */
  sampleSecrets?: Readonly<Record<string, ReadonlyArray<string>>>;
  /** Id spaces this channel's identities carry as merge evidence (names `merge.auto` accepts). */
  mergeEvidence?: ReadonlyArray<EvidenceNamespace>;
  create(context: AdapterContext<C>): ChannelAdapter;
  /** The built-in fake of the platform's API for sandbox mode and tests. */
  sandbox?: SandboxDefinition<C>;
  /** How the platform calls `/webhooks/<channel>/{account}` (docs/openapi.json). */
  webhookDoc?: WebhookDoc;
}

/** A channel's sandbox: a fake platform API and a customer simulator. */
export interface SandboxDefinition<C> {
  /** The fake platform API; the daemon mounts it at `/sandbox/<channel>` in sandbox mode. */
  createFake(options: FakeOptions<C>): SandboxFake<C>;
  /** Build a signed webhook exactly as the platform would send it. */
  simulateInbound(account: AccountConfig<C>, input: SimulateInput): WebhookRequestSpec;
}

/** What a fake needs: the accounts it serves and a way to call the daemon back (status webhooks). */
export interface FakeOptions<C> {
  accounts: ReadonlyArray<AccountConfig<C>>;
  clock: Clock;
  /** The path the fake is mounted under (`/sandbox/<channel>`), for the absolute URLs it hands out. */
  basePath?: string;
  /**
   * Posts a webhook to the daemon, as the platform would. May resolve with the daemon's HTTP
   * status, so a fake retries what was not answered 2xx (a throw counts as not delivered too).
   */
  deliverWebhook?(request: WebhookRequestSpec): Promise<void | { status: number }>;
}

/** A running fake: a fetch handler plus hooks tests use to inspect and steer it. */
export interface SandboxFake<C = any> {
  fetch(request: Request): Response | Promise<Response>;
  /** Store bytes as platform media and return the platform's media id (for simulate --file). */
  putMedia(bytes: Uint8Array, mime: string, filename?: string): { id: string; sha256: string };
  /** Replace the served accounts after a config reload. */
  setAccounts(accounts: ReadonlyArray<AccountConfig<C>>): void;
}

/** Input for `omnibus simulate <channel>`. */
export interface SimulateInput {
  from: string;
  text?: string;
  name?: string;
  /** A media id already uploaded to the fake, with its mime type. */
  media?: { id: string; mime: string; filename?: string; sha256?: string };
  timestamp?: Date;
  /** A button press instead of a message (Telegram callback data, LINE postback data). */
  callback?: string;
  /** Write into this group conversation instead of the 1:1 chat (Telegram chat id, LINE group id). */
  group?: string;
}

/** A request to send to the daemon's webhook route. */
export interface WebhookRequestSpec {
  method: 'GET' | 'POST';
  path: string;
  headers: Record<string, string>;
  body: string | Uint8Array;
}
