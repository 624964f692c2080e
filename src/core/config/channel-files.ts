/**
 * Loading `channels/*.yaml`: one account per file. Used at start and, alone, on hot reload; a
 * whole set of files is valid or rejected together, so one bad edit never half-applies.
 */
import { readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { ChannelDefinition } from '../adapter.ts';
import { ACCOUNT_ID_RE, COMMON_KEYS, commonSchema, NEUTRAL_DEFAULTS } from './channel-schema.ts';
import { FrozenMap } from './freeze.ts';
import { ConfigError, fromZodIssues, issueAt, keysAt, suggest, unknownFieldMessage } from './issues.ts';
import type { AccountConfig, ConfigIssue } from './types.ts';
import { displayPath, readYamlSource, type FieldPath, type YamlSource } from './yaml-source.ts';

/** The accounts of a channels directory, keyed by account id. */
export interface ChannelFiles {
  accounts: ReadonlyMap<string, AccountConfig>;
  /** Absolute path of the file that defines each account. */
  accountFiles: ReadonlyMap<string, string>;
}

/** What checking one file produced; `account` is set only when the file had no issue. */
interface FileResult {
  absolutePath: string;
  source: YamlSource | null;
  id: string | null;
  account: AccountConfig | null;
  issues: ConfigIssue[];
}

/** Loads every channel file under `dir/channels`; throws ConfigError with all issues. */
export async function loadChannelFiles(
  dir: string,
  channels: ReadonlyMap<string, ChannelDefinition>,
  env: NodeJS.ProcessEnv,
  options: CheckOptions = {},
): Promise<ChannelFiles> {
  const { files, issues } = await checkChannelFiles(dir, channels, env, options);
  if (issues.length > 0) throw new ConfigError(issues);
  return files;
}

/** How channel files are checked. */
export interface CheckOptions {
  /** Sandbox mode (`sandbox: true` in omnibus.yaml): only then are the public sample secrets allowed. Default false. */
  sandbox?: boolean;
}

/** Checks every channel file; returns the accounts (frozen maps, unfrozen values) and all issues. */
export async function checkChannelFiles(
  dir: string,
  channels: ReadonlyMap<string, ChannelDefinition>,
  env: NodeJS.ProcessEnv,
  options: CheckOptions = {},
): Promise<{ files: ChannelFiles; issues: ConfigIssue[] }> {
  const channelsDir = resolve(dir, 'channels');
  let paths: string[];
  try {
    paths = await listChannelFiles(channelsDir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unknown error';
    const issue = { file: displayPath(channelsDir), line: null, path: '', message: `cannot read the directory (${code})` };
    return { files: { accounts: new FrozenMap(), accountFiles: new FrozenMap() }, issues: [issue] };
  }
  const results: FileResult[] = [];
  // Sequential on purpose: a handful of small files, and stable issue order.
  for (const path of paths) results.push(await checkChannelFile(path, channels, env, options.sandbox ?? false));
  reportDuplicateIds(results);

  const issues = results.flatMap((result) => sortByLine(result.issues));
  const accounts: Array<[string, AccountConfig]> = [];
  const accountFiles: Array<[string, string]> = [];
  for (const result of results) {
    if (result.account === null) continue;
    accounts.push([result.account.id, result.account]);
    accountFiles.push([result.account.id, result.absolutePath]);
  }
  return { files: { accounts: new FrozenMap(accounts), accountFiles: new FrozenMap(accountFiles) }, issues };
}

/** `*.yaml` and `*.yml` regular files (symlinks followed, as on Kubernetes ConfigMaps), sorted. */
async function listChannelFiles(channelsDir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(channelsDir);
  } catch (error) {
    // No channels directory is a daemon without accounts yet, not an error.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const paths: string[] = [];
  // Dotfiles are editor artefacts (`.#acme.yaml` locks, `.acme.yaml.swp`), never accounts.
  for (const name of names.filter((entry) => /\.ya?ml$/i.test(entry) && !entry.startsWith('.')).sort()) {
    const path = join(channelsDir, name);
    // A file may vanish between readdir and stat while an editor renames it: it is simply gone.
    const info = await stat(path).catch(() => null);
    if (info?.isFile()) paths.push(path);
  }
  return paths;
}

async function checkChannelFile(
  absolutePath: string,
  channels: ReadonlyMap<string, ChannelDefinition>,
  env: NodeJS.ProcessEnv,
  sandbox: boolean,
): Promise<FileResult> {
  const file = displayPath(absolutePath);
  const result: FileResult = { absolutePath, source: null, id: null, account: null, issues: [] };
  let source: YamlSource;
  try {
    source = await readYamlSource(absolutePath, file, env);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unknown error';
    result.issues.push({ file, line: null, path: '', message: `cannot read the file (${code})` });
    return result;
  }
  result.source = source;
  result.issues.push(...source.issues);
  if (source.broken) return result;

  const data = source.data;
  if (data === undefined || data === null) {
    result.issues.push({ file, line: null, path: '', message: 'the file is empty; a channel file needs at least id and channel' });
    return result;
  }
  if (typeof data !== 'object' || Array.isArray(data)) {
    result.issues.push(issueAt(source, [], 'a channel file must be a mapping of fields'));
    return result;
  }
  const fields = data as Record<string, unknown>;
  if (typeof fields.id === 'string' && ACCOUNT_ID_RE.test(fields.id)) result.id = fields.id;

  const definition = resolveChannel(fields.channel, source, channels, result.issues);
  const secretFields = new Set(definition?.secretFields ?? []);
  const mayEcho = (path: FieldPath): boolean => !source.fromEnv(path) && !secretFields.has(String(path[0]));

  const common: Record<string, unknown> = {};
  const rest: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(fields)) (COMMON_KEYS.includes(key) ? common : rest)[key] = value;

  const schema = commonSchema(definition?.defaults ?? NEUTRAL_DEFAULTS);
  const commonResult = schema.safeParse({ ...common, channel: String(fields.channel ?? '') });
  if (!commonResult.success) {
    result.issues.push(...fromZodIssues(commonResult.error.issues, source, schema, mayEcho));
  }
  // With the channel unknown there is no schema for the other keys: listing them would be noise.
  if (definition === undefined) return result;

  const settingsKeys = keysAt(definition.settingsSchema, []);
  if (settingsKeys !== null) {
    // Checked here rather than left to the settings schema: a non-strict schema would drop a
    // mistyped common key (`sesion:`) silently.
    for (const key of Object.keys(rest)) {
      if (settingsKeys.includes(key)) continue;
      result.issues.push(issueAt(source, [key], unknownFieldMessage(key, [...COMMON_KEYS, ...settingsKeys])));
      delete rest[key];
    }
  }
  const settingsResult = definition.settingsSchema.safeParse(rest);
  if (!settingsResult.success) {
    result.issues.push(...fromZodIssues(settingsResult.error.issues, source, definition.settingsSchema, mayEcho));
  }
  if (!sandbox) result.issues.push(...sampleSecretIssues(definition, rest, source));
  if (result.issues.length === 0 && commonResult.success && settingsResult.success) {
    result.account = { ...commonResult.data, settings: settingsResult.data as Record<string, unknown> };
  }
  return result;
}

/**
 * A copied sample file with sandbox switched off would run on secrets printed in the
 * repository: anyone could sign webhooks for it. Each channel declares its sample values.
 */
function sampleSecretIssues(definition: ChannelDefinition, settings: Record<string, unknown>, source: YamlSource): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  for (const [field, samples] of Object.entries(definition.sampleSecrets ?? {})) {
    const value = settings[field];
    if (typeof value !== 'string' || !samples.includes(value.trim())) continue;
    issues.push(issueAt(source, [field], 'is a public sample value from the sandbox configuration; outside sandbox mode set the real secret (e.g. from ${ENV})'));
  }
  return issues;
}

function resolveChannel(
  value: unknown,
  source: YamlSource,
  channels: ReadonlyMap<string, ChannelDefinition>,
  issues: ConfigIssue[],
): ChannelDefinition | undefined {
  const known = [...channels.keys()].sort();
  const knownText = known.length > 0 ? known.join(', ') : '(none)';
  if (value === undefined || value === null) {
    issues.push(issueAt(source, ['channel'], `required field is missing; known channels: ${knownText}`));
    return undefined;
  }
  const definition = typeof value === 'string' ? channels.get(value) : undefined;
  if (definition !== undefined) return definition;
  const shown = typeof value === 'string' && !source.fromEnv(['channel']) ? ` "${value}"` : '';
  const guess = typeof value === 'string' ? suggest(value, known) : null;
  const hint = guess === null ? '' : ` (did you mean "${guess}"?)`;
  issues.push(issueAt(source, ['channel'], `unknown channel${shown}${hint}; known channels: ${knownText}`));
  return undefined;
}

/** An id defined in two files is an issue on both, each naming the other. */
function reportDuplicateIds(results: FileResult[]): void {
  const byId = new Map<string, FileResult[]>();
  for (const result of results) {
    if (result.id === null) continue;
    byId.set(result.id, [...(byId.get(result.id) ?? []), result]);
  }
  for (const [id, group] of byId) {
    if (group.length < 2) continue;
    for (const result of group) {
      const others = group.filter((other) => other !== result).map((other) => displayPath(other.absolutePath));
      const source = result.source;
      if (source === null) continue;
      result.issues.push(issueAt(source, ['id'], `account id "${id}" is also defined in ${others.join(', ')}`));
      result.account = null;
    }
  }
}

/** Issues of one file in source order; file-level issues (no line) first. */
export function sortByLine(issues: ConfigIssue[]): ConfigIssue[] {
  return [...issues].sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
}
