/**
 * Generates the JSON Schema files in `schemas/` from the zod schemas (`npm run schemas`).
 * The files are committed so clients in any language can validate payloads; a test fails
 * when they differ from what this module generates.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import * as api from './api.ts';
import * as events from './events.ts';

/** Where the published schemas live; each file's `$id` is this plus its path under `schemas/`. */
export const SCHEMA_BASE_URL = 'https://omnibus.dev/schemas/';

interface SchemaFile {
  schema: z.ZodType;
  title: string;
  description: string;
}

const onFailure = 'A failed request answers api/failure.json (NATS) or api/http-error.json (HTTP).';

// Path under schemas/ → schema. Top level: the payloads of docs/api.md; api/: the
// bodies of the `<prefix>.v1.api.*` request/reply subjects (the send request is omni.send.v1.json).
const FILES: Record<string, SchemaFile> = {
  'omni.message.v1.json': {
    schema: events.messageEventSchema,
    title: 'omni.message/v1',
    description:
      'A message received from or sent to a customer, normalised across channels. ' +
      'Subjects: <prefix>.v1.evt.message.in.<channel>.<account> and <prefix>.v1.evt.message.out.<channel>.<account>.',
  },
  'omni.status.v1.json': {
    schema: events.statusEventSchema,
    title: 'omni.status/v1',
    description:
      'A delivery status change: queued, sent, delivered, read, or failed (terminal); never moves backwards. ' +
      'Subject: <prefix>.v1.evt.message.status.<channel>.<account>.',
  },
  'omni.session.v1.json': {
    schema: events.sessionEventSchema,
    title: 'omni.session/v1',
    description:
      'A customer-service window opened, is expiring, or expired. Subject: <prefix>.v1.evt.session.<state>.<channel>.<account>.',
  },
  'omni.contact.v1.json': {
    schema: events.contactEventSchema,
    title: 'omni.contact/v1',
    description: 'A contact was created, updated, merged or unmerged. Subject: <prefix>.v1.evt.contact.<event>.',
  },
  'omni.deadletter.v1.json': {
    schema: events.deadletterEventSchema,
    title: 'omni.deadletter/v1',
    description:
      'An inbound event that could not be processed, set aside so the rest flows. ' +
      'Subject: <prefix>.v1.evt.message.deadletter.<channel>.<account>.',
  },
  'omni.deadletter.in.v1.json': {
    schema: events.inboundDeadletterEventSchema,
    title: 'omni.deadletter.in/v1',
    description:
      'An inbound item that could not be recorded, with its own raw bytes (base64); the rest of its batch was recorded. ' +
      'Once per item. Subject: <prefix>.v1.evt.deadletter.in.<channel>.<account>.',
  },
  'omni.message.edited.v1.json': {
    schema: events.messageEditedEventSchema,
    title: 'omni.message.edited/v1',
    description: 'A customer edited a message; parts are the message after the edit. Subject: <prefix>.v1.evt.message.edited.<channel>.<account>.',
  },
  'omni.message.deleted.v1.json': {
    schema: events.messageDeletedEventSchema,
    title: 'omni.message.deleted/v1',
    description: 'A customer unsent a message; its content is deleted from the store. Subject: <prefix>.v1.evt.message.deleted.<channel>.<account>.',
  },
  'omni.account.v1.json': {
    schema: events.accountEventSchema,
    title: 'omni.account/v1',
    description:
      'An account-level quota (LINE: the monthly push quota) ran low, was exhausted, or has room again. ' +
      'Subject: <prefix>.v1.evt.account.<event>.<channel>.<account>.',
  },
  'omni.send.v1.json': {
    schema: api.sendCommandSchema,
    title: 'omni.send/v1',
    description:
      'Send a message: exactly one of parts or template; account is required with to.externalId. ' +
      'Subjects: <prefix>.v1.cmd.send (JetStream) and <prefix>.v1.api.send (request/reply); HTTP: POST /v1/messages.',
  },
  'api/failure.json': {
    schema: api.apiFailureSchema,
    title: 'api failure',
    description: 'The reply to any failed request on a <prefix>.v1.api.* subject.',
  },
  'api/http-error.json': {
    schema: api.httpErrorSchema,
    title: 'HTTP error',
    description: 'The body of any failed HTTP /v1 request.',
  },
  'api/send.answer.json': {
    schema: api.sendAnswerSchema,
    title: 'api.send answer',
    description: `The send was accepted; its outcome follows as omni.status/v1 events. ${onFailure}`,
  },
  'api/message.get.request.json': {
    schema: api.messageGetRequestSchema,
    title: 'api.message.get request',
    description: 'One message by its daemon id. HTTP: GET /v1/messages/{id}.',
  },
  'api/message.get.answer.json': {
    schema: api.messageGetAnswerSchema,
    title: 'api.message.get answer',
    description: `The message with its current delivery status (null for inbound messages). ${onFailure}`,
  },
  'api/contact.get.request.json': {
    schema: api.contactGetRequestSchema,
    title: 'api.contact.get request',
    description: 'One contact; a merged-away id resolves to its survivor. HTTP: GET /v1/contacts/{id}.',
  },
  'api/contact.get.answer.json': {
    schema: api.contactAnswerSchema,
    title: 'api.contact.get answer',
    description: `The merged (360°) profile. ${onFailure}`,
  },
  'api/contact.find.request.json': {
    schema: api.contactFindRequestSchema,
    title: 'api.contact.find request',
    description:
      'Look contacts up by identity, phone or email. HTTP: GET /v1/contacts?channel=&account=&externalId= / ?phone= / ?email=.',
  },
  'api/contact.find.answer.json': {
    schema: api.contactFindAnswerSchema,
    title: 'api.contact.find answer',
    description: `Every matching contact; none found is an empty list, not an error. ${onFailure}`,
  },
  'api/contact.patch.json': {
    schema: api.contactPatchSchema,
    title: 'contact patch',
    description: 'The body of HTTP PATCH /v1/contacts/{id}: the fields to set, at least one.',
  },
  'api/contact.update.request.json': {
    schema: api.contactUpdateRequestSchema,
    title: 'api.contact.update request',
    description: 'Set displayName, phones, emails or attributes. HTTP: PATCH /v1/contacts/{id} with api/contact.patch.json.',
  },
  'api/contact.update.answer.json': {
    schema: api.contactAnswerSchema,
    title: 'api.contact.update answer',
    description: `The updated profile. ${onFailure}`,
  },
  'api/contact.merge.request.json': {
    schema: api.contactMergeRequestSchema,
    title: 'api.contact.merge request',
    description: 'Merge contact otherId into id. HTTP: POST /v1/contacts/{id}/merge with the rest of the body.',
  },
  'api/contact.merge.answer.json': {
    schema: api.contactAnswerSchema,
    title: 'api.contact.merge answer',
    description: `The surviving profile. ${onFailure}`,
  },
  'api/contact.unmerge.request.json': {
    schema: api.contactUnmergeRequestSchema,
    title: 'api.contact.unmerge request',
    description: 'Split an identity off a contact again. HTTP: POST /v1/contacts/{id}/unmerge with { identity }.',
  },
  'api/contact.unmerge.answer.json': {
    schema: api.contactUnmergeAnswerSchema,
    title: 'api.contact.unmerge answer',
    description: `The contact that kept the rest, and the new contact holding the identity. ${onFailure}`,
  },
  'api/contact.timeline.request.json': {
    schema: api.contactTimelineRequestSchema,
    title: 'api.contact.timeline request',
    description:
      'Every message of every identity of a contact, newest first. HTTP: GET /v1/contacts/{id}/timeline?limit=&before=.',
  },
  'api/contact.timeline.answer.json': {
    schema: api.contactTimelineAnswerSchema,
    title: 'api.contact.timeline answer',
    description: `One page, newest first; pass nextCursor as before for the next page. ${onFailure}`,
  },
  'api/contact.list.request.json': {
    schema: api.contactListRequestSchema,
    title: 'api.contact.list request',
    description:
      'List or search contacts, newest activity first, cursor paging. HTTP: GET /v1/contacts?q=&channel=&account=&activeSince=&limit=&cursor=.',
  },
  'api/contact.list.answer.json': {
    schema: api.contactListAnswerSchema,
    title: 'api.contact.list answer',
    description: `One page of contact summaries; pass nextCursor as cursor for the next page. ${onFailure}`,
  },
  'api/conversation.list.request.json': {
    schema: api.conversationListRequestSchema,
    title: 'api.conversation.list request',
    description: 'List conversations, open service window first, then latest message. HTTP: GET /v1/conversations?contactId=&account=&limit=&cursor=.',
  },
  'api/conversation.list.answer.json': {
    schema: api.conversationListAnswerSchema,
    title: 'api.conversation.list answer',
    description: `One page of conversation summaries with their window now; pass nextCursor as cursor for the next page. ${onFailure}`,
  },
  'api/conversation.messages.request.json': {
    schema: api.conversationMessagesRequestSchema,
    title: 'api.conversation.messages request',
    description: 'A conversation\'s messages, newest first. HTTP: GET /v1/conversations/{id}/messages?limit=&before=.',
  },
  'api/conversation.messages.answer.json': {
    schema: api.conversationMessagesAnswerSchema,
    title: 'api.conversation.messages answer',
    description: `One page of messages as message.get shows them (message and delivery); pass nextCursor as before for the next page. ${onFailure}`,
  },
  'api/session.get.request.json': {
    schema: api.sessionGetRequestSchema,
    title: 'api.session.get request',
    description: 'The customer-service window of one conversation.',
  },
  'api/session.get.answer.json': {
    schema: api.sessionGetAnswerSchema,
    title: 'api.session.get answer',
    description: `The latest omni.session/v1 event of the conversation; null if it never had a window. ${onFailure}`,
  },
  'omni.template.updated.v1.json': {
    schema: events.templateUpdatedEventSchema,
    title: 'omni.template.updated/v1',
    description: 'A message template changed status or category. Subject: <prefix>.v1.evt.template.updated.<channel>.<account>.',
  },
  'api/template.list.request.json': {
    schema: api.templateListRequestSchema,
    title: 'api.template.list request',
    description: 'The synced template catalog of one account (HTTP: GET /v1/templates?account=).',
  },
  'api/template.list.answer.json': {
    schema: api.templateListAnswerSchema,
    title: 'api.template.list answer',
    description: `The catalog; syncedAt null when it never synced. ${onFailure}`,
  },
  'api/cost.summary.request.json': {
    schema: api.costSummaryRequestSchema,
    title: 'api.cost.summary request',
    description: 'The cost ledger between from and to, grouped (HTTP: GET /v1/costs?from=&to=&groupBy=).',
  },
  'api/cost.summary.answer.json': {
    schema: api.costSummaryAnswerSchema,
    title: 'api.cost.summary answer',
    description: `Counts and estimated amounts per group and in total. ${onFailure}`,
  },
  'api/conversation.read.request.json': {
    schema: api.conversationReadRequestSchema,
    title: 'api.conversation.read request',
    description: 'Mark the newest customer message of a conversation read (HTTP: POST /v1/conversations/{id}/read).',
  },
  'api/conversation.typing.request.json': {
    schema: api.conversationTypingRequestSchema,
    title: 'api.conversation.typing request',
    description: 'Show the customer that an agent is typing (HTTP: POST /v1/conversations/{id}/typing).',
  },
  'api/conversation.signal.answer.json': {
    schema: api.signalAnswerSchema,
    title: 'api.conversation.read / typing answer',
    description: `The signal reached the platform. ${onFailure}`,
  },
};

function toJsonSchema(path: string, file: SchemaFile): Record<string, unknown> {
  // draft-07 because AsyncAPI 3.0 payloads are a superset of it, so docs/asyncapi.yaml can $ref
  // these files directly. `input` so defaults read as optional and open objects stay open.
  const { $schema, title: _title, description: _description, ...body } = z.toJSONSchema(file.schema, {
    target: 'draft-07',
    io: 'input',
    override: ({ jsonSchema }) => {
      // `base64` is no JSON Schema format (zod also writes contentEncoding, which is), and
      // validators such as ajv refuse formats they do not know.
      if (jsonSchema.format === 'base64') delete jsonSchema.format;
    },
  });
  return {
    $schema,
    $id: `${SCHEMA_BASE_URL}${path}`,
    title: file.title,
    description: file.description,
    $comment: 'Generated from src/core/schemas by `npm run schemas`; do not edit by hand.',
    ...body,
  };
}

/** Every published JSON Schema, keyed by its path under `schemas/`, in a stable order. */
export function eventJsonSchemas(): Record<string, object> {
  const out: Record<string, object> = {};
  for (const path of Object.keys(FILES).sort()) out[path] = toJsonSchema(path, FILES[path]!);
  return out;
}

/** The exact text of a schema file: 2-space JSON and a final newline. */
export function schemaFileText(schema: object): string {
  return `${JSON.stringify(schema, null, 2)}\n`;
}

/** Writes every schema under `outDir`; returns the paths written. */
export async function writeEventSchemas(outDir = 'schemas'): Promise<string[]> {
  const written: string[] = [];
  for (const [path, schema] of Object.entries(eventJsonSchemas())) {
    const target = join(outDir, path);
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, schemaFileText(schema));
    written.push(target);
  }
  return written;
}
