/**
 * docs/openapi.json: the OpenAPI document for the built-in channels at the package's version,
 * written by `npm run schemas` and compared by test/schemas/openapi.test.ts.
 */
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { openApiDocument, openApiText, type OpenApiChannel } from './openapi.ts';

/** `version` of package.json (what `omnibus --version` says). */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

/** The committed file's text for these channels. */
export function openApiFileText(channels: Iterable<OpenApiChannel>): string {
  return openApiText(openApiDocument({ channels, version: packageVersion() }));
}

/** Writes the document; returns the path written. */
export async function writeOpenApi(target: string, channels: Iterable<OpenApiChannel>): Promise<string> {
  await writeFile(target, openApiFileText(channels));
  return target;
}
