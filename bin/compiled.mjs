// The daemon runs from JavaScript compiled from src/ rather than through tsx's loader, which
// keeps a thread of its own (about 30 MiB) for the life of the process. The compiled tree is
// a cache, never a build step to remember: it lives in .omnibus-build/<stamp>/, where the stamp
// is a hash of every file under src/, drizzle/, package.json, tsconfig.json and this file, so an
// edited source makes a new stamp and the next start compiles again (about 2 s, in a child
// process, so the compiler never stays in the daemon's memory). Type-stripping only: `npm run
// typecheck` does the checking. Without TypeScript installed (an installed package) or where
// the directory cannot be written, the launcher falls back to tsx, saying so on stderr. `npm
// pack` ships the build (prepack), so an installed package runs compiled without TypeScript.
//
//   node bin/compiled.mjs                 compile now (setup.mjs does this before `npm start` and `npm test`)
//   node bin/compiled.mjs --prune         and remove the builds no running process holds (prepack)
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SRC = join(ROOT, 'src');
// src/core/build-info.ts knows this name too: it finds the checkout (for the git commit) above it.
const BUILDS = join(ROOT, '.omnibus-build');
/** Written last: a build directory without it is not used. */
const DONE = '.complete';
/**
 * A daemon touches its build this often while it runs (holdBuild): it still loads files from
 * it later (the PGlite worker on a restart, console assets, lazy imports).
 */
const TOUCH_MS = 10 * 60_000;
/** A build not touched for this long belongs to no running process and may be removed. */
const IDLE_MS = 3 * TOUCH_MS;

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

/**
 * Marks the build `entry` belongs to as in use for as long as this process runs, so a compile
 * of newer sources by another start never removes it. Where the tree is read-only (an
 * installed package) nothing prunes it either, and the touch is skipped.
 */
export function holdBuild(entry) {
  const dir = dirname(dirname(entry));
  const touch = () => {
    try {
      const now = new Date();
      utimesSync(dir, now, now);
    } catch {
      // Read-only or already gone: nothing to keep alive.
    }
  };
  touch();
  setInterval(touch, TOUCH_MS).unref();
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
  if (!hasCompiler()) {
    process.stderr.write('omnibus: no build of these sources and no TypeScript compiler to make one, running the TypeScript through tsx instead\n');
    return null;
  }
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
  pruneIdleBuilds(stamp);
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

/** Removes the builds (and dead staging directories) other than `current` that no process holds. */
function pruneIdleBuilds(current) {
  for (const name of readdirSync(BUILDS)) {
    if (name === current || name.startsWith(`${current}.tmp-`)) continue;
    const dir = join(BUILDS, name);
    try {
      if (Date.now() - statSync(dir).mtimeMs > IDLE_MS) rmSync(dir, { recursive: true, force: true });
    } catch {
      // Removed by another start meanwhile.
    }
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    mkdirSync(BUILDS, { recursive: true });
    const entry = await compile();
    // Before `npm pack`: prune even when nothing was compiled, so the package ships the build
    // of its own sources and none of a checkout's idle ones.
    if (process.argv.includes('--prune')) pruneIdleBuilds(relative(BUILDS, dirname(dirname(entry))));
  } catch (error) {
    // One line: the launcher passes it on as the reason it falls back to tsx.
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  }
}
