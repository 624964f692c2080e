/**
 * The sandbox kit's place in the layers, proven by reading the sources: it may import the core,
 * never a channel or the merge engine; the core never imports it (fakes are wired in through
 * `ChannelDefinition.sandbox`).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? sources(path) : /\.ts$/.test(entry.name) ? [path] : [];
  });
}

function imports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/\b(?:import|export)\s+(?:type\s+)?[^'"]*?\sfrom\s*['"]([^'"]+)['"]|\bimport\s*\(?\s*['"]([^'"]+)['"]/g)].map((match) => match[1] ?? match[2]!);
}

describe('sandbox kit layering', () => {
  it('src/sandbox imports only itself, the core and packages', () => {
    const files = sources(join(ROOT, 'src/sandbox'));
    expect(files.length).toBeGreaterThan(5);
    const offenders = files.flatMap((file) =>
      imports(file).filter((spec) => spec.startsWith('.') && !/^\.\/|^\.\.\/core\//.test(spec)).map((spec) => `${relative(ROOT, file)} imports ${spec}`),
    );
    expect(offenders).toEqual([]);
  });

  it('src/core never imports src/sandbox', () => {
    const offenders = sources(join(ROOT, 'src/core')).flatMap((file) =>
      imports(file).filter((spec) => /(^|\/)sandbox\//.test(spec)).map((spec) => `${relative(ROOT, file)} imports ${spec}`),
    );
    expect(offenders).toEqual([]);
  });
});
