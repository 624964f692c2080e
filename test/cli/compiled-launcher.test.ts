/**
 * bin/omnibus.mjs runs JavaScript compiled from src/ into .omnibus-build/<stamp>/, compiled on
 * first use and again after any source changes; a source that does not compile falls back to
 * tsx with one line on stderr. Run against a copy of the checkout so the real cache is untouched.
 */
import { execFile } from 'node:child_process';
import { appendFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
let copy = '';

function run(file: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [path.join(copy, file), ...args], { cwd: copy, env: { ...process.env, OMNIBUS_CONFIG_DIR: '', ...env }, timeout: 120_000 }, (error, stdout, stderr) => {
      resolve({ code: child.exitCode ?? (error ? 1 : 0), stdout, stderr });
    });
  });
}

/** Complete build directories in the copy's cache. */
function builds(): string[] {
  const dir = path.join(copy, '.omnibus-build');
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((name) => existsSync(path.join(dir, name, '.complete')));
}

beforeAll(() => {
  copy = mkdtempSync(path.join(tmpdir(), 'omnibus-launcher-'));
  for (const part of ['src', 'bin', 'drizzle']) cpSync(path.join(REPO, part), path.join(copy, part), { recursive: true });
  for (const file of ['package.json', 'tsconfig.json']) cpSync(path.join(REPO, file), path.join(copy, file));
  symlinkSync(path.join(REPO, 'node_modules'), path.join(copy, 'node_modules'));
});
afterAll(() => {
  if (copy) rmSync(copy, { recursive: true, force: true });
});

describe('the compiled launcher', { timeout: 240_000 }, () => {
  it('compiles on first use, reuses the build, and compiles again when a source changes', async () => {
    expect(builds()).toEqual([]);
    const first = await run('bin/omnibus.mjs', ['--version']);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/^omnibus 0\.\d+\.\d+\b/);
    expect(builds()).toHaveLength(1);
    const [built] = builds();
    expect(existsSync(path.join(copy, '.omnibus-build', built!, 'src', 'cli.js'))).toBe(true);
    expect(existsSync(path.join(copy, '.omnibus-build', built!, 'src', 'cli.ts'))).toBe(false);

    await run('bin/omnibus.mjs', ['--version']);
    expect(builds()).toEqual([built]);

    // A new mtime alone (a fresh checkout) is the same build.
    const later = new Date(Date.now() + 5_000);
    utimesSync(path.join(copy, 'src', 'core', 'build-info.ts'), later, later);
    await run('bin/omnibus.mjs', ['--version']);
    expect(builds()).toEqual([built]);

    // An edited source is a new stamp; the old build stays for a daemon still running it.
    appendFileSync(path.join(copy, 'src', 'core', 'build-info.ts'), '// edited\n');
    const again = await run('bin/omnibus.mjs', ['--version']);
    expect(again.code).toBe(0);
    expect(builds()).toHaveLength(2);
    expect(builds()).toContain(built);
  });

  it('names a heap growing figure it cannot use and runs anyway on V8\'s own', async () => {
    const bad = await run('bin/omnibus.mjs', ['--version'], { OMNIBUS_HEAP_GROWING_PERCENT: '2.5x' });
    expect(bad.code).toBe(0);
    expect(bad.stdout).toMatch(/^omnibus 0\.\d+\.\d+\b/);
    expect(bad.stderr).toContain('OMNIBUS_HEAP_GROWING_PERCENT must be a whole number of percent');
    for (const good of ['0', '100']) {
      const ok = await run('bin/omnibus.mjs', ['--version'], { OMNIBUS_HEAP_GROWING_PERCENT: good });
      expect(ok.code).toBe(0);
      expect(ok.stderr).toBe('');
    }
  });

  it('a start holds its build; a compile removes only the builds nobody holds', async () => {
    const buildDir = (name: string) => path.join(copy, '.omnibus-build', name);
    const [current] = builds().sort((a, b) => statSync(buildDir(b)).mtimeMs - statSync(buildDir(a)).mtimeMs);
    const others = builds().filter((name) => name !== current);
    expect(others.length).toBeGreaterThan(0);
    const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
    for (const name of builds()) utimesSync(buildDir(name), twoHoursAgo, twoHoursAgo);
    // Starting from the current build marks it in use.
    await run('bin/omnibus.mjs', ['--version']);
    expect(Date.now() - statSync(buildDir(current!)).mtimeMs).toBeLessThan(60_000);
    // A compile of edited sources removes the idle builds and keeps the held one.
    appendFileSync(path.join(copy, 'src', 'core', 'ids.ts'), '// edited\n');
    const result = await run('bin/omnibus.mjs', ['--version']);
    expect(result.code).toBe(0);
    const after = builds();
    expect(after).toContain(current);
    for (const name of others) expect(after).not.toContain(name);
    expect(after).toHaveLength(2);
  });

  it('a source that does not compile falls back to tsx and says so once', async () => {
    // A module nothing imports: it breaks the compile but not the program run through tsx.
    writeFileSync(path.join(copy, 'src', 'broken-for-test.ts'), 'export const x = ;\n');
    const result = await run('bin/omnibus.mjs', ['--version']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^omnibus 0\.\d+\.\d+\b/);
    expect(result.stderr).toContain('compiling src/ failed, running the TypeScript through tsx instead');
    expect(result.stderr).toContain('broken-for-test.ts');
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    // No half-written build is left behind for the next start to trust.
    expect(readdirSync(path.join(copy, '.omnibus-build')).filter((name) => name.includes('.tmp-'))).toEqual([]);
    rmSync(path.join(copy, 'src', 'broken-for-test.ts'));
  });

  it('OMNIBUS_TSX=1 runs the sources through tsx without compiling', async () => {
    const before = builds();
    appendFileSync(path.join(copy, 'src', 'cli.ts'), '// edited\n');
    const result = await run('bin/omnibus.mjs', ['--version'], { OMNIBUS_TSX: '1' });
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^omnibus 0\.\d+\.\d+\b/);
    expect(builds()).toEqual(before);
  });

  it('without a build or a compiler (an install without TypeScript) it runs tsx and says why', async () => {
    rmSync(path.join(copy, '.omnibus-build'), { recursive: true, force: true });
    rmSync(path.join(copy, 'node_modules'));
    mkdirSync(path.join(copy, 'node_modules'));
    for (const name of readdirSync(path.join(REPO, 'node_modules'))) {
      if (name !== 'typescript') symlinkSync(path.join(REPO, 'node_modules', name), path.join(copy, 'node_modules', name));
    }
    const result = await run('bin/omnibus.mjs', ['--version']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^omnibus 0\.\d+\.\d+\b/);
    expect(result.stderr.trim()).toBe('omnibus: no build of these sources and no TypeScript compiler to make one, running the TypeScript through tsx instead');
    expect(builds()).toEqual([]);
  });
});
