/**
 * The contact API operations, each defined once and served over NATS request/reply
 * (`<p>.v1.api.contact.*`) and HTTP (`/v1/contacts...`) by the extension. The merge log and
 * suggestions have no NATS subject in the contract, so they are served over HTTP only.
 */
import type { Context } from 'hono';
import { z } from 'zod';
import type { Db } from '../core/storage/db.ts';
import type { Clock } from '../core/clock.ts';
import type { Subjects } from '../core/schemas/subjects.ts';
import type { Operation } from '../core/api/operations.ts';
import {
  contactFindRequestSchema,
  contactGetRequestSchema,
  contactListRequestSchema,
  contactMergeRequestSchema,
  contactMergesRequestSchema,
  contactSuggestionsRequestSchema,
  contactTimelineRequestSchema,
  contactUnmergeRequestSchema,
  contactUpdateRequestSchema,
} from '../core/schemas/api.ts';
import type { MergePolicy } from './evidence.ts';
import { loadProfile } from './profile.ts';
import { requireContactId } from './store.ts';
import { findContacts } from './find.ts';
import { updateContact } from './update.ts';
import { mergeContacts } from './merge.ts';
import { unmergeIdentity } from './unmerge.ts';
import { timeline } from './timeline.ts';
import { mergeHistory } from './history.ts';
import { suggestionsFor } from './suggestions.ts';
import { listContacts } from './contact-list.ts';

/** What the operations need from the daemon. */
export interface ContactApiDeps {
  db: Db;
  subjects: Subjects;
  clock: Clock;
  policy(): MergePolicy;
  /** Recorded in the merge log as where a manual merge came from. */
  via: 'http' | 'nats';
}

/** The operations with a NATS subject in the contract. */
export function contactOperations(deps: ContactApiDeps) {
  const ctx = { subjects: deps.subjects, now: () => deps.clock.now() };
  return {
    get: {
      endpoint: 'contactGet',
      schema: contactGetRequestSchema,
      handle: async (request) => ({ contact: await loadProfile(deps.db, await requireContactId(deps.db, request.id), deps.clock.now()) }),
    } satisfies Operation<{ id: string }>,
    find: {
      endpoint: 'contactFind',
      schema: contactFindRequestSchema,
      handle: async (request) => ({ contacts: await findContacts(deps.db, deps.policy(), request, deps.clock.now()) }),
    } satisfies Operation<ReturnType<typeof contactFindRequestSchema.parse>>,
    update: {
      endpoint: 'contactUpdate',
      schema: contactUpdateRequestSchema,
      handle: async (request) => ({ contact: await updateContact(deps.db, { ...ctx, policy: deps.policy() }, request) }),
    } satisfies Operation<ReturnType<typeof contactUpdateRequestSchema.parse>>,
    merge: {
      endpoint: 'contactMerge',
      schema: contactMergeRequestSchema,
      handle: async (request) => ({ contact: await mergeContacts(deps.db, ctx, request, deps.via) }),
    } satisfies Operation<ReturnType<typeof contactMergeRequestSchema.parse>>,
    unmerge: {
      endpoint: 'contactUnmerge',
      schema: contactUnmergeRequestSchema,
      handle: async (request) => unmergeIdentity(deps.db, ctx, request, deps.via),
    } satisfies Operation<ReturnType<typeof contactUnmergeRequestSchema.parse>>,
    timeline: {
      endpoint: 'contactTimeline',
      schema: contactTimelineRequestSchema,
      handle: async (request) => ({ ...(await timeline(deps.db, request)) }),
    } satisfies Operation<ReturnType<typeof contactTimelineRequestSchema.parse>>,
    list: {
      endpoint: 'contactList',
      schema: contactListRequestSchema,
      handle: async (request) => ({ ...(await listContacts(deps.db, deps.policy(), request)) }),
    } satisfies Operation<ReturnType<typeof contactListRequestSchema.parse>>,
  };
}

/**
 * `GET /v1/contacts`: a lookup (`find`, answering `{ contacts }`) when the query names an
 * identity, a phone or an email as before; otherwise the list (`{ items, nextCursor }`).
 */
export function contactFindOrListOperation(deps: ContactApiDeps): Operation {
  const ops = contactOperations(deps);
  return {
    endpoint: 'contactList',
    schema: z.union([contactFindRequestSchema, contactListRequestSchema]),
    handle: async (request: Record<string, unknown>) =>
      'externalId' in request || 'phone' in request || 'email' in request ? ops.find.handle(request as never) : ops.list.handle(request as never),
  };
}

/** HTTP-only operations; `endpoint` names them in error logs only. */
export function contactHttpOnlyOperations(deps: ContactApiDeps) {
  return {
    merges: {
      endpoint: 'contactGet',
      schema: contactMergesRequestSchema,
      handle: async (request) => ({ merges: await mergeHistory(deps.db, request.id) }),
    } satisfies Operation<{ id: string }>,
    suggestions: {
      endpoint: 'contactGet',
      schema: contactSuggestionsRequestSchema,
      handle: async (request) => ({ suggestions: await suggestionsFor(deps.db, deps.policy(), request.id, deps.clock.now()) }),
    } satisfies Operation<{ id: string }>,
  };
}

/** One HTTP route: method, path under `/v1`, operation, and how the request is built. */
export type HttpRoute = [method: 'get' | 'post' | 'patch', path: string, operation: Operation, toRequest: (c: Context, body: unknown) => unknown];

const withId = (c: Context, body: unknown) =>
  body !== null && typeof body === 'object' && !Array.isArray(body) ? { ...body, id: c.req.param('id') } : body;
const idOnly = (c: Context) => ({ id: c.req.param('id') });

/** The `/v1/contacts` routes of docs/api.md. */
export function contactRoutes(deps: ContactApiDeps): HttpRoute[] {
  const ops = contactOperations(deps);
  const httpOnly = contactHttpOnlyOperations(deps);
  return [
    ['get', '/contacts', contactFindOrListOperation(deps), findOrListRequest],
    ['get', '/contacts/:id', ops.get, idOnly],
    ['patch', '/contacts/:id', ops.update, withId],
    ['get', '/contacts/:id/timeline', ops.timeline, timelineRequest],
    ['post', '/contacts/:id/merge', ops.merge, withId],
    ['post', '/contacts/:id/unmerge', ops.unmerge, withId],
    ['get', '/contacts/:id/merges', httpOnly.merges, idOnly],
    ['get', '/contacts/:id/suggestions', httpOnly.suggestions, idOnly],
  ];
}

/**
 * The query as the request; an unencoded `+` of `?phone=+1...` (or `?q=+1...`) arrives as a
 * space and is put back; `limit` becomes a number (a non-numeric one fails validation).
 */
function findOrListRequest(c: Context): unknown {
  const { limit, ...query } = c.req.query();
  const request: Record<string, unknown> = { ...query };
  for (const field of ['phone', 'q']) {
    const value = query[field];
    if (value !== undefined && /^ \d/.test(value)) request[field] = `+${value.slice(1)}`;
  }
  if (limit !== undefined) request.limit = limit === '' ? NaN : Number(limit);
  return request;
}

/** `?limit=&before=` as the request; a non-numeric limit fails validation like any bad field. */
function timelineRequest(c: Context): unknown {
  const { limit, ...rest } = c.req.query();
  return { ...rest, id: c.req.param('id'), ...(limit !== undefined ? { limit: limit === '' ? NaN : Number(limit) } : {}) };
}
