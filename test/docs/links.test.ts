/**
 * The docs match the repository and the CLI: every relative link in README.md and docs/*.md
 * resolves to a file (and its #anchor to a heading or an explicit anchor), and every `omnibus`
 * command shown in docs/quickstart.md exists (`omnibus <cmd> --help` exits 0).
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const DOCS = ['README.md', ...readdirSync(path.join(REPO, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

/** GitHub's heading slug: lower case, punctuation dropped, spaces to dashes. */
function slug(heading: string): string {
  return heading.trim().toLowerCase().replace(/[`*_]/g, '').replace(/[^\p{L}\p{N} -]/gu, '').replace(/ /g, '-');
}

function anchors(file: string): Set<string> {
  const text = readFileSync(file, 'utf8');
  const found = new Set<string>();
  for (const match of text.matchAll(/^#{1,6} (.+)$/gm)) found.add(slug(match[1]!));
  for (const match of text.matchAll(/<a (?:id|name)="([^"]+)"/g)) found.add(match[1]!);
  return found;
}

/** Markdown text outside fenced code blocks. */
function prose(text: string): string {
  return text.replace(/^```[\s\S]*?^```/gm, '');
}

describe('docs links', () => {
  it.each(DOCS)('every relative link in %s resolves', (doc) => {
    const broken: string[] = [];
    for (const match of prose(readFileSync(path.join(REPO, doc), 'utf8')).matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = match[1]!;
      if (/^[a-z]+:/i.test(target)) continue;
      const [file, anchor] = target.split('#') as [string, string | undefined];
      const resolved = file ? path.resolve(path.dirname(path.join(REPO, doc)), file) : path.join(REPO, doc);
      if (!existsSync(resolved)) broken.push(`${target} (no such file)`);
      else if (anchor && resolved.endsWith('.md') && !anchors(resolved).has(anchor)) broken.push(`${target} (no such heading)`);
    }
    expect(broken).toEqual([]);
  });
});

describe('quickstart commands', () => {
  const text = readFileSync(path.join(REPO, 'docs/quickstart.md'), 'utf8');
  const commands = new Set<string>();
  for (const block of text.matchAll(/^```[a-z]*\n([\s\S]*?)^```/gm)) {
    for (const line of block[1]!.split('\n')) {
      const match = /(?:^|\s|\$ )(?:npx |npm run )?omnibus(?: --)? ((?:config )?[a-z]+)/.exec(line.trim());
      if (match) commands.add(match[1]!);
    }
  }

  it('shows at least the simulate and tail commands', () => {
    expect([...commands]).toEqual(expect.arrayContaining(['simulate', 'tail']));
  });

  it.each([...commands])('omnibus %s --help exists', { timeout: 120_000 }, async (command) => {
    const code = await new Promise<number | null>((resolve) => {
      const child = execFile(process.execPath, [path.join(REPO, 'bin/omnibus.mjs'), ...command.split(' '), '--help'], { cwd: REPO }, () => resolve(child.exitCode));
    });
    expect(code).toBe(0);
  });
});
