/**
 * JSON Schemas of both configuration file kinds, for editors (`config/schema/`). Generated from
 * the same zod schemas the loader uses, so they cannot drift; a test compares the committed
 * files with a fresh generation.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { ChannelDefinition } from '../adapter.ts';
import { commonSchema, NEUTRAL_DEFAULTS } from './channel-schema.ts';
import { daemonSchemaFor } from './daemon-schema.ts';
import { ENV_REFERENCE_PATTERN } from './env.ts';
import { envCoercible, jsonHints } from './fields.ts';

/** A JSON Schema document or fragment. */
export type JsonSchema = { [key: string]: unknown };

const DRAFT_07 = 'http://json-schema.org/draft-07/schema#';
const ENV_NOTE = 'Accepts ${ENV_NAME} or ${ENV_NAME:-default}, replaced from the environment when the file is loaded.';
const SECRET_NOTE = 'Secret: write it as ${ENV_NAME} so the value never lands in the file.';
const envString = (): JsonSchema => ({ type: 'string', pattern: ENV_REFERENCE_PATTERN });
const DOCS = 'See docs/configuration.md.';
/** Common fields whose default comes from the channel definition. */
const CHANNEL_DEFAULTED: ReadonlyArray<readonly [string, string]> = [
  ['session', 'window'],
  ['attachments', 'allow'],
  ['rateLimit', 'perSecond'],
  ['rateLimit', 'perRecipientPerSecond'],
  ['rateLimit', 'perGroupPerMinute'],
];

/** Both schemas as objects: `daemon` for omnibus.yaml, `channel` for channels/*.yaml. */
export function configSchemas(channels: ReadonlyMap<string, ChannelDefinition>): { daemon: JsonSchema; channel: JsonSchema } {
  const daemon: JsonSchema = {
    ...toJson(daemonSchemaFor(channels.values()), new Set(), true),
    $schema: DRAFT_07,
    title: 'omnibus daemon configuration (config/omnibus.yaml)',
    description: `Daemon settings; every key is optional. ${DOCS}`,
  };
  return { daemon: canonical(daemon) as JsonSchema, channel: canonical(channelSchema(channels)) as JsonSchema };
}

/** The text written for a schema: 2-space JSON and a final newline. */
export function serializeSchema(schema: JsonSchema): string {
  return `${JSON.stringify(schema, null, 2)}\n`;
}

/** Writes `omnibus.schema.json` and `channel.schema.json` into `outDir`; returns their paths. */
export async function writeConfigSchemas(outDir: string, channels: ReadonlyMap<string, ChannelDefinition>): Promise<string[]> {
  const schemas = configSchemas(channels);
  await mkdir(outDir, { recursive: true });
  const daemonPath = join(outDir, 'omnibus.schema.json');
  const channelPath = join(outDir, 'channel.schema.json');
  await writeFile(daemonPath, serializeSchema(schemas.daemon));
  await writeFile(channelPath, serializeSchema(schemas.channel));
  return [daemonPath, channelPath];
}

/**
 * Common fields at the top (for completion before `channel` is typed), then per channel an
 * `if channel == X then $ref X` whose definition is the complete, closed file of that channel.
 */
function channelSchema(channels: ReadonlyMap<string, ChannelDefinition>): JsonSchema {
  const ids = [...channels.keys()].sort();
  const neutral = toJson(commonSchema(NEUTRAL_DEFAULTS), new Set(), true);
  const properties = { ...(neutral.properties as Record<string, JsonSchema>) };
  properties.channel = { ...properties.channel, enum: ids, type: 'string' };
  // These defaults are the channel's; shown in each channel's definition instead.
  for (const [section, name] of CHANNEL_DEFAULTED) {
    const field = (properties[section]?.properties as Record<string, JsonSchema> | undefined)?.[name];
    if (!field) continue;
    delete field.default;
    field.description = `${String(field.description ?? '')} Default depends on the channel.`.trim();
  }
  const definitions: Record<string, JsonSchema> = {};
  for (const id of ids) Object.assign(definitions, accountDefinitions(id, channels.get(id) as ChannelDefinition));
  return {
    $schema: DRAFT_07,
    title: 'omnibus channel file (config/channels/*.yaml)',
    description: `One account: the common fields plus the fields of its channel. ${DOCS}`,
    type: 'object',
    required: ['id', 'channel'],
    properties,
    allOf: ids.map((id) => ({
      if: { properties: { channel: { const: id } }, required: ['channel'] },
      then: { $ref: `#/definitions/${id}` },
    })),
    definitions,
  };
}

/** The closed schema of one channel's file, plus any definitions its settings schema needed. */
function accountDefinitions(id: string, definition: ChannelDefinition): Record<string, JsonSchema> {
  const common = toJson(commonSchema(definition.defaults), new Set(), true);
  const settings = toJson(definition.settingsSchema, new Set(definition.secretFields), false);
  const hoisted = hoistDefinitions(settings, id);
  const commonProperties = { ...(common.properties as Record<string, JsonSchema>), channel: { const: id } };
  const plainObject =
    settings.type === 'object' && settings.properties !== undefined && !('allOf' in settings || 'anyOf' in settings || 'oneOf' in settings);
  const account: JsonSchema = plainObject
    ? {
        type: 'object',
        properties: { ...commonProperties, ...(settings.properties as Record<string, JsonSchema>) },
        required: [...new Set([...((common.required as string[]) ?? []), ...((settings.required as string[]) ?? [])])],
        additionalProperties: false,
      }
    : { allOf: [{ type: 'object', properties: commonProperties, required: common.required }, settings] };
  account.description = `A ${id} account.`;
  return { [id]: account, ...hoisted };
}

/** Moves a settings schema's own `definitions` to the document's, renaming refs to match. */
function hoistDefinitions(schema: JsonSchema, id: string): Record<string, JsonSchema> {
  const own = (schema.definitions ?? {}) as Record<string, JsonSchema>;
  delete schema.definitions;
  const rename = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(rename);
    if (node === null || typeof node !== 'object') return;
    const record = node as JsonSchema;
    if (typeof record.$ref === 'string') {
      record.$ref = record.$ref === '#' ? `#/definitions/${id}` : record.$ref.replace('#/definitions/', `#/definitions/${id}.`);
    }
    Object.values(record).forEach(rename);
  };
  rename(schema);
  rename(own);
  return Object.fromEntries(Object.entries(own).map(([name, value]) => [`${id}.${name}`, value]));
}

/**
 * zod → JSON Schema (draft-07, input side: defaults shown, defaulted fields optional), decorated.
 * `ownSchema`: the daemon's and the common fields, whose defaults are known to be input values.
 */
function toJson(schema: z.ZodType, secretFields: ReadonlySet<string>, ownSchema: boolean): JsonSchema {
  const json = z.toJSONSchema(schema, {
    target: 'draft-07',
    io: 'input',
    unrepresentable: 'any',
    override: ({ zodSchema, jsonSchema }) => {
      const target = jsonSchema as JsonSchema;
      const def = zodSchema._zod.def as { type: string; innerType?: z.ZodType; defaultValue?: unknown };
      Object.assign(target, jsonHints.get(zodSchema));
      if (envCoercible.has(zodSchema) && !Array.isArray(target.anyOf)) {
        const original = { ...target };
        for (const key of Object.keys(target)) delete target[key];
        target.anyOf = [original, envString()];
      }
      // zod drops defaults above any transform; ours are all written in input form, so restore them.
      if (ownSchema && def.type === 'default') target.default = def.defaultValue;
    },
  }) as JsonSchema;
  delete json.$schema;
  decorate(json, secretFields, true);
  return json;
}

/** Lets constrained strings also be a `${ENV}` reference, and notes it on every string field. */
function decorate(node: unknown, secretFields: ReadonlySet<string>, atRoot: boolean): void {
  if (node === null || typeof node !== 'object') return;
  if (Array.isArray(node)) return node.forEach((item) => decorate(item, secretFields, false));
  const schema = node as JsonSchema;
  const properties = schema.properties as Record<string, JsonSchema> | undefined;
  for (const [name, property] of Object.entries(properties ?? {})) {
    decorate(property, secretFields, false);
    if (!acceptsString(property)) continue;
    const notes = [atRoot && secretFields.has(name) ? SECRET_NOTE : null, ENV_NOTE].filter((note) => note !== null);
    property.description = [property.description, ...notes].filter((text) => typeof text === 'string' && text !== '').join(' ');
  }
  for (const key of ['items', 'additionalProperties', 'anyOf', 'oneOf', 'allOf', 'definitions', 'then', 'else']) {
    const child = schema[key];
    if (key === 'definitions' && child) Object.values(child as object).forEach((value) => decorate(value, secretFields, false));
    else decorate(child, secretFields, false);
  }
  flattenAnyOf(schema);
  const constrained = ['pattern', 'format', 'minLength', 'maxLength', 'enum'].some((key) => key in schema);
  if (schema.type === 'string' && constrained && schema.pattern !== ENV_REFERENCE_PATTERN) {
    const { description, default: fallback, ...rest } = schema;
    for (const key of Object.keys(schema)) delete schema[key];
    Object.assign(schema, description === undefined ? {} : { description }, fallback === undefined ? {} : { default: fallback });
    schema.anyOf = [rest, envString()];
  }
}

/** `anyOf: [{ anyOf: [a, b] }, c]` (a nullable env-coercible field) reads better as `[a, b, c]`. */
function flattenAnyOf(schema: JsonSchema): void {
  if (!Array.isArray(schema.anyOf)) return;
  schema.anyOf = schema.anyOf.flatMap((branch: JsonSchema) =>
    Object.keys(branch).length === 1 && Array.isArray(branch.anyOf) ? branch.anyOf : [branch],
  );
}

function acceptsString(schema: JsonSchema): boolean {
  if (schema.type === 'string' || (Array.isArray(schema.type) && schema.type.includes('string'))) return true;
  return Array.isArray(schema.anyOf) && schema.anyOf.some((branch) => acceptsString(branch as JsonSchema));
}

/** Stable key order: schema keywords sorted; `properties` and `definitions` keep schema order. */
function canonical(node: unknown, keepOrder = false): unknown {
  if (Array.isArray(node)) return node.map((item) => canonical(item));
  if (node === null || typeof node !== 'object') return node;
  const keys = Object.keys(node);
  if (!keepOrder) keys.sort();
  const out: JsonSchema = {};
  for (const key of keys) {
    const value = (node as JsonSchema)[key];
    out[key] = canonical(value, !keepOrder && (key === 'properties' || key === 'definitions'));
  }
  return out;
}
