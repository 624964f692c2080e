/**
 * One YAML configuration file: parsed with source positions kept, so every later problem can
 * name the line of the offending node, and with `${ENV}` references substituted in place.
 */
import { readFile } from 'node:fs/promises';
import { isAbsolute, relative } from 'node:path';
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import { hasReference, substituteEnv } from './env.ts';
import type { ConfigIssue } from './types.ts';

/** A path inside a document: mapping keys and sequence indexes. */
export type FieldPath = ReadonlyArray<string | number>;

/** A parsed file, ready for validation. */
export interface YamlSource {
  /** How the file is named in issues. */
  file: string;
  /** The plain value (after substitution), or undefined when the file is empty. */
  data: unknown;
  /** True when YAML syntax errors made the document unusable. */
  broken: boolean;
  /** Problems found while reading: syntax, missing variables, malformed references. */
  issues: ConfigIssue[];
  /** Line of the node at `path`; for a missing node, the line of its nearest existing parent. */
  lineOf(path: FieldPath): number | null;
  /** True when the value at `path` came from the environment (never echo it). */
  fromEnv(path: FieldPath): boolean;
  /** True when substituting at or above `path` failed (its validation issues are noise). */
  unresolved(path: FieldPath): boolean;
}

/** The dotted form of a path: `http.port`, `api.tokens[0].token`. */
export function formatPath(path: FieldPath): string {
  let text = '';
  for (const segment of path) {
    if (typeof segment === 'number') text += `[${segment}]`;
    else text += text === '' ? segment : `.${segment}`;
  }
  return text;
}

/** How a file is named in issues: relative to the working directory when inside it (clickable), else absolute. */
export function displayPath(absolutePath: string): string {
  const fromCwd = relative(process.cwd(), absolutePath);
  return fromCwd !== '' && !fromCwd.startsWith('..') && !isAbsolute(fromCwd) ? fromCwd : absolutePath;
}

/** Reads and parses `absolutePath`; a missing file is left to the caller (ENOENT is thrown). */
export async function readYamlSource(absolutePath: string, file: string, env: NodeJS.ProcessEnv): Promise<YamlSource> {
  return parseYamlSource(await readFile(absolutePath, 'utf8'), file, env);
}

/** Parses YAML text, keeping positions, and substitutes `${ENV}` references in string values. */
export function parseYamlSource(text: string, file: string, env: NodeJS.ProcessEnv): YamlSource {
  const lineCounter = new LineCounter();
  // prettyErrors would append a code frame of the source line, which may hold a pasted secret.
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const lineAt = (offset: number): number => lineCounter.linePos(offset).line || 1;
  const issues: ConfigIssue[] = doc.errors.map((error) => ({
    file,
    line: lineAt(error.pos[0]),
    path: '',
    message: `YAML syntax error: ${error.message}`,
  }));
  const envPaths = new Set<string>();
  const unresolvedPaths = new Set<string>();

  const lineOf = (path: FieldPath): number | null => locate(doc, path, lineAt);

  const substitute = (node: unknown, path: FieldPath): void => {
    if (isMap(node)) {
      for (const pair of node.items) substitute(pair.value, [...path, keyOf(pair.key)]);
    } else if (isSeq(node)) {
      node.items.forEach((item, index) => substitute(item, [...path, index]));
    } else if (isScalar(node) && typeof node.value === 'string' && hasReference(node.value)) {
      const result = substituteEnv(node.value, env);
      const key = pathKey(path);
      const line = node.range ? lineAt(node.range[0]) : lineOf(path);
      for (const name of result.missing) {
        issues.push({ file, line, path: formatPath(path), message: `environment variable ${name} is not set` });
      }
      for (const message of result.errors) issues.push({ file, line, path: formatPath(path), message });
      if (result.substituted) envPaths.add(key);
      if (result.missing.length > 0 || result.errors.length > 0) unresolvedPaths.add(key);
      node.value = result.value;
    }
    // Aliases point at nodes substituted where they are anchored; following them could loop.
  };

  const broken = doc.errors.length > 0;
  if (!broken) substitute(doc.contents, []);
  const data = broken || doc.contents === null ? undefined : doc.toJS({ maxAliasCount: 100 });

  return {
    file,
    data,
    broken,
    issues,
    lineOf,
    fromEnv: (path) => hasPrefixIn(path, envPaths),
    unresolved: (path) => hasPrefixIn(path, unresolvedPaths),
  };
}

function locate(doc: Document, path: FieldPath, lineAt: (offset: number) => number): number | null {
  let node: unknown = doc.contents;
  let line = nodeLine(node, lineAt) ?? 1;
  for (const segment of path) {
    if (isAlias(node)) node = node.resolve(doc);
    if (isMap(node)) {
      const pair = node.items.find((item) => keyOf(item.key) === String(segment));
      if (!pair) return line;
      // The key's line names the field even when its value is a block mapping starting below.
      line = nodeLine(pair.key, lineAt) ?? line;
      node = pair.value;
    } else if (isSeq(node) && typeof segment === 'number' && node.items[segment] !== undefined) {
      node = node.items[segment];
      line = nodeLine(node, lineAt) ?? line;
    } else {
      return line;
    }
  }
  return line;
}

function nodeLine(node: unknown, lineAt: (offset: number) => number): number | null {
  const range = (node as Node | null | undefined)?.range;
  return range ? lineAt(range[0]) : null;
}

function keyOf(key: unknown): string {
  return isScalar(key) ? String(key.value) : String(key);
}

function pathKey(path: FieldPath): string {
  return path.map(String).join('\u0000');
}

function hasPrefixIn(path: FieldPath, keys: ReadonlySet<string>): boolean {
  if (keys.size === 0) return false;
  for (let length = path.length; length >= 0; length -= 1) {
    if (keys.has(pathKey(path.slice(0, length)))) return true;
  }
  return false;
}
