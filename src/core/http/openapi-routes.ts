/**
 * Every HTTP route the daemon mounts, described once for docs/openapi.json (`npm run schemas`)
 * and `GET /openapi.json`. Mounting a route? Add one entry here, with the zod schemas the route
 * validates with; `test/schemas/openapi.test.ts` fails for a mounted route missing here.
 * See docs/api.md, "Adding an HTTP route".
 */
import { z, type ZodType } from 'zod';
import {
  contactAnswerSchema,
  contactFindAnswerSchema,
  contactFindRequestSchema,
  contactListAnswerSchema,
  contactListRequestSchema,
  conversationListAnswerSchema,
  conversationListRequestSchema,
  conversationMessagesAnswerSchema,
  conversationMessagesRequestSchema,
  conversationReadRequestSchema,
  conversationTypingRequestSchema,
  costSummaryAnswerSchema,
  costSummaryRequestSchema,
  signalAnswerSchema,
  templateListAnswerSchema,
  templateListRequestSchema,
  contactGetRequestSchema,
  contactMergeRequestSchema,
  contactMergesAnswerSchema,
  contactMergesRequestSchema,
  contactPatchSchema,
  contactSuggestionsAnswerSchema,
  contactSuggestionsRequestSchema,
  contactTimelineAnswerSchema,
  contactTimelineRequestSchema,
  contactUnmergeAnswerSchema,
  contactUnmergeRequestSchema,
  messageGetAnswerSchema,
  messageGetRequestSchema,
  sendAnswerSchema,
  sendCommandSchema,
  sessionGetAnswerSchema,
  sessionGetRequestSchema,
} from '../schemas/api.ts';
import {
  healthAnswerSchema,
  mediaGetQuerySchema,
  mediaIdParamsSchema,
  mediaLinkAnswerSchema,
  mediaLinkQuerySchema,
  readinessAnswerSchema,
  sandboxMediaQuerySchema,
} from '../schemas/http.ts';

/** A body that is not JSON: its media type and what it holds. */
export interface RawContent {
  contentType: string;
  description: string;
}

/** One route as mounted. */
export interface RouteDoc {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  /** The path exactly as hono mounts it (`/v1/contacts/:id`). */
  path: string;
  operationId: string;
  /** Groups the route in the document: health, webhooks, messages, contacts, media, ... */
  tag: string;
  summary: string;
  description?: string;
  /** Default: `bearer` under `/v1`, `none` elsewhere. `bearer-or-signed-link`: either is enough. */
  auth?: 'bearer' | 'none' | 'bearer-or-signed-link';
  /**
   * The schema the route validates: path parameters, then (GET) query parameters or (other
   * methods) the JSON body are its remaining fields, unless `query` or `body` say otherwise.
   */
  request?: ZodType;
  /** The request field of a path parameter whose name differs (`:id` → `conversationId`). */
  params?: Record<string, string>;
  query?: ZodType;
  body?: ZodType | RawContent;
  /** The 200 answer. */
  answer: ZodType | RawContent;
  /** Other answers with the same body as the 200 (readiness: 503). */
  alsoAnswers?: number[];
  /** Error statuses beyond the defaults (see openapi.ts: 400, 401, 404, 413, 429, 500 as they apply). */
  errors?: number[];
}

/** The per-channel webhook route: expanded to one path per registered channel. */
export const WEBHOOK_ROUTE = { path: '/webhooks/:channel/:account', methods: ['get', 'post'] } as const;

const prometheusText: RawContent = { contentType: 'text/plain; version=0.0.4', description: 'Prometheus text exposition; docs/operations.md lists every metric.' };

/** Every documented route but the webhooks, in the document's order. */
export const ROUTES: RouteDoc[] = [
  { method: 'get', path: '/healthz', operationId: 'health', tag: 'health', summary: 'The process runs (liveness).', answer: healthAnswerSchema },
  {
    method: 'get',
    path: '/readyz',
    operationId: 'readiness',
    tag: 'health',
    summary: 'Database, NATS and the outbox relay are usable (readiness); 503 when not.',
    answer: readinessAnswerSchema,
    alsoAnswers: [503],
  },
  {
    method: 'get',
    path: '/readyz/webhooks',
    operationId: 'webhookReadiness',
    tag: 'health',
    summary: 'Webhooks can be recorded (the database is usable), even while NATS is down; 503 when not.',
    answer: readinessAnswerSchema,
    alsoAnswers: [503],
  },
  { method: 'get', path: '/metrics', operationId: 'metrics', tag: 'health', summary: 'Prometheus metrics.', answer: prometheusText },
  {
    method: 'get',
    path: '/openapi.json',
    operationId: 'openapi',
    tag: 'health',
    summary: 'This document.',
    answer: { contentType: 'application/json', description: 'The OpenAPI 3.1 document of this daemon.' },
  },
  {
    method: 'post',
    path: '/v1/messages',
    operationId: 'sendMessage',
    tag: 'messages',
    summary: 'Send a message (omni.send/v1); the same idempotencyKey never sends twice.',
    request: sendCommandSchema,
    answer: sendAnswerSchema,
    errors: [409, 422, 502, 503],
  },
  {
    method: 'get',
    path: '/v1/messages/:id',
    operationId: 'getMessage',
    tag: 'messages',
    summary: 'One message with its current delivery status.',
    request: messageGetRequestSchema,
    answer: messageGetAnswerSchema,
  },
  {
    method: 'get',
    path: '/v1/conversations/:id/session',
    operationId: 'getSession',
    tag: 'conversations',
    summary: "A conversation's customer-service window (null if it never had one).",
    request: sessionGetRequestSchema,
    params: { id: 'conversationId' },
    answer: sessionGetAnswerSchema,
  },
  {
    method: 'get',
    path: '/v1/contacts',
    operationId: 'findContacts',
    tag: 'contacts',
    summary: 'List and search contacts, newest activity first; or look one up by identity, phone or email.',
    description:
      'With exactly one lookup form (channel + account + externalId, phone, or email) the answer is `{ contacts }`, none found an empty list. ' +
      'Any other query, or none, lists contacts: `q` searches names, phones, emails, platform ids and contact ids; cursor paging.',
    query: contactListRequestSchema,
    answer: z.union([contactListAnswerSchema, contactFindAnswerSchema]),
  },
  {
    method: 'get',
    path: '/v1/conversations',
    operationId: 'listConversations',
    tag: 'conversations',
    summary: "Conversations, open window first, then latest activity; each with its window's state now.",
    request: conversationListRequestSchema,
    answer: conversationListAnswerSchema,
  },
  {
    method: 'get',
    path: '/v1/conversations/:id/messages',
    operationId: 'conversationMessages',
    tag: 'conversations',
    summary: "A conversation's messages, newest first, with cursor paging.",
    request: conversationMessagesRequestSchema,
    params: { id: 'conversationId' },
    answer: conversationMessagesAnswerSchema,
  },
  {
    method: 'post',
    path: '/v1/conversations/:id/read',
    operationId: 'markConversationRead',
    tag: 'conversations',
    summary: "Tell the customer their messages were read, where the channel can (capabilities.signals).",
    request: conversationReadRequestSchema,
    params: { id: 'conversationId' },
    answer: signalAnswerSchema,
    errors: [422, 502],
  },
  {
    method: 'post',
    path: '/v1/conversations/:id/typing',
    operationId: 'showTyping',
    tag: 'conversations',
    summary: 'Show the customer that an agent is typing, where the channel can (capabilities.signals).',
    request: conversationTypingRequestSchema,
    params: { id: 'conversationId' },
    answer: signalAnswerSchema,
    errors: [422, 502],
  },
  {
    method: 'get',
    path: '/v1/templates',
    operationId: 'listTemplates',
    tag: 'templates',
    summary: "An account's message-template catalog as last synced from the platform.",
    request: templateListRequestSchema,
    answer: templateListAnswerSchema,
  },
  {
    method: 'get',
    path: '/v1/costs',
    operationId: 'costSummary',
    tag: 'costs',
    summary: 'Counts and estimated amounts of outbound messages, grouped by account, category, contact or conversation.',
    request: costSummaryRequestSchema,
    answer: costSummaryAnswerSchema,
  },
  {
    method: 'get',
    path: '/v1/contacts/:id',
    operationId: 'getContact',
    tag: 'contacts',
    summary: 'The merged (360°) profile; a merged-away id resolves to its survivor.',
    request: contactGetRequestSchema,
    answer: contactAnswerSchema,
  },
  {
    method: 'patch',
    path: '/v1/contacts/:id',
    operationId: 'updateContact',
    tag: 'contacts',
    summary: 'Set displayName, phones, emails or attributes.',
    request: contactGetRequestSchema,
    body: contactPatchSchema,
    answer: contactAnswerSchema,
  },
  {
    method: 'get',
    path: '/v1/contacts/:id/timeline',
    operationId: 'contactTimeline',
    tag: 'contacts',
    summary: 'Every message of every identity of the contact, newest first, one page at a time.',
    request: contactTimelineRequestSchema,
    answer: contactTimelineAnswerSchema,
  },
  {
    method: 'post',
    path: '/v1/contacts/:id/merge',
    operationId: 'mergeContacts',
    tag: 'contacts',
    summary: 'Merge contact otherId into this one.',
    request: contactMergeRequestSchema,
    answer: contactAnswerSchema,
    errors: [409],
  },
  {
    method: 'post',
    path: '/v1/contacts/:id/unmerge',
    operationId: 'unmergeContact',
    tag: 'contacts',
    summary: 'Split an identity off the contact into a contact of its own.',
    request: contactUnmergeRequestSchema,
    answer: contactUnmergeAnswerSchema,
    errors: [409],
  },
  {
    method: 'get',
    path: '/v1/contacts/:id/merges',
    operationId: 'contactMerges',
    tag: 'contacts',
    summary: 'The merge log of the contact and its aliases, newest first.',
    request: contactMergesRequestSchema,
    answer: contactMergesAnswerSchema,
  },
  {
    method: 'get',
    path: '/v1/contacts/:id/suggestions',
    operationId: 'contactSuggestions',
    tag: 'contacts',
    summary: 'Contacts that may be the same person (weak signals); never merged automatically.',
    request: contactSuggestionsRequestSchema,
    answer: contactSuggestionsAnswerSchema,
  },
  {
    method: 'get',
    path: '/v1/media/:id',
    operationId: 'getMedia',
    tag: 'media',
    summary: 'The bytes of stored media; quarantined media is never served.',
    auth: 'bearer-or-signed-link',
    request: mediaIdParamsSchema,
    query: mediaGetQuerySchema,
    answer: { contentType: 'application/octet-stream', description: 'The bytes, with their own content-type, an ETag (sha256) and content-disposition.' },
  },
  {
    method: 'get',
    path: '/v1/media/:id/link',
    operationId: 'mediaLink',
    tag: 'media',
    summary: 'A signed link that serves the media without a token until it expires.',
    request: mediaIdParamsSchema,
    query: mediaLinkQuerySchema,
    answer: mediaLinkAnswerSchema,
  },
  {
    method: 'post',
    path: '/sandbox/:channel/_omnibus/media',
    operationId: 'sandboxPutMedia',
    tag: 'sandbox',
    summary: 'Sandbox mode only: place a file in the fake platform (`omnibus simulate --file`).',
    query: sandboxMediaQuerySchema,
    body: { contentType: 'application/octet-stream', description: 'The file; its content-type header is kept.' },
    answer: { contentType: 'application/json', description: '`{ id, sha256 }` of the media in the fake.' },
  },
];

/** Mounted routes that are not API: the test accepts them, the document leaves them out. */
export const UNDOCUMENTED_ROUTES: ReadonlyArray<{ method: string; path: string; why: string; prefix?: boolean }> = [
  { method: '*', path: '/console', prefix: true, why: "the agent console's pages, assets and same-origin session API (docs/console.md); its data comes from the /v1 routes documented here" },
  { method: 'ALL', path: '/v1/*', why: 'middleware of every /v1 route: bearer auth and request bounds' },
  { method: 'ALL', path: '/sandbox/:channel/*', why: "sandbox mode's fake of a platform API; the platform documents it" },
];
