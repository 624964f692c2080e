/**
 * The version (package.json) and the git commit of this checkout, for `omnibus --version` and
 * the `omnibus_build_info` gauge. An installed package has no git checkout: `OMNIBUS_COMMIT`
 * (set by whoever built the image) is used instead, else `unknown`.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** What was built. */
export interface BuildInfo {
  version: string;
  commit: string;
}

/** The package's root; run from the compiled tree (`<root>/.omnibus-build/<hash>/`), the checkout's. */
const ROOT = ((here: string) => (path.basename(path.dirname(here)) === '.omnibus-build' ? path.dirname(path.dirname(here)) : here))(
  path.resolve(fileURLToPath(new URL('../..', import.meta.url))),
);
let cached: BuildInfo | null = null;

/** Read once per process: git is asked at most once. */
export function buildInfo(): BuildInfo {
  cached ??= { version: readVersion(), commit: process.env.OMNIBUS_COMMIT?.trim() || readCommit() || 'unknown' };
  return cached;
}

function readVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

function readCommit(): string | null {
  try {
    const git = (args: string[]) => execFileSync('git', args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'], timeout: 2_000, encoding: 'utf8' }).trim();
    // Installed inside someone else's repository, git would answer with that repository's commit.
    if (realpathSync(git(['rev-parse', '--show-toplevel'])) !== realpathSync(ROOT)) return null;
    return git(['rev-parse', '--short=12', 'HEAD']);
  } catch {
    return null;
  }
}
