/** `npm pack` ships what `omnibus start` needs and none of the tests. */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const REPO = fileURLToPath(new URL('../..', import.meta.url));

describe('npm pack', () => {
  it('lists bin, src, drizzle, config, docs and packaging, and no test files', { timeout: 120_000 }, () => {
    const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: REPO, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const files = (JSON.parse(out) as Array<{ files: Array<{ path: string }> }>)[0]!.files.map((f) => f.path);
    for (const needed of ['bin/omnibus.mjs', 'src/cli.ts', 'src/core/daemon.ts', 'drizzle/0000_init.sql', 'drizzle/meta/_journal.json', 'config/omnibus.yaml', 'docs/operations.md', 'packaging/omnibus.service', 'CHANGELOG.md', 'package.json']) {
      expect(files).toContain(needed);
    }
    // The JavaScript compiled from src/ (prepack), so an install without TypeScript runs it.
    expect(files.some((f) => /^\.omnibus-build\/[0-9a-f]{16}\/src\/cli\.js$/.test(f))).toBe(true);
    expect(files.filter((f) => f.startsWith('test/') || f.startsWith('bench/') || f.startsWith('node_modules/'))).toEqual([]);
  });
});
