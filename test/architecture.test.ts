/**
 * Import boundaries, proven by reading the sources: the core and the merge engine never
 * import a channel (one composition root wires them in), channels never import each other,
 * and every channel folder has the same standard files. The core imports neither the contacts
 * module (`src/merge`) nor the outbound engine (`src/outbound`), and its files import each other
 * without cycles. No channel id is written in core or merge code: what differs per channel is
 * declared by the adapter as data.
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

/**
 * The string literals of a source (quotes, apostrophes, template text), comments skipped. A
 * light scanner: enough for this tree's sources, which hold no quote inside a regex literal.
 */
function stringLiterals(source: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < source.length) {
    const ch = source[i]!;
    if (ch === '/' && source[i + 1] === '/') i = source.indexOf('\n', i) === -1 ? source.length : source.indexOf('\n', i);
    else if (ch === '/' && source[i + 1] === '*') i = source.indexOf('*/', i + 2) === -1 ? source.length : source.indexOf('*/', i + 2) + 2;
    else if (ch === "'" || ch === '"' || ch === '`') {
      let j = i + 1;
      let text = '';
      while (j < source.length && source[j] !== ch) {
        if (source[j] === '\\') j += 1;
        text += source[j] ?? '';
        j += 1;
      }
      out.push(text);
      i = j + 1;
    } else i += 1;
  }
  return out;
}

/**
 * Literals naming a channel: the id itself, or the id starting a key (`wechat_unionid`,
 * `telegram:bot`). Prose that mentions a platform (`'Reply buttons (WhatsApp ...'`) is not code.
 */
function channelLiterals(file: string, source: string, channels: ReadonlyArray<string>): string[] {
  return stringLiterals(source)
    .filter((text) => channels.some((id) => text === id || (text.startsWith(id) && /^[_:./-]/.test(text.slice(id.length)))))
    .map((text) => `${relative(ROOT, file)}: '${text}'`);
}

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

  it('no channel id appears as a literal in src/core or src/merge code (evidence namespaces come from the adapters)', () => {
    const offenders = ['core', 'merge'].flatMap((area) =>
      sourceFiles(join(SRC, area)).flatMap((file) => channelLiterals(file, readFileSync(file, 'utf8'), channelFolders)),
    );
    expect(channelFolders.length).toBeGreaterThanOrEqual(4);
    expect(offenders).toEqual([]);
  });

  it('the channel-literal rule catches ids and id-led keys, not comments or prose', () => {
    const file = join(SRC, 'merge', 'x.ts');
    const source = [
      "if (key.type === 'wechat_unionid') {}",
      'const a = "telegram";',
      'const b = `line:${id}`;',
      "// a comment may say 'whatsapp'",
      '/* or wechat_unionid */',
      "describe('Reply buttons (WhatsApp interactive buttons)');",
      "const c = 'lineup', d = 'headers[\"x-line-signature\"]';",
      "const e = 'it\\'s whatsapp';",
    ].join('\n');
    expect(channelLiterals(file, source, ['whatsapp', 'telegram', 'line', 'wechat'])).toEqual([
      "src/merge/x.ts: 'wechat_unionid'",
      "src/merge/x.ts: 'telegram'",
      "src/merge/x.ts: 'line:${id}'",
    ]);
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
