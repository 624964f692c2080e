/**
 * Import boundaries, proven by reading the sources: the core and the merge engine never
 * import a channel (one composition root wires them in), channels never import each other,
 * and every channel folder has the same standard files. The core imports neither the contacts
 * module (`src/merge`) nor the outbound engine (`src/outbound`), and its files import each other
 * without cycles.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
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

/** Modules above the core: it reaches them only through ports the composition root wires. */
const ABOVE_CORE = [join(SRC, 'merge'), join(SRC, 'outbound')];

const isInside = (path: string, dir: string) => path === dir || path.startsWith(dir + sep);

/** The files of this tree a file imports (relative specifiers only), as absolute paths. */
function localImports(file: string, source = readFileSync(file, 'utf8')): string[] {
  return importSpecifiers(source)
    .filter((specifier) => specifier.startsWith('.'))
    .map((specifier) => resolve(dirname(file), specifier));
}

/** Files of the core importing what `forbidden` says they may not, as readable lines. */
function layerOffenders(files: ReadonlyArray<string>, forbidden: (from: string, to: string) => boolean, read = (file: string) => readFileSync(file, 'utf8')): string[] {
  return files.flatMap((file) =>
    localImports(file, read(file))
      .filter((target) => forbidden(file, target))
      .map((target) => `${relative(ROOT, file)} imports ${relative(ROOT, target)}`),
  );
}

/** Core → merge or outbound (wherever the engine lives): never. */
const importsAboveCore = (_from: string, to: string) => ABOVE_CORE.some((dir) => isInside(to, dir));

/** Every import cycle among `files`, each as the files around it (depth-first, one per back edge). */
function importCycles(files: ReadonlyArray<string>, read = (file: string) => readFileSync(file, 'utf8')): string[][] {
  const known = new Set(files);
  const edges = new Map(files.map((file) => [file, localImports(file, read(file)).filter((target) => known.has(target))]));
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const cycles: string[][] = [];
  const visit = (file: string) => {
    state.set(file, 'open');
    stack.push(file);
    for (const next of edges.get(file) ?? []) {
      if (state.get(next) === 'open') cycles.push(stack.slice(stack.indexOf(next)).map((f) => relative(ROOT, f)));
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(file, 'done');
  };
  for (const file of files) if (!state.has(file)) visit(file);
  return cycles;
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

  for (const area of ['core', 'merge', 'outbound']) {
    it(`src/${area} never imports a channel`, () => {
      const offenders = sourceFiles(join(SRC, area)).flatMap((file) =>
        importSpecifiers(readFileSync(file, 'utf8'))
          .filter((specifier) => /(^|\/)channels(\/|$)/.test(specifier))
          .map((specifier) => `${relative(ROOT, file)} imports ${specifier}`),
      );
      expect(offenders).toEqual([]);
    });
  }

  const coreFiles = sourceFiles(join(SRC, 'core'));

  it('src/core imports neither src/merge nor the outbound engine', () => {
    expect(layerOffenders(coreFiles, importsAboveCore)).toEqual([]);
  });

  it('the outbound engine lives outside the core', () => {
    expect(existsSync(join(SRC, 'core', 'outbound'))).toBe(false);
    expect(existsSync(join(SRC, 'outbound', 'index.ts'))).toBe(true);
  });

  it('src/core has no import cycles', () => {
    expect(importCycles(coreFiles)).toEqual([]);
  });

  it('the layer rules and the cycle detector catch what they are meant to', () => {
    // Sources made up in memory: proves the checks above can fail, without a bad file on disk.
    const core = join(SRC, 'core');
    const sources = new Map([
      [join(core, 'inbound', 'a.ts'), "import { x } from '../../merge/auto-merge.ts';"],
      [join(core, 'b.ts'), "import { c } from './c.ts';"],
      [join(core, 'c.ts'), "import type { B } from './b.ts';"],
      [join(core, 'net', 'g.ts'), "import { h } from '../../outbound/jobs.ts';"],
    ]);
    const read = (file: string) => sources.get(file)!;
    const files = [...sources.keys()];
    expect(layerOffenders(files, importsAboveCore, read)).toEqual(['src/core/inbound/a.ts imports src/merge/auto-merge.ts', 'src/core/net/g.ts imports src/outbound/jobs.ts']);
    expect(importCycles(files, read)).toEqual([['src/core/b.ts', 'src/core/c.ts']]);
  });

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
