/**
 * Hot reload of `channels/*.yaml` (docs/configuration.md). A valid edit is handed to `onChange`
 * with what changed; an invalid one is logged and rejected while the previous configuration
 * stays in force. The daemon file is read only at start: its settings (ports, NATS, database)
 * cannot change under a running process.
 */
import { statSync, watch, type FSWatcher } from 'node:fs';
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { Logger } from 'pino';
import type { ChannelDefinition } from '../adapter.ts';
import { checkChannelFiles } from './channel-files.ts';
import { formatIssues } from './format.ts';
import { deepFreeze } from './freeze.ts';
import type { AccountConfig, ConfigIssue, LoadedConfig } from './types.ts';

/** Account ids that a reload added, changed or removed. */
export interface ConfigDiff {
  added: string[];
  changed: string[];
  removed: string[];
}

/** What `watchChannelFiles` needs. */
export interface WatchChannelFilesOptions {
  dir: string;
  channels: ReadonlyMap<string, ChannelDefinition>;
  env?: NodeJS.ProcessEnv;
  /** The configuration in force; diffs are computed against it. */
  current: LoadedConfig;
  logger: Pick<Logger, 'error' | 'warn' | 'info' | 'debug'>;
  debounceMs?: number;
  /** A valid edit with at least one account added, changed or removed. A throw keeps `current`. */
  onChange(next: LoadedConfig, diff: ConfigDiff): void | Promise<void>;
  /** An invalid edit; the previous configuration stays in force. */
  onInvalid(issues: ConfigIssue[]): void;
}

/** A running watcher. */
export interface ChannelFilesWatcher {
  close(): void;
}

/** How soon a failed watch (directory gone, watcher error) is set up again. */
const REARM_MS = 1000;

/** Watches `dir/channels` and reloads all channel files after each burst of changes. */
export function watchChannelFiles(options: WatchChannelFilesOptions): ChannelFilesWatcher {
  const { channels, logger, env = process.env, debounceMs = 200 } = options;
  const dir = resolve(options.dir);
  const channelsDir = resolve(dir, 'channels');
  let current = options.current;
  let closed = false;
  let running = false;
  let pending = false;
  let debounce: NodeJS.Timeout | null = null;
  let rearmTimer: NodeJS.Timeout | null = null;
  let parentWatcher: FSWatcher | null = null;
  let channelsWatcher: FSWatcher | null = null;
  let watchedInode: number | null = null;

  const schedule = (): void => {
    if (closed) return;
    if (debounce) clearTimeout(debounce);
    debounce = setTimeout(() => void run(), debounceMs);
  };

  const rearmSoon = (error: unknown): void => {
    if (closed || rearmTimer) return;
    logger.warn({ err: error, dir: channelsDir }, 'config watcher lost; watching again shortly');
    rearmTimer = setTimeout(() => {
      rearmTimer = null;
      arm();
      schedule();
    }, REARM_MS);
    rearmTimer.unref();
  };

  /**
   * Watches the config directory for `channels` itself appearing, vanishing or being swapped,
   * and `channels/` for its files; editors that save by rename show up as rename events there.
   */
  const arm = (): void => {
    if (closed) return;
    channelsWatcher?.close();
    channelsWatcher = null;
    watchedInode = null;
    try {
      if (!parentWatcher) {
        parentWatcher = watch(dir, { persistent: false }, (_event, name) => {
          if (name !== null && name.toString() !== 'channels') return;
          arm();
          schedule();
        });
        parentWatcher.on('error', (error) => {
          parentWatcher?.close();
          parentWatcher = null;
          rearmSoon(error);
        });
      }
      channelsWatcher = watch(channelsDir, { persistent: false }, () => schedule());
      channelsWatcher.on('error', (error) => {
        channelsWatcher?.close();
        channelsWatcher = null;
        rearmSoon(error);
      });
      watchedInode = statSync(channelsDir).ino;
    } catch (error) {
      // No channels directory (yet): the parent watch notices when it is created.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || !parentWatcher) rearmSoon(error);
    }
  };

  /** A directory replaced by rename keeps our watch on the old inode; follow the new one. */
  const followReplacedDirectory = async (): Promise<void> => {
    const inode = await stat(channelsDir).then(
      (info) => info.ino,
      () => null,
    );
    if (inode !== watchedInode || channelsWatcher === null) arm();
  };

  const run = async (): Promise<void> => {
    debounce = null;
    if (closed) return;
    if (running) {
      pending = true;
      return;
    }
    running = true;
    try {
      await followReplacedDirectory();
      const { files, issues } = await checkChannelFiles(dir, channels, env, { sandbox: options.current.daemon.sandbox });
      if (closed) return;
      if (issues.length > 0) {
        logger.error({ issues, summary: formatIssues(issues) }, 'channel config rejected; the previous configuration stays in force');
        try {
          options.onInvalid(issues);
        } catch (error) {
          logger.error({ err: error }, 'config onInvalid handler failed');
        }
        return;
      }
      const next: LoadedConfig = deepFreeze({ ...current, ...files });
      const diff = diffAccounts(current.accounts, next.accounts);
      if (diff.added.length + diff.changed.length + diff.removed.length === 0) {
        current = next;
        logger.debug({ dir: channelsDir }, 'channel files touched; no account changed');
        return;
      }
      try {
        await options.onChange(next, diff);
        current = next;
        logger.info(diff, 'channel config reloaded');
      } catch (error) {
        // Not advancing `current`: the next edit is diffed against what was really applied.
        logger.error({ err: error, ...diff }, 'applying the reloaded channel config failed');
      }
    } catch (error) {
      logger.error({ err: error }, 'channel config reload failed; the previous configuration stays in force');
    } finally {
      running = false;
      if (pending && !closed) {
        pending = false;
        schedule();
      }
    }
  };

  arm();
  return {
    close(): void {
      closed = true;
      if (debounce) clearTimeout(debounce);
      if (rearmTimer) clearTimeout(rearmTimer);
      parentWatcher?.close();
      channelsWatcher?.close();
      parentWatcher = null;
      channelsWatcher = null;
    },
  };
}

/** Accounts added, removed, or different by deep equality, each list sorted. */
export function diffAccounts(
  before: ReadonlyMap<string, AccountConfig>,
  after: ReadonlyMap<string, AccountConfig>,
): ConfigDiff {
  const added = [...after.keys()].filter((id) => !before.has(id)).sort();
  const removed = [...before.keys()].filter((id) => !after.has(id)).sort();
  const changed = [...after.keys()].filter((id) => before.has(id) && !isDeepStrictEqual(before.get(id), after.get(id))).sort();
  return { added, changed, removed };
}
