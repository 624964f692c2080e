/** Temp-directory helpers for the configuration tests. */
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Absolute path of a fixture directory under test/config/fixtures. */
export function fixture(name: string): string {
  return fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
}

/** A fresh config directory in the OS temp dir, optionally seeded from a fixture. */
export async function tempConfigDir(seed?: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'omnibus-config-'));
  if (seed !== undefined) await cp(fixture(seed), dir, { recursive: true });
  return dir;
}

/** Writes `files` (path relative to `dir` → content) into `dir`. */
export async function writeFiles(dir: string, files: Record<string, string>): Promise<void> {
  for (const [name, content] of Object.entries(files)) {
    await mkdir(dirname(join(dir, name)), { recursive: true });
    await writeFile(join(dir, name), content);
  }
}

/** Removes a temp directory made by `tempConfigDir`. */
export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}
