/**
 * The event payloads of docs/api.md as zod schemas: what the daemon publishes on
 * `<prefix>.v1.evt.>`. Event objects are open (unknown keys are stripped on parse, not refused,
 * and the generated JSON Schemas allow them) because v1 may add fields without a `v2`.
 */
import { z } from 'zod';
import { ERROR_CODES, type ErrorBody } from '../errors.ts';
import { MEDIA_PART_TYPES, type MessageEvent, type Part, type SessionEvent, type StatusEvent } from '../model.ts';

// ---- shared primitives (also used by api.ts) ----------------------------------------------

/** A channel id: the four of the contract or a third-party adapter's; safe as a subject token. */
export const channelIdSchema = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,62}$/)
  .describe('Channel id: whatsapp, telegram, line, wechat, or a third-party adapter id.');

/** An account id as configured (`[a-z0-9][a-z0-9-]{0,62}`); safe as a subject token. */
export const accountIdSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,62}$/)
  .describe('Account id: the `id` of a channel file.');

/** A UTC timestamp as the daemon writes it (`2026-11-21T10:00:00.000Z`). */
export const timestampSchema = z.iso.datetime().describe('UTC timestamp, ISO 8601 with `Z`.');

/** A daemon id with its type prefix; the rest is opaque to clients. */
export function daemonIdSchema(prefix: 'msg' | 'cv' | 'ct' | 'med' | 'idn', what: string) {
  return z
    .string()
    .max(200)
    .regex(new RegExp(`^${prefix}_\\S+$`))
    .describe(`${what} (\`${prefix}_...\`).`);
}

const messageId = daemonIdSchema('msg', 'Message id');
const conversationId = daemonIdSchema('cv', 'Conversation id');
const contactId = daemonIdSchema('ct', 'Contact id');
const externalId = z.string().min(1).max(512);
const jsonObject = z.record(z.string(), z.unknown());
const count = z.number().int().nonnegative();

/** A customer identity: one person on one account of one channel. */
export const identityKeySchema = z.object({
  channel: channelIdSchema,
  account: accountIdSchema,
  externalId: externalId.describe('The platform id of the person on this account.'),
});

/** One of the contract's error codes (section 5). */
export const errorCodeSchema = z.enum(ERROR_CODES);

/** The error object of every failed answer and of a failed status: `{ code, message, details? }`. */
export const errorBodySchema = z.object({
  code: errorCodeSchema,
  message: z.string(),
  details: jsonObject.optional().describe('Code-specific facts, e.g. `expiredAt` and `allowed` for session_expired.'),
});

// ---- omni.message/v1 -----------------------------------------------------------------------

/** Delivery status; only moves forward, `failed` is terminal. */
export const deliveryStatusSchema = z.enum(['queued', 'sent', 'delivered', 'read', 'failed']);

/** Stored media as published on a media part. */
export const mediaInfoSchema = z
  .object({
    id: daemonIdSchema('med', 'Media id'),
    mime: z.string().nullable().describe('MIME type decided from the bytes.'),
    ext: z.string().nullable().describe('Attachment type decided from the bytes (jpg, pdf, ...).'),
    size: z.number().int().nonnegative().nullable(),
    sha256: z.string().nullable(),
    status: z
      .enum(['pending', 'ready', 'rejected', 'failed'])
      .describe('ready; rejected (type not allowed, never served); failed (could not be fetched); pending.'),
    url: z.string().nullable().describe('Where the bytes are served (`/v1/media/med_...`); null unless ready.'),
    filename: z.string().optional(),
    reason: z.string().optional().describe('Why the media is rejected or failed: `type_not_allowed:exe`, or the error code and the platform\'s reason, `attachment_unreachable:gone`.'),
    details: z
      .object({
        code: z.string().max(64).optional().describe('The error code of the failed fetch.'),
        reason: z.string().max(64).optional().describe('What the platform or the fetch said, as a short constant: `not_found`, `gone`, `transcoding_failed`, `timeout`, ...'),
        status: z.number().int().optional().describe('The HTTP status the media host answered, when it answered.'),
        attempts: z.number().int().nonnegative().optional(),
        expired: z.boolean().optional().describe('The fetch was still failing when the message\'s media hold ran out.'),
      })
      .optional()
      .describe('Only on `failed`: what the last fetch attempt ran into.'),
  })
  .describe('Media as stored by the daemon.');

const partMeta = {
  meta: jsonObject.optional().describe('Extra platform facts (voice format, sticker ids, ...).'),
  truncated: z.boolean().optional().describe('Only on a bounded event: the text or caption of this part was cut; the whole one is at `bounded.fetch`.'),
};

/** How an event too large for the server's `max_payload` was shortened to be published. */
export const boundedNoteSchema = z
  .object({
    reason: z.literal('max_payload'),
    limitBytes: z.number().int().positive().describe('The payload size the event was shortened to fit.'),
    fetch: z.string().optional().describe('Where the whole message is: `/v1/messages/{id}` (the HTTP API).'),
  })
  .describe('Present only when the event was too large to publish whole: `raw` may be omitted and long texts cut.');

/** One normalised message part; `type` selects the shape. */
export const partSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('text'), text: z.string(), previewUrl: z.boolean().optional(), ...partMeta }),
  z.object({
    type: z.enum(MEDIA_PART_TYPES),
    caption: z.string().optional(),
    filename: z.string().optional(),
    media: mediaInfoSchema,
    ...partMeta,
  }),
  z.object({
    type: z.literal('location'),
    latitude: z.number().min(-90).max(90),
    longitude: z.number().min(-180).max(180),
    name: z.string().optional(),
    address: z.string().optional(),
    ...partMeta,
  }),
  z.object({
    type: z.literal('contact_card'),
    name: z.string(),
    phones: z.array(z.string()),
    emails: z.array(z.string()).optional(),
    raw: z.unknown().optional(),
    ...partMeta,
  }),
  z
    .object({ type: z.literal('reply'), id: z.string(), title: z.string(), ...partMeta })
    .describe('A button, list or postback choice.'),
  z.object({ type: z.literal('reaction'), emoji: z.string(), targetExternalId: externalId, ...partMeta }),
  z.object({ type: z.literal('unsupported'), reason: z.string(), ...partMeta }),
  z
    .object({
      type: z.literal('buttons'),
      text: z.string(),
      buttons: z.array(z.object({ id: z.string(), title: z.string() })),
      header: z.string().optional(),
      footer: z.string().optional(),
      ...partMeta,
    })
    .describe('Reply buttons a business sent (outbound only).'),
  z
    .object({
      type: z.literal('list'),
      text: z.string(),
      button: z.string(),
      sections: z.array(z.object({ title: z.string().optional(), rows: z.array(z.object({ id: z.string(), title: z.string(), description: z.string().optional() })) })),
      header: z.string().optional(),
      footer: z.string().optional(),
      ...partMeta,
    })
    .describe('A list of choices a business sent (outbound only).'),
]);

/** `omni.message/v1`: one message, in or out, normalised across channels. */
export const messageEventSchema = z
  .object({
    schema: z.literal('omni.message/v1'),
    id: messageId.describe('The daemon id, stable across redeliveries.'),
    direction: z.enum(['in', 'out']),
    channel: channelIdSchema,
    account: accountIdSchema,
    externalId: externalId.nullable().describe('The platform message id; null until sent (out).'),
    conversationId: conversationId.describe('One per (account, customer identity or group).'),
    contact: z.object({
      id: contactId.describe('The current canonical (merged) contact id.'),
      identity: identityKeySchema,
      displayName: z.string().nullable(),
      phone: z.string().nullable(),
    }),
    timestamp: timestampSchema.describe('When the platform says the message was sent.'),
    receivedAt: timestampSchema.describe('When the daemon accepted it.'),
    parts: z.array(partSchema),
    replyTo: z.object({ externalId }).optional().describe('The platform id of the message answered.'),
    referral: jsonObject.optional().describe('Entry-point facts: click-to-WhatsApp ad, QR scene.'),
    session: z
      .object({ window: z.string().min(1), expiresAt: timestampSchema })
      .nullable()
      .describe('The customer-service window; null where the channel has none.'),
    raw: z.unknown().describe('The platform original event, untouched (null when `rawOmitted`).'),
    metadata: jsonObject.optional().describe('Outbound only: the `metadata` of the send (agent id, ticket id, free keys), as given.'),
    rawOmitted: z.boolean().optional().describe('Only on a bounded event: `raw` was left out to fit the server\'s max_payload.'),
    bounded: boundedNoteSchema.optional(),
  })
  .meta({ title: 'omni.message/v1', description: 'A message received from or sent to a customer.' });

// ---- omni.status/v1 ------------------------------------------------------------------------

/** `omni.status/v1`: a delivery status change of an outbound message or send command. */
export const statusEventSchema = z
  .object({
    schema: z.literal('omni.status/v1'),
    messageId: messageId.nullable(),
    idempotencyKey: z.string().nullable().describe('The key of the send command, when it came from one.'),
    channel: channelIdSchema,
    account: accountIdSchema,
    externalId: z.string().describe('The platform message id.'),
    status: deliveryStatusSchema,
    error: errorBodySchema.optional().describe('With `failed`: the platform code is in `details`.'),
    route: z.string().optional().describe('With `sent`: which way it went where a channel has more than one (LINE `reply` or `push`).'),
    at: timestampSchema,
  })
  .meta({ title: 'omni.status/v1', description: 'Delivery status: queued, sent, delivered, read, or failed (terminal).' });

// ---- omni.session/v1 -----------------------------------------------------------------------

/** Session transitions, one subject each. */
export const SESSION_STATES = ['opened', 'expiring', 'expired'] as const;

/** `omni.session/v1`: the customer-service window of a conversation opened, is expiring, or expired. */
export const sessionEventSchema = z
  .object({
    schema: z.literal('omni.session/v1'),
    state: z.enum(SESSION_STATES),
    channel: channelIdSchema,
    account: accountIdSchema,
    conversationId,
    contactId,
    window: z.string().min(1).describe('The window as configured, e.g. `24h`.'),
    openedAt: timestampSchema,
    expiresAt: timestampSchema,
    quota: z
      .object({ limit: count, used: count, remaining: count })
      .optional()
      .describe('Where the channel counts messages inside the window (WeChat: 5 per 48 h).'),
  })
  .meta({ title: 'omni.session/v1', description: 'A customer-service window changed state.' });

// ---- omni.contact/v1 -----------------------------------------------------------------------

/** Contact lifecycle events, one subject each. */
export const CONTACT_EVENTS = ['created', 'updated', 'merged', 'unmerged'] as const;

/** An identity as listed on a profile. */
export const profileIdentitySchema = identityKeySchema.extend({
  displayName: z.string().nullable(),
  username: z.string().optional(),
  phone: z.string().optional(),
  firstSeen: timestampSchema,
  lastSeen: timestampSchema,
  sessionOpen: z.boolean().optional().describe('True while a customer-service window of this identity is open now.'),
  sessionExpiresAt: timestampSchema.nullable().optional().describe('When the latest window of this identity ends (or ended); null if it never had one.'),
});

/** A value a merge could not keep side by side with the survivor's, kept with where it came from. */
export const contactConflictSchema = z.object({
  field: z.string().describe('`displayName` or `attributes.<key>`.'),
  value: z.unknown().describe('The value the merged contact had.'),
  source: contactId.describe('The contact it came from.'),
  at: timestampSchema,
});

/** The merged (360°) contact profile. */
export const contactProfileSchema = z.object({
  id: contactId,
  displayName: z.string().nullable(),
  phones: z.array(z.string()).describe('E.164 phone numbers.'),
  emails: z.array(z.string()),
  identities: z.array(profileIdentitySchema),
  attributes: jsonObject.describe('Free-form attributes set through the API.'),
  mergedFrom: z.array(contactId).describe('Ids merged into this contact; they resolve to it.'),
  conflicts: z.array(contactConflictSchema).optional().describe('Values merges could not combine, with their source.'),
  createdAt: timestampSchema,
  updatedAt: timestampSchema,
});

/** An evidence name: `phone`, `email`, `manual`, `name`, or a channel's platform id namespace. */
export const evidenceNameSchema = z.string().regex(/^[a-z][a-z0-9_]{0,63}$/);

/** Why two contacts were merged: automatic evidence of `merge.auto`, or a manual API call. */
export const mergeEvidenceSchema = z.object({
  type: evidenceNameSchema.describe('phone, email, manual, or the namespace of a platform id a channel declares (docs/contacts.md).'),
  value: z.string().optional().describe('The shared phone, email or platform id.'),
});

/** `omni.contact/v1`: a contact was created, updated, merged or unmerged. */
export const contactEventSchema = z
  .object({
    schema: z.literal('omni.contact/v1'),
    event: z.enum(CONTACT_EVENTS),
    contact: contactProfileSchema,
    mergedIds: z.array(contactId).optional().describe('merged: the ids that now resolve to the survivor.'),
    survivorId: contactId.optional(),
    evidence: mergeEvidenceSchema.optional(),
    detached: contactProfileSchema.optional().describe('unmerged: the contact that now holds the split-off identity.'),
  })
  .meta({ title: 'omni.contact/v1', description: 'A contact changed: created, updated, merged or unmerged.' });

// ---- omni.deadletter/v1 --------------------------------------------------------------------

/** `omni.deadletter/v1`: one event the daemon could not process, isolated so the rest flows. */
export const deadletterEventSchema = z
  .object({
    schema: z.literal('omni.deadletter/v1'),
    channel: channelIdSchema,
    account: accountIdSchema,
    error: errorBodySchema,
    at: timestampSchema,
    raw: z.unknown().describe('The command or message that could not be sent, as received (null when `rawOmitted`, and for `event`).'),
    rawOmitted: z.boolean().optional().describe('Only on a bounded event: `raw` was left out to fit the server\'s max_payload.'),
    bounded: boundedNoteSchema.optional(),
    event: z
      .object({
        subject: z.string(),
        msgId: z.string().describe('The Nats-Msg-Id it would have had.'),
        schema: z.string().optional(),
        messageId: messageId.optional(),
        fetch: z.string().optional().describe('Where the whole message is: `/v1/messages/{id}`.'),
      })
      .optional()
      .describe('An event the daemon recorded but can never publish (too large even bounded, refused by the server); kept in the database.'),
  })
  .meta({
    title: 'omni.deadletter/v1',
    description: 'A send command or outbound message given up on after its retries, a command that could not be read, or an event that could not be published.',
  });

// ---- omni.deadletter.in/v1 (inbound lane) -------------------------------------------------

/** `omni.deadletter.in/v1`: one inbound item that could not be recorded, kept with its own bytes. */
export const inboundDeadletterEventSchema = z
  .object({
    schema: z.literal('omni.deadletter.in/v1'),
    id: z.string().max(200).regex(/^dl_\S+$/).describe('Dead letter id (`dl_...`); the row in `inbound_dead_letters`.'),
    channel: channelIdSchema,
    account: accountIdSchema,
    dedupeKey: z.string().min(1).max(512).describe('The item\'s key across redeliveries (the platform id, else a hash of its bytes).'),
    reason: z.string().min(1).max(200).describe('Why it was set aside: a short constant such as `bad_timestamp`, `id_too_long` or `store_failed`.'),
    raw: z.string().describe('The item\'s own bytes (not the whole batch), base64.'),
    rawEncoding: z.literal('base64'),
    receivedAt: timestampSchema,
  })
  .meta({
    title: 'omni.deadletter.in/v1',
    description: 'An inbound item (one message, status or event of a batch) that could not be recorded; the rest of its batch was.',
  });

// ---- omni.message.edited/v1, omni.message.deleted/v1 (inbound lane) -----------------------

/** `omni.message.edited/v1`: a customer edited a message; `parts` are its parts now. */
export const messageEditedEventSchema = z
  .object({
    schema: z.literal('omni.message.edited/v1'),
    id: messageId,
    channel: channelIdSchema,
    account: accountIdSchema,
    externalId: externalId.describe('The platform id of the edited message.'),
    conversationId,
    contactId,
    editedAt: timestampSchema,
    parts: z.array(partSchema).describe('The message as it reads after the edit; media parts start `pending` when the edit brought new media.'),
    edits: count.describe('How many edits the message has had, this one included.'),
  })
  .meta({ title: 'omni.message.edited/v1', description: 'A customer edited a message they had sent; the stored message now has these parts.' });

/** `omni.message.deleted/v1`: a customer unsent a message; its content is gone from the store. */
export const messageDeletedEventSchema = z
  .object({
    schema: z.literal('omni.message.deleted/v1'),
    id: messageId,
    channel: channelIdSchema,
    account: accountIdSchema,
    externalId: externalId.describe('The platform id of the unsent message.'),
    conversationId,
    contactId,
    deletedAt: timestampSchema,
  })
  .meta({ title: 'omni.message.deleted/v1', description: 'A customer unsent a message: its text, media and edit history were deleted; delete your copy too.' });

// ---- omni.account/v1 (account-level quotas) -----------------------------------------------

/** Account events, one subject each: `<p>.v1.evt.account.<event>.<channel>.<account>`. */
export const ACCOUNT_EVENTS = ['quota_low', 'quota_exhausted', 'quota_restored'] as const;

/** How much of an account quota is left, as a level. */
export const QUOTA_LEVELS = ['ok', 'low', 'exhausted'] as const;

/** `omni.account/v1`: something happened to a whole account rather than a conversation (its quota). */
export const accountEventSchema = z
  .object({
    schema: z.literal('omni.account/v1'),
    event: z.enum(ACCOUNT_EVENTS),
    channel: channelIdSchema,
    account: accountIdSchema,
    quota: z
      .object({
        name: z.string().min(1).max(64).describe('The quota as the channel names it (LINE: `monthly_push`).'),
        appliesTo: z.enum(['push', 'all']).describe('Which sends spend it: `push` (not answers through a free reply context) or all.'),
        level: z.enum(QUOTA_LEVELS).describe('`low` from `outbound.quotaLowRatio` of the limit used, `exhausted` when spent or the platform refused for it.'),
        limit: count.nullable().describe('null: unlimited on this plan.'),
        used: count,
        remaining: count.nullable(),
        resetsAt: timestampSchema.optional(),
      })
      .describe('The quota after the change.'),
    reason: z
      .enum(['refreshed', 'spent', 'platform_refused'])
      .describe('What showed the change: a reading from the platform, sends counted since the last one, or the platform refusing a send for this quota.'),
    at: timestampSchema,
  })
  .meta({ title: 'omni.account/v1', description: 'An account-level quota ran low, was exhausted, or has room again.' });
// ---- templates (issue 14) -----------------------------------------------------------------

/** `omni.template.updated/v1`: a catalog template's status or category changed. */
export const templateUpdatedEventSchema = z
  .object({
    schema: z.literal('omni.template.updated/v1'),
    channel: channelIdSchema,
    account: accountIdSchema,
    name: z.string(),
    language: z.string(),
    externalId: z.string().nullable().describe('The platform id of the template.'),
    status: z.string().describe('The status now (APPROVED, PAUSED, DISABLED, REJECTED, PENDING, DELETED, ...).'),
    previousStatus: z.string().nullable(),
    category: z.string().nullable(),
    previousCategory: z.string().nullable(),
    quality: z.string().nullable(),
    version: z.int().positive().describe('Grows by one with every change of this template.'),
    source: z.enum(['sync', 'webhook']).describe('A catalog sync saw it, or a platform webhook announced it.'),
    at: timestampSchema,
  })
  .meta({ title: 'omni.template.updated/v1', description: 'A message template changed status or category (a WhatsApp template was paused, approved, recategorised).' });

/** `omni.template.updated/v1` */
export type TemplateUpdatedEvent = z.infer<typeof templateUpdatedEventSchema>;

// ---- types ---------------------------------------------------------------------------------

/** The merged contact profile. */
export type ContactProfile = z.infer<typeof contactProfileSchema>;
/** `omni.contact/v1` */
export type ContactEvent = z.infer<typeof contactEventSchema>;
/** `omni.deadletter/v1` */
export type DeadletterEvent = z.infer<typeof deadletterEventSchema>;
/** `omni.message.edited/v1` */
export type MessageEditedEvent = z.infer<typeof messageEditedEventSchema>;
/** `omni.message.deleted/v1` */
export type MessageDeletedEvent = z.infer<typeof messageDeletedEventSchema>;
/** `omni.account/v1` */
export type AccountEvent = z.infer<typeof accountEventSchema>;
/** `omni.deadletter.in/v1` */
export type InboundDeadletterEvent = z.infer<typeof inboundDeadletterEventSchema>;

// model.ts is what the code uses, these schemas are what clients get: tsc fails when they drift.
type Extends<A, B> = [A] extends [B] ? true : false;
type Same<A, B> = Extends<A, B> extends true ? Extends<B, A> : false;
type Assert<T extends true> = T;
type SchemasAgreeWithModel = [
  Assert<Same<z.infer<typeof messageEventSchema>, MessageEvent>>,
  Assert<Same<z.infer<typeof partSchema>, Part>>,
  // One way only: model.ts types `error.code` as any string, the contract allows only its codes.
  Assert<Extends<z.infer<typeof statusEventSchema>, StatusEvent>>,
  Assert<Same<z.infer<typeof sessionEventSchema>, SessionEvent>>,
  Assert<Same<z.infer<typeof errorBodySchema>, ErrorBody>>,
];
