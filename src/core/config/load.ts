/**
 * The configuration loader (docs/configuration.md): `omnibus.yaml` plus `channels/*.yaml`,
 * validated once, every problem reported at once with file, line and field, then deeply frozen.
 * This is the only place that reads the environment.
 */
import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { ChannelDefinition } from '../adapter.ts';
import { checkChannelFiles, sortByLine } from './channel-files.ts';
import { DAEMON_SECRET_PATHS, daemonSchemaFor } from './daemon-schema.ts';
import { deepFreeze } from './freeze.ts';
import { ConfigError, fromZodIssues, issueAt } from './issues.ts';
import type { ConfigIssue, DaemonConfig, LoadedConfig } from './types.ts';
import { displayPath, formatPath, parseYamlSource, readYamlSource, type FieldPath, type YamlSource } from './yaml-source.ts';

export { ConfigError } from './issues.ts';
export { loadChannelFiles } from './channel-files.ts';
export { formatIssues } from './format.ts';

/** The daemon file's name inside the configuration directory. */
export const DAEMON_FILE = 'omnibus.yaml';

/**
 * Loads and validates the configuration in `dir`; throws ConfigError listing every problem.
 * The result, its maps included, is deeply frozen.
 */
export async function loadConfig(
  dir: string,
  channels: ReadonlyMap<string, ChannelDefinition>,
  env: NodeJS.ProcessEnv = process.env,
): Promise<LoadedConfig> {
  const root = resolve(dir);
  const info = await stat(root).catch(() => null);
  if (!info?.isDirectory()) {
    throw new ConfigError([{ file: displayPath(root), line: null, path: '', message: 'configuration directory not found' }]);
  }
  const daemon = await checkDaemonFile(root, env, channels);
  // Unknown sandbox (a broken daemon file) checks as production: the stricter reading.
  const channelFiles = await checkChannelFiles(root, channels, env, { sandbox: daemon.config?.sandbox ?? false });
  const issues = [...daemon.issues, ...channelFiles.issues];
  if (issues.length > 0 || daemon.config === null) throw new ConfigError(issues);
  return deepFreeze({ dir: root, daemon: daemon.config, ...channelFiles.files });
}

/** Validates `dir/omnibus.yaml` (an absent file means all defaults). */
export async function checkDaemonFile(
  dir: string,
  env: NodeJS.ProcessEnv,
  channels: ReadonlyMap<string, ChannelDefinition> = new Map(),
): Promise<{ config: DaemonConfig | null; issues: ConfigIssue[] }> {
  const absolutePath = join(dir, DAEMON_FILE);
  const file = displayPath(absolutePath);
  let source: YamlSource;
  try {
    source = await readYamlSource(absolutePath, file, env);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT') {
      return { config: null, issues: [{ file, line: null, path: '', message: `cannot read the file (${code ?? 'unknown error'})` }] };
    }
    source = parseYamlSource('', file, env);
  }
  const issues = [...source.issues];
  if (source.broken) return { config: null, issues };
  const data = source.data ?? {};
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    return { config: null, issues: [...issues, issueAt(source, [], 'the daemon file must be a mapping of fields')] };
  }
  const mayEcho = (path: FieldPath): boolean =>
    !source.fromEnv(path) && !DAEMON_SECRET_PATHS.some((pattern) => pattern.test(formatPath(path)));
  const schema = daemonSchemaFor(channels.values());
  const result = schema.safeParse(data);
  if (!result.success) issues.push(...fromZodIssues(result.error.issues, source, schema, mayEcho));
  return { config: result.success && issues.length === 0 ? result.data : null, issues: sortByLine(issues) };
}

