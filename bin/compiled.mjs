// The daemon runs from JavaScript compiled from src/ rather than through tsx's loader, which
// keeps a thread of its own (about 30 MiB) for the life of the process. The compiled tree is
// a cache, never a build step to remember: it lives in .omnibus-build/<stamp>/, where the stamp
// is a hash of every file under src/, drizzle/, package.json, tsconfig.json and this file, so an
// edited source makes a new stamp and the next start compiles again (about 2 s, in a child
// process, so the compiler never stays in the daemon's memory). Type-stripping only: `npm run
// typecheck` does the checking. Without TypeScript installed (an installed package) or where
// the directory cannot be written, the launcher falls back to tsx. `npm pack` ships the build
// (prepack), so an installed package runs compiled without TypeScript.
//
//   node bin/compiled.mjs                 compile now (setup.mjs does this before `npm start` and `npm test`)
//   node bin/compiled.mjs --prune-others  and remove every other build (prepack)
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SRC = join(ROOT, 'src');
const BUILDS = join(ROOT, '.omnibus-build');
/** Written last: a build directory without it is not used. */
const DONE = '.complete';
/** Older builds are removed after this long (a running daemon may still load files from one). */
const KEEP_MS = 24 * 3600_000;

/** Every file under src/, sorted, relative to the root. */
function sourceFiles() {
  return readdirSync(SRC, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(ROOT, join(entry.parentPath ?? entry.path, entry.name)))
    .sort();
}

/** Copied beside the compiled src/ because the sources read them relative to themselves. */
const BESIDE = ['package.json', 'drizzle'];

/** The files a build is made of: everything under src/ plus what is copied beside it. */
function inputsOf(files) {
  const drizzle = readdirSync(join(ROOT, 'drizzle'), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(ROOT, join(entry.parentPath ?? entry.path, entry.name)))
    .sort();
  return [...files, ...drizzle, 'package.json', 'tsconfig.json', 'bin/compiled.mjs'];
}

/**
 * The hash naming the build of the sources as they are now: of their contents, so a fresh
 * checkout or an unpacked package finds the build made from the same sources.
 */
function stampOf(files) {
  const hash = createHash('sha256');
  for (const file of inputsOf(files)) {
    const content = readFileSync(join(ROOT, file));
    hash.update(`${file}\u0000${content.length}\u0000`).update(content);
  }
  return hash.digest('hex').slice(0, 16);
}

/** The compiled `src/cli.js` of the current sources, or null when there is none yet. */
export function compiledEntry() {
  try {
    const dir = join(BUILDS, stampOf(sourceFiles()));
    return existsSync(join(dir, DONE)) ? join(dir, 'src', 'cli.js') : null;
  } catch {
    return null;
  }
}

/** True when the TypeScript compiler can be loaded from here (not in an installed package). */
function hasCompiler() {
  try {
    createRequire(join(ROOT, 'package.json')).resolve('typescript');
    return true;
  } catch {
    return false;
  }
}

/**
 * Compiles in a child process and returns the entry, or null (no compiler, a read-only
 * directory, a syntax error): the caller runs the sources through tsx instead.
 */
export function compileInChild() {
  if (!hasCompiler()) return null;
  const result = spawnSync(process.execPath, [fileURLToPath(import.meta.url)], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8', timeout: 120_000 });
  if (result.status !== 0) {
    const reason = (result.stderr || result.error?.message || `exit ${result.status}`).trim().split('\n').slice(-1)[0];
    process.stderr.write(`omnibus: compiling src/ failed, running the TypeScript through tsx instead (${reason})\n`);
    return null;
  }
  return compiledEntry();
}

/** Compiles src/ into a new build directory and renames it into place; returns its entry. */
async function compile() {
  const files = sourceFiles();
  const stamp = stampOf(files);
  const target = join(BUILDS, stamp);
  if (existsSync(join(target, DONE))) return join(target, 'src', 'cli.js');
  const { default: ts } = await import('typescript');
  const staging = join(BUILDS, `${stamp}.tmp-${process.pid}`);
  rmSync(staging, { recursive: true, force: true });
  const { config } = ts.readConfigFile(join(ROOT, 'tsconfig.json'), ts.sys.readFile);
  // The project's settings, emitting ES modules file by file; `./x.ts` imports become `./x.js`.
  const { noEmit, allowImportingTsExtensions, moduleResolution, resolveJsonModule, ...kept } = config.compilerOptions;
  const { options } = ts.convertCompilerOptionsFromJson({ ...kept, module: 'ESNext', rewriteRelativeImportExtensions: true, sourceMap: false, declaration: false }, ROOT);
  try {
    emit(ts, options, files, staging);
  } catch (error) {
    rmSync(staging, { recursive: true, force: true });
    throw error;
  }
  try {
    renameSync(staging, target);
  } catch (error) {
    // Another start compiled the same sources meanwhile: theirs is as good as ours.
    rmSync(staging, { recursive: true, force: true });
    if (!existsSync(join(target, DONE))) throw error;
  }
  pruneOldBuilds(stamp, KEEP_MS);
  return join(target, 'src', 'cli.js');
}

/** Writes the compiled tree into `staging`, marked complete last. */
function emit(ts, options, files, staging) {
  for (const file of files) {
    const out = join(staging, file);
    mkdirSync(dirname(out), { recursive: true });
    if (!file.endsWith('.ts')) {
      copyFileSync(join(ROOT, file), out);
      continue;
    }
    const source = readFileSync(join(ROOT, file), 'utf8');
    const result = ts.transpileModule(source, { compilerOptions: options, fileName: file, reportDiagnostics: true });
    const errors = (result.diagnostics ?? []).filter((d) => d.category === ts.DiagnosticCategory.Error);
    if (errors.length > 0) throw new Error(`${file}: ${ts.flattenDiagnosticMessageText(errors[0].messageText, ' ')}`);
    writeFileSync(out.replace(/\.ts$/, '.js'), result.outputText);
  }
  // What the sources read relative to themselves outside src/ (package.json also makes the
  // tree an ES module package, as the root is). Copies, not links: `npm pack` drops links.
  for (const name of BESIDE) cpSync(join(ROOT, name), join(staging, name), { recursive: true });
  writeFileSync(join(staging, DONE), `${new Date().toISOString()}\n`);
}

/** Removes builds other than `current` not touched for `keepMs` (0: all of them). */
function pruneOldBuilds(current, keepMs) {
  for (const name of readdirSync(BUILDS)) {
    if (name === current) continue;
    const dir = join(BUILDS, name);
    try {
      // A staging directory that old belongs to a compile that died.
      const keep = name.includes('.tmp-') ? Math.min(600_000, keepMs) : keepMs;
      if (Date.now() - statSync(dir).mtimeMs > keep) rmSync(dir, { recursive: true, force: true });
    } catch {
      // Removed by another start meanwhile.
    }
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    mkdirSync(BUILDS, { recursive: true });
    const entry = await compile();
    // Before `npm pack`: the package ships the one build of its own sources.
    if (process.argv.includes('--prune-others')) pruneOldBuilds(relative(BUILDS, dirname(dirname(entry))), 0);
  } catch (error) {
    // One line: the launcher passes it on as the reason it falls back to tsx.
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  }
}
