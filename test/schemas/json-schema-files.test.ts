import { readFile, readdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { SCHEMA_BASE_URL, eventJsonSchemas, schemaFileText } from '../../src/core/schemas/write.ts';
import { openApiFileText } from '../../src/core/http/openapi-file.ts';
import { channels } from '../../src/channels/index.ts';

const schemasDir = fileURLToPath(new URL('../../schemas/', import.meta.url));
const stale = 'is out of date: run `npm run schemas` and commit the result';

async function committedFiles(): Promise<string[]> {
  const entries = await readdir(schemasDir, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile() && entry.name.endsWith('.json'))
    .map((entry) => `${entry.parentPath}/${entry.name}`.slice(schemasDir.length).replace(/^\/+/, ''))
    .sort();
}

describe('schemas/', () => {
  const generated = eventJsonSchemas();

  it('holds the files of the contract', () => {
    for (const name of ['omni.message.v1.json', 'omni.status.v1.json', 'omni.session.v1.json', 'omni.contact.v1.json', 'omni.send.v1.json']) {
      expect(Object.keys(generated)).toContain(name);
    }
    expect(Object.keys(generated).filter((path) => path.startsWith('api/')).length).toBeGreaterThan(0);
  });

  it('equals what the zod schemas generate', async () => {
    for (const [path, schema] of Object.entries(generated)) {
      const text = await readFile(`${schemasDir}${path}`, 'utf8').catch(() => '(missing)');
      expect(text, `schemas/${path} ${stale}`).toBe(schemaFileText(schema));
    }
  });

  it('is joined by docs/openapi.json, equal to what the route table and the same schemas generate', async () => {
    const text = await readFile(new URL('../../docs/openapi.json', import.meta.url), 'utf8').catch(() => '(missing)');
    expect(text, `docs/openapi.json ${stale}`).toBe(openApiFileText(channels.values()));
  });

  it('holds no file the generator does not write', async () => {
    for (const path of await committedFiles()) {
      expect(Object.keys(generated), `schemas/${path} is not generated any more: delete it, then run \`npm run schemas\``).toContain(path);
    }
  });

  it('gives every file its $id, title and description, deterministically', () => {
    for (const [path, schema] of Object.entries(generated) as Array<[string, Record<string, unknown>]>) {
      expect(schema.$id).toBe(`${SCHEMA_BASE_URL}${path}`);
      expect(schema.title).toEqual(expect.any(String));
      expect(schema.description).toEqual(expect.any(String));
    }
    expect(JSON.stringify(eventJsonSchemas())).toBe(JSON.stringify(generated));
  });

  it('spells out the send rules zod checks in code', () => {
    const send = generated['omni.send.v1.json'] as Record<string, unknown>;
    expect(send.required).toEqual(['idempotencyKey', 'to']);
    expect(send.oneOf).toEqual([{ required: ['parts'] }, { required: ['template'] }]);
    expect(send.then).toEqual({ required: ['account'] });
    expect(send.additionalProperties).toBe(false);
    // Events stay open: v1 may add fields.
    expect(generated['omni.message.v1.json']).not.toHaveProperty('additionalProperties');
  });
});
