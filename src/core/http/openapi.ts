/**
 * The OpenAPI 3.1 document of the HTTP API, built from the route table (openapi-routes.ts) and
 * the same zod schemas that generate `schemas/`. Committed as docs/openapi.json by
 * `npm run schemas` and served at `GET /openapi.json`; a test fails when the two differ.
 */
import { z, type ZodType } from 'zod';
import type { WebhookDoc } from '../adapter.ts';
import { httpErrorSchema } from '../schemas/api.ts';
import { contactProfileSchema, errorBodySchema, messageEventSchema, sessionEventSchema } from '../schemas/events.ts';
import { ROUTES, WEBHOOK_ROUTE, type RawContent, type RouteDoc } from './openapi-routes.ts';

/** What the document needs to know of a channel. */
export interface OpenApiChannel {
  id: string;
  webhookDoc?: WebhookDoc;
}

type Json = Record<string, unknown>;
type Schema = Json & { properties?: Record<string, Json>; required?: string[]; anyOf?: Schema[]; oneOf?: Schema[] };

// `input`, as for schemas/: defaults read as optional and open objects (answers) stay open.
const CONVERSION = {
  target: 'draft-2020-12',
  io: 'input',
  override: ({ jsonSchema }: { jsonSchema: Record<string, unknown> }) => {
    // Not a JSON Schema format (contentEncoding says base64, and is one).
    if (jsonSchema.format === 'base64') delete jsonSchema.format;
  },
} as const;

/** A zod schema as JSON Schema 2020-12, the dialect of OpenAPI 3.1. */
export function jsonSchemaOf(schema: ZodType): Schema {
  const { $schema: _dialect, ...body } = z.toJSONSchema(schema, CONVERSION);
  return body as Schema;
}

/** Schemas several answers share, as named components. */
const SHARED_COMPONENTS: ReadonlyArray<[ZodType, string]> = [
  [messageEventSchema, 'Message'],
  [contactProfileSchema, 'Contact'],
  [sessionEventSchema, 'SessionEvent'],
  [errorBodySchema, 'ErrorBody'],
  [httpErrorSchema, 'HttpError'],
];

/** Every answer schema as a component (named after its first route), shared schemas referenced. */
function answerComponents(): { refOf(schema: ZodType): Json; schemas: Record<string, Json> } {
  const registry = z.registry<{ id: string }>();
  const names = new Map<ZodType, string>();
  const add = (schema: ZodType, id: string) => {
    if (names.has(schema)) return;
    names.set(schema, id);
    registry.add(schema, { id });
  };
  for (const [schema, id] of SHARED_COMPONENTS) add(schema, id);
  for (const route of ROUTES) if (!isRaw(route.answer)) add(route.answer, `${route.operationId[0]!.toUpperCase()}${route.operationId.slice(1)}Answer`);
  const { schemas } = z.toJSONSchema(registry, { ...CONVERSION, uri: (id) => `#/components/schemas/${id}` });
  const out: Record<string, Json> = {};
  for (const id of [...names.values()]) {
    const { $schema: _dialect, $id: _id, ...body } = schemas[id] as Json;
    out[id] = body;
  }
  return { refOf: (schema) => ({ $ref: `#/components/schemas/${names.get(schema)}` }), schemas: out };
}

/** `/v1/contacts/:id` → `/v1/contacts/{id}`. */
export function openApiPath(honoPath: string): string {
  return honoPath.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

const isRaw = (value: ZodType | RawContent | undefined): value is RawContent =>
  value !== undefined && typeof (value as RawContent).contentType === 'string' && !(value instanceof z.ZodType);

/** The fields of an object schema or of a union of them; required only if every branch requires it. */
function fieldsOf(schema: Schema): { properties: Record<string, Json>; required: Set<string> } {
  const branches = schema.properties ? [schema] : [...(schema.anyOf ?? []), ...(schema.oneOf ?? [])];
  const properties: Record<string, Json> = {};
  let required = null as Set<string> | null;
  for (const branch of branches) {
    Object.assign(properties, branch.properties ?? {});
    const own = new Set(branch.required ?? []);
    required = required === null ? own : new Set([...required].filter((name) => own.has(name)));
  }
  return { properties, required: required ?? new Set() };
}

function parameter(name: string, where: 'path' | 'query' | 'header', schema: Json, required: boolean): Json {
  const { description, ...rest } = schema;
  return { name, in: where, required, ...(description ? { description } : {}), schema: rest };
}

/** The object schema without some fields (the path parameters of a body). */
function without(schema: Schema, names: ReadonlySet<string>): Schema {
  if (!schema.properties) return schema;
  const properties = Object.fromEntries(Object.entries(schema.properties).filter(([name]) => !names.has(name)));
  const required = (schema.required ?? []).filter((name) => !names.has(name));
  const { required: _required, ...rest } = schema;
  return { ...rest, properties, ...(required.length ? { required } : {}) };
}

const errorRef = { $ref: '#/components/responses/error' };

function content(value: ZodType | RawContent, schemaOf: (schema: ZodType) => Json = jsonSchemaOf): Json {
  if (isRaw(value)) return { [value.contentType]: { schema: {} } };
  return { 'application/json': { schema: schemaOf(value) } };
}

function operation(route: RouteDoc, refOf: (schema: ZodType) => Json): Json {
  const pathNames = [...route.path.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => m[1]!);
  const pathFields = new Set(pathNames.map((name) => route.params?.[name] ?? name));
  const request = route.request ? jsonSchemaOf(route.request) : null;
  const fields = request ? fieldsOf(request) : { properties: {}, required: new Set<string>() };
  const parameters: Json[] = pathNames.map((name) =>
    parameter(name, 'path', fields.properties[route.params?.[name] ?? name] ?? { type: 'string' }, true),
  );
  const query = route.query ? fieldsOf(jsonSchemaOf(route.query)) : route.method === 'get' ? fields : null;
  for (const [name, schema] of Object.entries(query?.properties ?? {})) {
    if (!pathFields.has(name)) parameters.push(parameter(name, 'query', schema, query!.required.has(name)));
  }

  let requestBody: Json | undefined;
  if (route.body) requestBody = { required: true, content: content(route.body), ...(isRaw(route.body) ? { description: route.body.description } : {}) };
  else if (route.method !== 'get' && request) requestBody = { required: true, content: { 'application/json': { schema: without(request, pathFields) } } };

  const bearer = route.auth ?? (route.path.startsWith('/v1/') ? 'bearer' : 'none');
  const answer = { description: isRaw(route.answer) ? route.answer.description : 'OK', content: content(route.answer, refOf) };
  const responses: Json = { 200: answer };
  for (const status of route.alsoAnswers ?? []) responses[status] = answer;
  const errors = new Set(route.errors ?? []);
  if (request || requestBody || route.query) errors.add(400);
  if (bearer !== 'none') errors.add(401);
  if (pathNames.length) errors.add(404);
  if (requestBody) errors.add(413);
  if (route.path.startsWith('/v1/')) errors.add(429);
  for (const status of [...errors].sort()) responses[status] = errorRef;
  responses.default = errorRef;

  return {
    operationId: route.operationId,
    tags: [route.tag],
    summary: route.summary,
    ...(route.description ? { description: route.description } : {}),
    security: bearer === 'none' ? [] : bearer === 'bearer' ? [{ bearer: [] }] : [{ bearer: [] }, {}],
    ...(parameters.length ? { parameters } : {}),
    ...(requestBody ? { requestBody } : {}),
    responses,
  };
}

const account = parameter('account', 'path', { type: 'string', description: 'The account id (its channel file).' }, true);
const webhookErrors = {
  404: { description: 'No such channel or account.' },
  413: { description: 'The body exceeds http.bodyLimitBytes.' },
  503: errorRef,
};

/** `GET/POST /webhooks/<channel>/{account}` as the channel describes its platform's calls. */
function webhookPath(channel: OpenApiChannel): Json {
  const doc = channel.webhookDoc;
  const signature = (doc?.signature ?? []).map((p) => parameter(p.name, p.in, { type: 'string', description: p.description }, p.required ?? true));
  const tags = ['webhooks'];
  const item: Json = {
    post: {
      operationId: `${channel.id}Webhook`,
      tags,
      summary: doc?.summary ?? `Webhook of the ${channel.id} platform.`,
      description: 'Verified on the raw bytes, recorded durably, then answered; a redelivery yields one message.',
      security: [],
      parameters: [account, ...signature],
      requestBody: { required: true, content: { [doc?.contentType ?? 'application/json']: { schema: {} } } },
      responses: {
        200: { description: "Recorded; the body is what the platform expects (often empty or `{}`)." },
        400: { description: 'Authentic but unreadable body.' },
        401: { description: 'The signature does not verify.' },
        ...webhookErrors,
      },
    },
  };
  if (doc?.handshake) {
    item.get = {
      operationId: `${channel.id}WebhookHandshake`,
      tags,
      summary: doc.handshake.summary,
      security: [],
      parameters: [account, ...doc.handshake.query.map((p) => parameter(p.name, 'query', { type: 'string', description: p.description }, p.required ?? true))],
      responses: {
        200: { description: 'The challenge echoed back.', content: { 'text/plain': { schema: { type: 'string' } } } },
        403: { description: 'The verify token or signature is wrong.' },
        ...webhookErrors,
      },
    };
  }
  return item;
}

/** The whole document for these channels and this version; deterministic. */
export function openApiDocument(options: { channels: Iterable<OpenApiChannel>; version: string }): Json {
  const answers = answerComponents();
  const paths: Record<string, Json> = {};
  for (const route of ROUTES) {
    const path = openApiPath(route.path);
    paths[path] = { ...paths[path], [route.method]: operation(route, answers.refOf) };
  }
  for (const channel of [...options.channels].sort((a, b) => a.id.localeCompare(b.id))) {
    paths[openApiPath(WEBHOOK_ROUTE.path.replace(':channel', channel.id))] = webhookPath(channel);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'omnibus HTTP API',
      version: options.version,
      description: 'Webhooks of every channel, the /v1 API (the same operations as the NATS request/reply subjects), health and metrics. Generated by `npm run schemas`; see docs/api.md.',
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
    },
    tags: [...new Set([...ROUTES.map((r) => r.tag), 'webhooks'])].map((name) => ({ name })),
    paths,
    components: {
      schemas: answers.schemas,
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'An API token of `api.tokens` in omnibus.yaml.' } },
      responses: {
        error: {
          description: 'The request failed; `error.code` says why (docs/api.md, error codes).',
          content: { 'application/json': { schema: answers.refOf(httpErrorSchema) } },
        },
      },
    },
  };
}

/** The committed file's exact text: 2-space JSON and a final newline. */
export function openApiText(document: Json): string {
  return `${JSON.stringify(document, null, 2)}\n`;
}
