import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { configSchemas, serializeSchema, writeConfigSchemas, type JsonSchema } from '../../src/core/config/json-schema.ts';
import { loadConfig } from '../../src/core/config/load.ts';
import { botChannel, channels, chatChannel } from './fake-channels.ts';
import { fixture, removeDir, tempConfigDir } from './helpers.ts';

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map(removeDir));
});

/**
 * Just enough draft-07 to check documents against the generated schemas (no validator is a
 * dependency): returns the paths that fail.
 */
function validate(root: JsonSchema, value: unknown, schema: JsonSchema = root, path = '$'): string[] {
  if (typeof schema.$ref === 'string') {
    const name = schema.$ref.replace('#/definitions/', '');
    return validate(root, value, (root.definitions as Record<string, JsonSchema>)[name] as JsonSchema, path);
  }
  const errors: string[] = [];
  const fail = (why: string): string[] => [`${path}: ${why}`];
  const types = schema.type === undefined ? null : ([] as unknown[]).concat(schema.type);
  if (types && !types.some((type) => matchesType(type as string, value))) return fail(`type ${String(types)}`);
  if (schema.enum && !(schema.enum as unknown[]).includes(value)) return fail('enum');
  if ('const' in schema && schema.const !== value) return fail('const');
  if (typeof value === 'string') {
    if (typeof schema.pattern === 'string' && !new RegExp(schema.pattern).test(value)) return fail('pattern');
    if (typeof schema.minLength === 'number' && value.length < schema.minLength) return fail('minLength');
  }
  if (typeof value === 'number') {
    if (typeof schema.minimum === 'number' && value < schema.minimum) return fail('minimum');
    if (typeof schema.maximum === 'number' && value > schema.maximum) return fail('maximum');
    if (typeof schema.exclusiveMinimum === 'number' && value <= schema.exclusiveMinimum) return fail('exclusiveMinimum');
  }
  if (Array.isArray(value)) {
    if (typeof schema.minItems === 'number' && value.length < schema.minItems) return fail('minItems');
    if (schema.items) value.forEach((item, i) => errors.push(...validate(root, item, schema.items as JsonSchema, `${path}[${i}]`)));
  }
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const record = value as Record<string, unknown>;
    const properties = (schema.properties ?? {}) as Record<string, JsonSchema>;
    for (const key of (schema.required as string[] | undefined) ?? []) if (!(key in record)) errors.push(`${path}.${key}: required`);
    for (const [key, item] of Object.entries(record)) {
      if (properties[key]) errors.push(...validate(root, item, properties[key], `${path}.${key}`));
      else if (schema.additionalProperties === false) errors.push(`${path}.${key}: additional`);
    }
  }
  if (Array.isArray(schema.anyOf) && !schema.anyOf.some((branch) => validate(root, value, branch, path).length === 0)) {
    errors.push(...fail('anyOf'));
  }
  for (const part of (schema.allOf as JsonSchema[] | undefined) ?? []) {
    if (part.if && part.then) {
      if (validate(root, value, part.if as JsonSchema, path).length === 0) errors.push(...validate(root, value, part.then as JsonSchema, path));
    } else {
      errors.push(...validate(root, value, part, path));
    }
  }
  return errors;
}

/** Distinct failures: a channel file is checked by the common properties and by its definition. */
function errorsOf(schema: JsonSchema, value: unknown): string[] {
  return [...new Set(validate(schema, value))];
}

function matchesType(type: string, value: unknown): boolean {
  if (type === 'integer') return Number.isInteger(value);
  if (type === 'null') return value === null;
  if (type === 'array') return Array.isArray(value);
  if (type === 'object') return value !== null && typeof value === 'object' && !Array.isArray(value);
  return typeof value === type;
}

async function readYaml(path: string): Promise<unknown> {
  return parse(await readFile(path, 'utf8'));
}

describe('configuration JSON Schemas', () => {
  it('are deterministic, whatever the order of the channel map', () => {
    const first = configSchemas(channels);
    const reversed = configSchemas(new Map([...channels].reverse()));
    expect(serializeSchema(first.daemon)).toBe(serializeSchema(configSchemas(channels).daemon));
    expect(serializeSchema(first.channel)).toBe(serializeSchema(reversed.channel));
    expect(serializeSchema(first.channel).endsWith('}\n')).toBe(true);
  });

  it('describe the daemon file: strict, with the loader defaults', async () => {
    const { daemon } = configSchemas(channels);
    const properties = daemon.properties as Record<string, JsonSchema>;
    expect(Object.keys(properties)).toEqual(['http', 'nats', 'database', 'dataDir', 'media', 'api', 'merge', 'log', 'sandbox', 'console']);
    expect(daemon.additionalProperties).toBe(false);
    expect(daemon.$schema).toBe('http://json-schema.org/draft-07/schema#');

    const loaded = (await loadConfig(await tempConfigDir().then((dir) => (dirs.push(dir), dir)), channels, {})).daemon;
    // Nested sections (nats.tls) default to {} in the schema: their fields carry the defaults.
    const compare = (fields: Record<string, JsonSchema>, values: Record<string, unknown>, where: string): void => {
      for (const [name, field] of Object.entries(fields)) {
        const value = values[name];
        if (field.properties && typeof value === 'object' && value !== null && !Array.isArray(value)) {
          compare(field.properties as Record<string, JsonSchema>, value as Record<string, unknown>, `${where}.${name}`);
        } else expect(field.default, `${where}.${name}`).toEqual(value);
      }
    };
    for (const section of ['http', 'nats', 'database', 'media', 'merge', 'log'] as const) {
      compare((properties[section] as JsonSchema).properties as Record<string, JsonSchema>, loaded[section] as Record<string, unknown>, section);
    }
    expect(properties.sandbox?.default).toBe(false);
    const port = (properties.http as JsonSchema).properties as Record<string, JsonSchema>;
    expect(String(port.port?.description)).toContain('${ENV_NAME}');
  });

  it('describe channel files: one closed definition per channel, chosen by `channel`', () => {
    const { channel } = configSchemas(channels);
    expect(channel.required).toEqual(['id', 'channel']);
    expect((channel.properties as Record<string, JsonSchema>).channel?.enum).toEqual(['bot', 'chat']);
    expect(channel.allOf).toEqual([
      { if: { properties: { channel: { const: 'bot' } }, required: ['channel'] }, then: { $ref: '#/definitions/bot' } },
      { if: { properties: { channel: { const: 'chat' } }, required: ['channel'] }, then: { $ref: '#/definitions/chat' } },
    ]);
    const definitions = channel.definitions as Record<string, JsonSchema>;
    const chat = definitions.chat as JsonSchema;
    expect(chat.additionalProperties).toBe(false);
    expect(chat.required).toEqual(['id', 'channel', 'token']);
    const chatProperties = chat.properties as Record<string, JsonSchema>;
    expect(Object.keys(chatProperties)).toEqual(['id', 'channel', 'enabled', 'apiBase', 'session', 'attachments', 'rateLimit', 'prices', 'token', 'mode']);
    expect(String(chatProperties.token?.description)).toMatch(/^Secret: .*\$\{ENV_NAME\}/);
    const session = (chatProperties.session as JsonSchema).properties as Record<string, JsonSchema>;
    expect(session.window?.default).toBe(chatChannel.defaults.window);
    const botSession = ((definitions.bot as JsonSchema).properties as Record<string, JsonSchema>).session as JsonSchema;
    expect((botSession.properties as Record<string, JsonSchema>).window?.default).toBe(botChannel.defaults.window);
  });

  it('accept the sample and fixture files and reject broken ones', async () => {
    const { daemon, channel } = configSchemas(channels);
    const sample = await readYaml(fileURLToPath(new URL('../../config/omnibus.yaml', import.meta.url)));
    expect(errorsOf(daemon, sample)).toEqual([]);
    expect(errorsOf(daemon, await readYaml(`${fixture('valid')}/omnibus.yaml`))).toEqual([]);
    expect(errorsOf(channel, await readYaml(`${fixture('valid')}/channels/acme-chat.yaml`))).toEqual([]);
    expect(errorsOf(channel, await readYaml(`${fixture('valid')}/channels/acme-bot.yml`))).toEqual([]);

    expect(errorsOf(daemon, { htpp: {} })).toEqual(['$.htpp: additional']);
    expect(errorsOf(daemon, { http: { port: 70000 } })).toEqual(['$.http.port: anyOf']);
    expect(errorsOf(channel, { id: 'a', channel: 'chat', token: 't', bogus: 1 })).toEqual(['$.bogus: additional']);
    expect(errorsOf(channel, { id: 'a', channel: 'chat' })).toEqual(['$.token: required']);
    expect(errorsOf(channel, { id: 'a', channel: 'chat', token: 't', session: { window: '25x' } })).toEqual(['$.session.window: anyOf']);
    expect(errorsOf(channel, { id: 'a', channel: 'fax' })).toEqual(['$.channel: enum']);
  });

  it('are written to disk exactly as serialised', async () => {
    const dir = await tempConfigDir();
    dirs.push(dir);
    const paths = await writeConfigSchemas(`${dir}/schema`, channels);
    expect(paths).toEqual([`${dir}/schema/omnibus.schema.json`, `${dir}/schema/channel.schema.json`]);
    const schemas = configSchemas(channels);
    expect(await readFile(paths[0] as string, 'utf8')).toBe(serializeSchema(schemas.daemon));
    expect(await readFile(paths[1] as string, 'utf8')).toBe(serializeSchema(schemas.channel));
  });
});
