/**
 * Commands, requests and answers of docs/api.md: the `omni.send/v1` command and the
 * bodies of the nine `<prefix>.v1.api.*` request/reply subjects, which are also the HTTP bodies
 * (over HTTP, ids named in the path are left out of the body). Requests are strict objects: an
 * unknown or misspelt field is refused rather than silently ignored. Answers are open: v1 may add
 * fields to them.
 */
import { z } from 'zod';
import {
  accountIdSchema,
  channelIdSchema,
  contactProfileSchema,
  daemonIdSchema,
  deliveryStatusSchema,
  errorBodySchema,
  evidenceNameSchema,
  identityKeySchema,
  mergeEvidenceSchema,
  messageEventSchema,
  sessionEventSchema,
  timestampSchema,
} from './events.ts';
import { MEDIA_PART_TYPES } from '../model.ts';

const messageId = daemonIdSchema('msg', 'Message id');
const contactId = daemonIdSchema('ct', 'Contact id');
const conversationId = daemonIdSchema('cv', 'Conversation id');
const externalId = z.string().min(1).max(512);

// ---- omni.send/v1 --------------------------------------------------------------------------

/** Outbound media: a URL the daemon fetches, inline bytes, or media already stored. */
export const sendMediaSchema = z.union([
  z.strictObject({
    // http(s) only: file:, data: or ftp: would let a caller make the daemon read its own host.
    // `protocol` does not reach JSON Schema, so the pattern says it again for other languages.
    url: z
      .url({ protocol: /^https?$/ })
      .regex(/^[Hh][Tt][Tt][Pp][Ss]?:\/\//)
      .meta({ format: 'uri', description: 'An http(s) URL the daemon downloads.' }),
  }),
  z.strictObject({ base64: z.base64().min(1).describe('The bytes, base64-encoded.') }),
  z.strictObject({ id: daemonIdSchema('med', 'Stored media id') }),
]);

/** One part of an outbound message: text, or media of one of the media part types. */
export const sendPartSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('text'),
    text: z.string().min(1),
    previewUrl: z.boolean().optional().describe('Ask the platform to preview the first URL (WhatsApp `preview_url`).'),
  }),
  z.strictObject({
    type: z.literal('location'),
    latitude: z.number().min(-90).max(90),
    longitude: z.number().min(-180).max(180),
    name: z.string().min(1).optional(),
    address: z.string().min(1).optional(),
  }),
  z
    .strictObject({ type: z.literal('reaction'), emoji: z.string().describe('Empty removes the reaction.'), targetExternalId: z.string().min(1).max(512) })
    .describe('A reaction to a customer message, on channels that have them.'),
  z
    .strictObject({
      type: z.literal('buttons'),
      text: z.string().min(1),
      buttons: z.array(z.strictObject({ id: z.string().min(1).max(256), title: z.string().min(1).max(20) })).min(1).max(3),
      header: z.string().min(1).optional(),
      footer: z.string().min(1).optional(),
    })
    .describe('Reply buttons (WhatsApp interactive buttons, WeChat menu); the choice comes back as a `reply` part.'),
  z
    .strictObject({
      type: z.literal('list'),
      text: z.string().min(1),
      button: z.string().min(1).max(20).describe('Label of the button that opens the list.'),
      sections: z
        .array(
          z.strictObject({
            title: z.string().min(1).optional(),
            rows: z.array(z.strictObject({ id: z.string().min(1).max(200), title: z.string().min(1).max(24), description: z.string().max(72).optional() })).min(1).max(10),
          }),
        )
        .min(1)
        .max(10),
      header: z.string().min(1).optional(),
      footer: z.string().min(1).optional(),
    })
    .describe('A list of choices (WhatsApp interactive list); the choice comes back as a `reply` part.'),
  z.strictObject({
    type: z.enum(MEDIA_PART_TYPES),
    media: sendMediaSchema,
    filename: z.string().min(1).max(255).regex(/^[^/\\\x00-\x1f\x7f]+$/).optional().describe('Shown to the customer.'),
    caption: z.string().optional(),
  }),
]);

/** A platform message template (WhatsApp), sent instead of parts outside the session window. */
export const sendTemplateSchema = z.strictObject({
  name: z.string().min(1).max(512),
  language: z.string().min(1).max(32).describe('Template language code, e.g. `en_US`.'),
  params: z
    .record(z.string(), z.unknown())
    .default({})
    .describe('Template parameters by component, e.g. `{ "body": ["Kerry", "#1234"] }`.'),
});

/** The caps of a send's `metadata`: serialized size (UTF-8 JSON), number of keys, key length. */
export const SEND_METADATA_LIMITS = { maxBytes: 4096, maxKeys: 32, maxKeyLength: 64 } as const;

/**
 * A send's `metadata`: who or what it came from (agent id, ticket id) and free keys, carried
 * onto the stored message and its `message.out` event as given; never sent to the platform.
 */
export const sendMetadataSchema = z
  .object({
    agentId: z.string().min(1).max(200).optional().describe('The agent who sent it.'),
    ticketId: z.string().min(1).max(200).optional().describe('The helpdesk ticket it belongs to.'),
  })
  .catchall(z.unknown())
  .superRefine((metadata, ctx) => {
    const keys = Object.keys(metadata);
    if (keys.length > SEND_METADATA_LIMITS.maxKeys) {
      ctx.addIssue({ code: 'custom', message: `metadata has ${keys.length} keys; the limit is ${SEND_METADATA_LIMITS.maxKeys} keys (metadata.maxKeys)` });
    }
    const long = keys.find((key) => key.length === 0 || key.length > SEND_METADATA_LIMITS.maxKeyLength);
    if (long !== undefined) {
      ctx.addIssue({ code: 'custom', message: `metadata keys must be 1 to ${SEND_METADATA_LIMITS.maxKeyLength} characters (metadata.maxKeyLength)` });
    }
    const bytes = Buffer.byteLength(JSON.stringify(metadata));
    if (bytes > SEND_METADATA_LIMITS.maxBytes) {
      ctx.addIssue({ code: 'custom', message: `metadata is ${bytes} bytes as JSON; the limit is ${SEND_METADATA_LIMITS.maxBytes} bytes (metadata.maxBytes)` });
    }
  })
  .meta({
    maxProperties: SEND_METADATA_LIMITS.maxKeys,
    propertyNames: { minLength: 1, maxLength: SEND_METADATA_LIMITS.maxKeyLength },
    description: `At most ${SEND_METADATA_LIMITS.maxKeys} keys and ${SEND_METADATA_LIMITS.maxBytes} bytes as JSON.`,
  });

/** `omni.send/v1`: send a message; the same idempotencyKey never sends twice. */
export const sendCommandSchema = z
  .strictObject({
    schema: z.literal('omni.send/v1').optional().describe('May be left out over HTTP.'),
    idempotencyKey: z.string().min(1).max(200).describe('The same key never sends twice.'),
    account: accountIdSchema
      .optional()
      .describe("Required with `to.externalId`; optional with `to.contactId` and `to.conversationId` (then it must be the conversation's)."),
    to: z
      .union([
        z.strictObject({ contactId }),
        z.strictObject({ externalId: externalId.describe('The platform id of the customer on `account`.') }),
        z.strictObject({ conversationId: conversationId.describe('A direct or group conversation (Telegram group, LINE group or room).') }),
      ])
      .describe('A contact (answered on its open, most recently active conversation), a platform id on `account`, or a conversation.'),
    parts: z.array(sendPartSchema).min(1).optional(),
    template: sendTemplateSchema.optional(),
    replyTo: z.strictObject({ externalId }).optional().describe('The platform id of the message answered.'),
    metadata: sendMetadataSchema
      .optional()
      .describe('Agent id, ticket id, free keys: kept on the message and its message.out event, never sent to the platform.'),
  })
  .superRefine((command, ctx) => {
    if ((command.parts === undefined) === (command.template === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['parts'], message: 'give exactly one of parts or template' });
    }
    if ('externalId' in command.to && command.account === undefined) {
      ctx.addIssue({ code: 'custom', path: ['account'], message: 'account is required when to.externalId is given' });
    }
  })
  // The two rules above, spelt out for JSON Schema readers (zod refinements do not export).
  .meta({
    oneOf: [{ required: ['parts'] }, { required: ['template'] }],
    if: { properties: { to: { type: 'object', required: ['externalId'] } } },
    then: { required: ['account'] },
  });

/** Answer of `api.send` / `POST /v1/messages` when the send was accepted. */
export const sendAnswerSchema = z
  .object({
    ok: z.literal(true),
    messageId,
    status: deliveryStatusSchema.describe('`queued` for a new send; a repeated key answers its message.'),
  });

// ---- failures ------------------------------------------------------------------------------

/** A failed request/reply answer: `{ ok: false, error }`. */
export const apiFailureSchema = z
  .object({ ok: z.literal(false), error: errorBodySchema });

/** A failed HTTP answer: `{ error }`. */
export const httpErrorSchema = z
  .object({ error: errorBodySchema });

// ---- messages ------------------------------------------------------------------------------

/** `api.message.get` / `GET /v1/messages/{id}` request. */
export const messageGetRequestSchema = z.strictObject({ id: messageId });

/** One message with its current delivery status (`delivery` is null for inbound messages). */
export const messageGetAnswerSchema = z
  .object({
    ok: z.literal(true),
    message: messageEventSchema,
    delivery: z
      .object({ status: deliveryStatusSchema, at: timestampSchema, error: errorBodySchema.optional() })
      .nullable(),
  });

// ---- contacts ------------------------------------------------------------------------------

/** `api.contact.get` / `GET /v1/contacts/{id}` request; a merged-away id resolves to its survivor. */
export const contactGetRequestSchema = z.strictObject({ id: contactId });

/** `api.contact.find` / `GET /v1/contacts?...` request: by identity, by phone, or by email. */
export const contactFindRequestSchema = z
  .union([
    z.strictObject({ channel: channelIdSchema, account: accountIdSchema, externalId }),
    z.strictObject({ phone: z.string().min(1).max(32) }),
    z.strictObject({ email: z.email() }),
  ]);

const actor = z.string().min(1).max(200).describe('Who asks, for the merge log (an agent, a tool); default `api`.');

const contactPatchFields = {
  displayName: z.string().min(1).max(200).nullable().optional().describe('null clears the name.'),
  phones: z.array(z.string().min(1).max(32)).max(50).optional().describe('Replaces the phones; normalised to E.164.'),
  emails: z.array(z.email()).max(50).optional().describe('Replaces the emails.'),
  attributes: z
    .record(z.string(), z.unknown())
    .optional()
    .describe('Merged into the attributes (JSON merge patch): a null value removes the key.'),
};
const patchFieldNames = Object.keys(contactPatchFields) as Array<keyof typeof contactPatchFields>;
const hasPatchField = (body: Partial<Record<keyof typeof contactPatchFields, unknown>>) =>
  patchFieldNames.some((name) => body[name] !== undefined);
// "At least one field", for JSON Schema readers.
const anyPatchField = { anyOf: patchFieldNames.map((name) => ({ required: [name] })) };

/** The body of `PATCH /v1/contacts/{id}`: the fields to set, at least one. */
export const contactPatchSchema = z
  .strictObject(contactPatchFields)
  .refine(hasPatchField, { message: 'give at least one field to update' })
  .meta(anyPatchField);

/** `api.contact.update` request: the PATCH body plus the contact id. */
export const contactUpdateRequestSchema = z
  .strictObject({ id: contactId, ...contactPatchFields })
  .refine(hasPatchField, { message: 'give at least one field to update' })
  .meta(anyPatchField);

/** `api.contact.merge` request: merge `otherId` into `id`; the older contact survives unless `survivorId` says. */
export const contactMergeRequestSchema = z
  .strictObject({
    id: contactId,
    otherId: contactId,
    survivorId: contactId.optional().describe('Force the survivor: `id` or `otherId`.'),
    actor: actor.optional(),
  })
  .superRefine((request, ctx) => {
    if (request.id === request.otherId) {
      ctx.addIssue({ code: 'custom', path: ['otherId'], message: 'cannot merge a contact with itself' });
    }
    if (request.survivorId !== undefined && request.survivorId !== request.id && request.survivorId !== request.otherId) {
      ctx.addIssue({ code: 'custom', path: ['survivorId'], message: 'survivorId must be id or otherId' });
    }
  });

/** `api.contact.unmerge` request: split `identity` off contact `id` into a contact of its own. */
export const contactUnmergeRequestSchema = z
  .strictObject({ id: contactId, identity: z.strictObject(identityKeySchema.shape), actor: actor.optional() });

/** `api.contact.timeline` / `GET /v1/contacts/{id}/timeline` request: newest first, cursor paging. */
export const contactTimelineRequestSchema = z
  .strictObject({
    id: contactId,
    limit: z.number().int().min(1).max(200).default(50),
    before: z.string().min(1).max(500).optional().describe('The `nextCursor` of the previous page.'),
  });

/** The answer of contact get, update and merge: the merged profile. */
export const contactAnswerSchema = z
  .object({ ok: z.literal(true), contact: contactProfileSchema });

/** The answer of contact find: every matching contact (none is not an error). */
export const contactFindAnswerSchema = z
  .object({ ok: z.literal(true), contacts: z.array(contactProfileSchema) });

/** The answer of unmerge: the contact that kept the rest, and the new one holding the identity. */
export const contactUnmergeAnswerSchema = z
  .object({ ok: z.literal(true), contact: contactProfileSchema, detached: contactProfileSchema });

/** The answer of timeline: one page, newest first; `nextCursor` null on the last page. */
export const contactTimelineAnswerSchema = z
  .object({ ok: z.literal(true), messages: z.array(messageEventSchema), nextCursor: z.string().nullable() });

/** `GET /v1/contacts/{id}/merges` request (HTTP only). */
export const contactMergesRequestSchema = z.strictObject({ id: contactId });

/** One merge-log entry: a merge or an unmerge, who asked, when, on which evidence. */
export const mergeLogEntrySchema = z.object({
  id: z.string().describe('The log entry id; the merged/unmerged event id is derived from it.'),
  action: z.enum(['merge', 'unmerge']),
  contactId: contactId.describe('merge: the survivor; unmerge: the contact that kept the other identities.'),
  otherId: contactId.describe('merge: the contact merged away; unmerge: the contact now holding the identity.'),
  actor: z.string().describe('`auto` for automatic merges, else the caller (`api` unless it named itself).'),
  via: z.enum(['http', 'nats', 'inbound', 'update']).describe('inbound: on a received message; update: on a PATCH.'),
  evidence: mergeEvidenceSchema,
  identities: z.array(identityKeySchema).describe('The identities that moved.'),
  at: timestampSchema,
});

/** The answer of `GET /v1/contacts/{id}/merges`: every entry about the contact or its aliases, newest first. */
export const contactMergesAnswerSchema = z.object({ ok: z.literal(true), merges: z.array(mergeLogEntrySchema) });

/** `GET /v1/contacts/{id}/suggestions` request (HTTP only). */
export const contactSuggestionsRequestSchema = z.strictObject({ id: contactId });

/** A contact that may be the same person, with the weak signals that say so; never merged automatically. */
export const contactSuggestionSchema = z.object({
  contact: contactProfileSchema,
  reasons: z.array(
    z.object({
      type: evidenceNameSchema.describe('phone, email, name, or the namespace of a shared platform id.'),
      value: z.string(),
      verified: z.boolean().describe('phone: both sides verified (only a suggestion because `phone` is not in merge.auto).'),
    }),
  ),
  score: z.number().describe('Higher is more likely; suggestions are sorted by it.'),
});

/** The answer of `GET /v1/contacts/{id}/suggestions`. */
export const contactSuggestionsAnswerSchema = z.object({ ok: z.literal(true), suggestions: z.array(contactSuggestionSchema) });

// ---- sessions ------------------------------------------------------------------------------

/** `api.session.get` request. */
export const sessionGetRequestSchema = z
  .strictObject({ conversationId: daemonIdSchema('cv', 'Conversation id') });

/** The answer of session get: the conversation's latest session event, null if it never had one. */
export const sessionGetAnswerSchema = z
  .object({ ok: z.literal(true), session: sessionEventSchema.nullable() });

export * from './lists.ts';
// ---- templates, costs, signals (issue 14) --------------------------------------------------

/** `api.template.list` / `GET /v1/templates?account=`. */
export const templateListRequestSchema = z.strictObject({
  account: accountIdSchema,
  name: z.string().min(1).max(512).optional().describe('Only templates of this name.'),
  status: z.string().min(1).max(32).optional().describe('Only templates in this status (APPROVED, PAUSED, ...).'),
});

/** One template of the catalog as the API shows it. */
export const catalogTemplateSchema = z.object({
  name: z.string(),
  language: z.string(),
  externalId: z.string().nullable(),
  status: z.string(),
  category: z.string().nullable(),
  quality: z.string().nullable(),
  parameters: z.record(z.string(), z.unknown()).describe('What a send must give: header kind, body parameters, buttons.'),
  components: z.array(z.unknown()).describe("The platform's components, untouched."),
  version: z.int(),
  updatedAt: timestampSchema,
});

/** The answer of template list: `syncedAt` null = the catalog never synced (sends are checked for shape only). */
export const templateListAnswerSchema = z.object({
  ok: z.literal(true),
  account: accountIdSchema,
  syncedAt: timestampSchema.nullable(),
  templates: z.array(catalogTemplateSchema),
});

/** `api.cost.summary` / `GET /v1/costs?from=&to=&groupBy=`. */
export const costSummaryRequestSchema = z.strictObject({
  from: timestampSchema.describe('Start, inclusive.'),
  to: timestampSchema.describe('End, exclusive.'),
  groupBy: z.enum(['account', 'category', 'contact', 'conversation']).default('account'),
  account: accountIdSchema.optional().describe('Only this account.'),
});

/** One group of the cost summary; amounts are estimates (docs/outbound.md, Costs). */
export const costGroupSchema = z.object({
  key: z.string().describe('The account id, category, contact id or conversation id.'),
  messages: z.int().describe('Outbound messages recorded.'),
  billable: z.int().describe('Of which the platform bills.'),
  units: z.int().describe('Billable units (a LINE push to a group counts each member).'),
  amounts: z.record(z.string(), z.number()).describe('Estimated amount per currency, from the configured prices; empty without prices.'),
  unpriced: z.int().describe('Billable units whose category has no configured price.'),
});

/** The answer of cost summary. */
export const costSummaryAnswerSchema = z.object({
  ok: z.literal(true),
  from: timestampSchema,
  to: timestampSchema,
  groupBy: z.enum(['account', 'category', 'contact', 'conversation']),
  groups: z.array(costGroupSchema),
  totals: costGroupSchema.omit({ key: true }),
});

/** `api.conversation.read` / `POST /v1/conversations/{id}/read`. */
export const conversationReadRequestSchema = z.strictObject({ conversationId });

/** `api.conversation.typing` / `POST /v1/conversations/{id}/typing`. */
export const conversationTypingRequestSchema = z.strictObject({
  conversationId,
  seconds: z.int().min(1).max(60).optional().describe('How long to show typing where the platform takes a duration (LINE: 5-60 s, rounded up to 5).'),
});

/** The answer of a signal: it reached the platform. */
export const signalAnswerSchema = z.object({ ok: z.literal(true), signal: z.enum(['read', 'typing']), conversationId });

/** `api.template.list` request. */
export type TemplateListRequest = z.infer<typeof templateListRequestSchema>;
/** `api.cost.summary` request after defaults. */
export type CostSummaryRequest = z.infer<typeof costSummaryRequestSchema>;

// ---- types ---------------------------------------------------------------------------------

/** `omni.send/v1` after parsing (template params defaulted). */
export type SendCommand = z.infer<typeof sendCommandSchema>;
/** An outbound part as given in a send command. */
export type SendPart = z.infer<typeof sendPartSchema>;
/** The answer of an accepted send. */
export type SendAnswer = z.infer<typeof sendAnswerSchema>;
/** A failed request/reply answer. */
export type ApiFailure = z.infer<typeof apiFailureSchema>;
