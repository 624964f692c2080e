/**
 * Import boundaries, proven by reading the sources: the core and the merge engine never
 * import a channel (one composition root wires them in), channels never import each other,
 * and every channel folder has the same standard files.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SRC = join(ROOT, 'src');

/** Files every channel folder has (STYLE.md rule 1). */
const REQUIRED_CHANNEL_FILES = ['index.ts', 'config.ts', 'verify.ts', 'inbound.ts', 'outbound.ts', 'client.ts', 'media.ts', 'sandbox.ts', 'README.md'];
/**
 * Standard files some channels do not have yet (outbound and sandbox land in later issues).
 * Not checked; move a name to REQUIRED_CHANNEL_FILES once every channel has it.
 */
const PENDING_CHANNEL_FILES: string[] = [];

function sourceFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return /\.(ts|mts|js|mjs)$/.test(entry.name) ? [path] : [];
  });
}

/** Every module specifier a file imports, re-exports, dynamically imports or requires. */
function importSpecifiers(source: string): string[] {
  const patterns = [
    /\b(?:import|export)\s+(?:type\s+)?[^'"]*?\sfrom\s*['"]([^'"]+)['"]/g,
    /\bimport\s*['"]([^'"]+)['"]/g,
    /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
    /\brequire\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  return patterns.flatMap((pattern) => [...source.matchAll(pattern)].map((match) => match[1]!));
}

const channelFolders = readdirSync(join(SRC, 'channels'), { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map((entry) => entry.name);

describe('architecture', () => {
  it('finds imports in every syntax it checks', () => {
    const sample = [
      "import { a } from '../channels/x/index.ts';",
      "import type { B } from './b.ts';",
      "export * from '../channels/y.ts';",
      "import '../channels/z/side-effect.ts';",
      "const m = await import('../channels/w/index.ts');",
    ].join('\n');
    expect(importSpecifiers(sample)).toEqual(expect.arrayContaining(['../channels/x/index.ts', './b.ts', '../channels/y.ts', '../channels/z/side-effect.ts', '../channels/w/index.ts']));
  });

  for (const area of ['core', 'merge']) {
    it(`src/${area} never imports a channel`, () => {
      const offenders = sourceFiles(join(SRC, area)).flatMap((file) =>
        importSpecifiers(readFileSync(file, 'utf8'))
          .filter((specifier) => /(^|\/)channels(\/|$)/.test(specifier))
          .map((specifier) => `${relative(ROOT, file)} imports ${specifier}`),
      );
      expect(offenders).toEqual([]);
    });
  }

  it('lists each standard file once', () => {
    expect(REQUIRED_CHANNEL_FILES.filter((name) => PENDING_CHANNEL_FILES.includes(name))).toEqual([]);
  });

  for (const channel of channelFolders) {
    it(`src/channels/${channel} imports no other channel`, () => {
      const offenders = sourceFiles(join(SRC, 'channels', channel)).flatMap((file) =>
        importSpecifiers(readFileSync(file, 'utf8'))
          .filter((specifier) => {
            const other = /(?:^|\/)channels\/([^/]+)/.exec(specifier)?.[1] ?? (/^\.\.\/([^/.][^/]*)\//.exec(specifier)?.[1]);
            return other !== undefined && other !== channel && channelFolders.includes(other);
          })
          .map((specifier) => `${relative(ROOT, file)} imports ${specifier}`),
      );
      expect(offenders).toEqual([]);
    });

    it(`src/channels/${channel} has the standard files`, () => {
      const missing = REQUIRED_CHANNEL_FILES.filter((name) => !existsSync(join(SRC, 'channels', channel, name)));
      expect(missing).toEqual([]);
    });
  }
});
