/**
 * Configuration problems: the error that carries all of them, and the translation of zod issues
 * into issues that name the file, the line and the field.
 */
import type { z } from 'zod';
import { formatIssues } from './format.ts';
import type { ConfigIssue } from './types.ts';
import { formatPath, type FieldPath, type YamlSource } from './yaml-source.ts';

/** Every problem of a configuration load, reported at once. */
export class ConfigError extends Error {
  readonly issues: ReadonlyArray<ConfigIssue>;

  constructor(issues: ReadonlyArray<ConfigIssue>) {
    const count = issues.length === 1 ? '1 problem' : `${issues.length} problems`;
    super(`invalid configuration (${count}):\n${formatIssues(issues)}`);
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

/** An issue at `path` of `source`, with the line taken from the YAML. */
export function issueAt(source: YamlSource, path: FieldPath, message: string): ConfigIssue {
  return { file: source.file, line: source.lineOf(path), path: formatPath(path), message };
}

/** The closest candidate to a mistyped word, if one is close enough to be a likely typo. */
export function suggest(word: string, candidates: Iterable<string>): string | null {
  const lower = word.toLowerCase();
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const distance = candidate.toLowerCase() === lower ? 0 : editDistance(lower, candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  const tolerance = Math.max(1, Math.floor(word.length / 3));
  return best !== null && bestDistance <= tolerance ? best : null;
}

/** The "unknown field" message, with a suggestion when one is close. */
export function unknownFieldMessage(key: string, known: Iterable<string>): string {
  const guess = suggest(key, known);
  return guess === null ? `unknown field "${key}"` : `unknown field "${key}" (did you mean "${guess}"?)`;
}

/**
 * Maps zod issues of `schema` (which validated fields at the root of `source`) to config issues.
 * Values are never quoted unless the caller's `mayEcho` allows it (never for secrets or values
 * that came from the environment).
 */
export function fromZodIssues(
  zodIssues: ReadonlyArray<z.core.$ZodIssue>,
  source: YamlSource,
  schema: z.ZodType,
  mayEcho: (path: FieldPath) => boolean,
): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  for (const zodIssue of zodIssues) {
    const path = zodIssue.path.map((segment) => (typeof segment === 'number' ? segment : String(segment)));
    // A value whose ${VAR} could not be resolved already has its issue; more would be noise.
    if (source.unresolved(path)) continue;
    const raw = valueAt(source.data, path);
    if (zodIssue.code === 'unrecognized_keys') {
      const known = keysAt(schema, path) ?? [];
      for (const key of zodIssue.keys) issues.push(issueAt(source, [...path, key], unknownFieldMessage(key, known)));
    } else if (zodIssue.code === 'invalid_type' && raw === undefined) {
      issues.push(issueAt(source, path, 'required field is missing'));
    } else if (zodIssue.code === 'invalid_type') {
      // YAML reads `token: 12345` and `mode: yes`-style words as numbers and booleans.
      const scalar = typeof raw === 'number' || typeof raw === 'boolean';
      const hint = zodIssue.expected === 'string' && scalar ? ' (put the value in quotes)' : '';
      issues.push(issueAt(source, path, `expected ${zodIssue.expected}, got ${typeName(raw)}${hint}`));
    } else if (zodIssue.code === 'invalid_value' && typeof raw === 'string' && mayEcho(path)) {
      const allowed = zodIssue.values.map(String);
      const guess = suggest(raw, allowed);
      const hint = guess === null ? '' : ` (did you mean "${guess}"?)`;
      issues.push(issueAt(source, path, `"${raw}" is not one of ${allowed.join(', ')}${hint}`));
    } else if (zodIssue.code === 'too_small' || zodIssue.code === 'too_big') {
      issues.push(issueAt(source, path, sizeMessage(zodIssue)));
    } else {
      issues.push(issueAt(source, path, zodIssue.message));
    }
  }
  return issues;
}

/** The value at `path` of plain data, or undefined. */
export function valueAt(data: unknown, path: FieldPath): unknown {
  let value = data;
  for (const segment of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string | number, unknown>)[segment];
  }
  return value;
}

/** The field names an object schema accepts at `path`, or null when it is not an object there. */
export function keysAt(schema: z.ZodType, path: FieldPath): string[] | null {
  let current: ZodLike | null = unwrap(schema as unknown as ZodLike);
  for (const segment of path) {
    if (current === null) return null;
    const def: ZodLike['_zod']['def'] = current._zod.def;
    if (def.type === 'object') current = def.shape?.[String(segment)] ?? null;
    else if (def.type === 'array') current = def.element ?? null;
    else if (def.type === 'record') current = def.valueType ?? null;
    else return null;
    current = current === null ? null : unwrap(current);
  }
  return current?._zod.def.type === 'object' ? Object.keys(current._zod.def.shape ?? {}) : null;
}

/** The minimal view of zod's internals the walk above needs (stable across zod 4 and zod/mini). */
interface ZodLike {
  _zod: {
    def: {
      type: string;
      innerType?: ZodLike;
      in?: ZodLike;
      out?: ZodLike;
      shape?: Record<string, ZodLike>;
      element?: ZodLike;
      valueType?: ZodLike;
      getter?: () => ZodLike;
    };
  };
}

const WRAPPERS = new Set(['optional', 'nullable', 'default', 'prefault', 'readonly', 'catch', 'nonoptional', 'success']);

function unwrap(schema: ZodLike): ZodLike {
  let current = schema;
  for (let depth = 0; depth < 32; depth += 1) {
    const def = current._zod.def;
    if (WRAPPERS.has(def.type) && def.innerType) current = def.innerType;
    else if (def.type === 'pipe' && def.in && def.out) current = def.in._zod.def.type === 'transform' ? def.out : def.in;
    else if (def.type === 'lazy' && def.getter) current = def.getter();
    else break;
  }
  return current;
}

/** zod's "Too small: expected number to be >=1" said plainly; a schema's own message is kept. */
function sizeMessage(issue: z.core.$ZodIssueTooSmall | z.core.$ZodIssueTooBig): string {
  if (!/^Too (small|big)/.test(issue.message)) return issue.message;
  const small = issue.code === 'too_small';
  const limit = small ? (issue as z.core.$ZodIssueTooSmall).minimum : (issue as z.core.$ZodIssueTooBig).maximum;
  const inclusive = issue.inclusive !== false;
  const bound = small ? (inclusive ? 'at least' : 'more than') : inclusive ? 'at most' : 'less than';
  if (issue.origin === 'string') return `must be ${bound} ${limit} characters long`;
  if (issue.origin === 'array' || issue.origin === 'set') return `must have ${bound} ${limit} items`;
  return `must be ${bound} ${limit}`;
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return 'a string';
  if (typeof value === 'number') return Number.isInteger(value) ? 'an integer' : 'a number';
  return typeof value;
}

/** Optimal string alignment distance: a swapped pair of letters (`hots`/`host`) counts as one edit. */
function editDistance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i += 1) {
    const row: number[] = [i];
    for (let j = 1; j <= b.length; j += 1) {
      if (i === 0) {
        row[j] = j;
        continue;
      }
      const above = rows[i - 1] ?? [];
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min((above[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (above[j - 1] ?? 0) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, (rows[i - 2]?.[j - 2] ?? 0) + 1);
      }
      row[j] = best;
    }
    rows.push(row);
  }
  return rows[a.length]?.[b.length] ?? 0;
}
