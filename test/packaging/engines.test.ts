/**
 * No engine warning on the supported Node versions: every package `npm ci` installs (the
 * lockfile) accepts Node 20.19, 22.13, 24 and the Node running the tests. `@nats-io/nuid` 3
 * wants Node 22; package.json `overrides` pins 2.0.3, the same API for Node 18 and up.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

interface LockEntry {
  version?: string;
  engines?: { node?: string } | string[];
}

const lock = JSON.parse(readFileSync(new URL('../../package-lock.json', import.meta.url), 'utf8')) as { packages: Record<string, LockEntry> };
const SUPPORTED = ['20.19.0', '22.13.0', '24.0.0', process.versions.node];

type Version = [number, number, number];

function parse(text: string): { version: Version; wild: number } {
  const parts = text.replace(/^v/, '').split('.');
  const numbers: number[] = [];
  for (const part of parts.slice(0, 3)) {
    if (part === 'x' || part === '*' || part === '') break;
    numbers.push(Number.parseInt(part, 10));
  }
  const wild = numbers.length;
  while (numbers.length < 3) numbers.push(0);
  return { version: numbers as Version, wild };
}

function compare(a: Version, b: Version): number {
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}

/** One comparator (`>=20.19`, `^22.13.0`, `~1.2`, `>= 18.x`, `20`). */
function satisfiesOne(node: Version, comparator: string): boolean {
  const match = /^(>=|<=|>|<|\^|~|=)?\s*(.+)$/.exec(comparator.trim());
  if (!match) throw new Error(`unreadable engines comparator ${comparator}`);
  const operator = match[1] ?? '';
  const { version, wild } = parse(match[2]!);
  const order = compare(node, version);
  switch (operator) {
    case '>=': return order >= 0;
    case '>': return order > 0;
    case '<=': return order <= 0;
    case '<': return order < 0;
    case '^': return order >= 0 && node[0] === version[0] && (version[0] !== 0 || node[1] === version[1]);
    case '~': return order >= 0 && node[0] === version[0] && (wild < 2 || node[1] === version[1]);
    default: return version.slice(0, wild).every((n, i) => node[i] === n);
  }
}

/** A range: `a || b`, each a space-separated AND of comparators (`>=14 <16`). */
export function satisfies(nodeVersion: string, range: string): boolean {
  const node = parse(nodeVersion).version;
  if (range.trim() === '' || range.trim() === '*') return true;
  return range.split('||').some((alternative) =>
    alternative
      .trim()
      .replace(/(>=|<=|>|<|\^|~|=)\s+/g, '$1')
      .split(/\s+/)
      .every((comparator) => satisfiesOne(node, comparator)),
  );
}

describe('engines', () => {
  it('reads the ranges npm packages use', () => {
    expect(satisfies('20.19.0', '>= 22.x')).toBe(false);
    expect(satisfies('22.1.0', '>= 22.x')).toBe(true);
    expect(satisfies('20.19.0', '^20.19.0 || >=22.12.0')).toBe(true);
    expect(satisfies('22.11.0', '^20.19.0 || >=22.12.0')).toBe(false);
    expect(satisfies('20.18.9', '>=20.19')).toBe(false);
    expect(satisfies('24.0.0', '^20.0.0 || ^22.0.0 || >=24.0.0')).toBe(true);
    expect(satisfies('13.7.1', '^10 || ^12 || ^13.7 || ^14 || >=15.0.1')).toBe(true);
  });

  it('finds no installed package that excludes a supported Node version', () => {
    const refused: string[] = [];
    for (const [path, entry] of Object.entries(lock.packages)) {
      const range = Array.isArray(entry.engines) ? undefined : entry.engines?.node;
      if (!path || !range) continue;
      for (const node of SUPPORTED) if (!satisfies(node, range)) refused.push(`${path}@${entry.version} wants node ${range}, not ${node}`);
    }
    expect(refused).toEqual([]);
  });

  it('pins @nats-io/nuid to a release that runs on Node 20.19', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { overrides?: Record<string, string> };
    expect(pkg.overrides?.['@nats-io/nuid']).toBe('2.0.3');
    const nuids = Object.entries(lock.packages).filter(([path]) => path.endsWith('node_modules/@nats-io/nuid'));
    expect(nuids.length).toBeGreaterThan(0);
    for (const [, entry] of nuids) expect(entry.version).toBe('2.0.3');
  });
});
