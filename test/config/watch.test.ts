import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/core/config/load.ts';
import type { ConfigIssue, LoadedConfig } from '../../src/core/config/types.ts';
import { watchChannelFiles, type ChannelFilesWatcher, type ConfigDiff } from '../../src/core/config/watch.ts';
import { channels } from './fake-channels.ts';
import { removeDir, tempConfigDir, writeFiles } from './helpers.ts';

const CHAT = 'id: acme-chat\nchannel: chat\ntoken: ${CHAT_TOKEN}\n';
const BOT = 'id: acme-bot\nchannel: bot\ntoken: bot-token-1\n';
const ENV = { CHAT_TOKEN: 'chat-secret-value' };

/** Collects what the watcher reports, with a way to wait for the next report. */
function recorder() {
  const changes: Array<{ next: LoadedConfig; diff: ConfigDiff }> = [];
  const invalid: ConfigIssue[][] = [];
  const logged: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void logged.push(line) });
  const until = async (condition: () => boolean, what: string): Promise<void> => {
    const deadline = Date.now() + 5000;
    while (!condition()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  return { changes, invalid, logged, logger, until };
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function start(files: Record<string, string>) {
  const dir = await tempConfigDir();
  cleanups.push(() => removeDir(dir));
  await writeFiles(dir, files);
  const current = await loadConfig(dir, channels, ENV);
  const record = recorder();
  const watcher: ChannelFilesWatcher = watchChannelFiles({
    dir,
    channels,
    env: ENV,
    current,
    logger: record.logger,
    debounceMs: 50,
    onChange: (next, diff) => void record.changes.push({ next, diff }),
    onInvalid: (issues) => void record.invalid.push(issues),
  });
  cleanups.push(() => watcher.close());
  return { dir, current, ...record };
}

describe('watchChannelFiles', () => {
  it('applies a valid edit with the diff', async () => {
    const { dir, changes, until } = await start({ 'channels/chat.yaml': CHAT, 'channels/bot.yaml': BOT });
    await writeFile(join(dir, 'channels/chat.yaml'), `${CHAT}mode: b\n`);
    await until(() => changes.length === 1, 'onChange');
    expect(changes[0]?.diff).toEqual({ added: [], changed: ['acme-chat'], removed: [] });
    expect(changes[0]?.next.accounts.get('acme-chat')?.settings).toEqual({ token: 'chat-secret-value', mode: 'b' });
    expect(Object.isFrozen(changes[0]?.next.accounts.get('acme-chat'))).toBe(true);
  });

  it('rejects an invalid edit, keeps the previous config, and logs without secrets', async () => {
    const { dir, changes, invalid, logged, until } = await start({ 'channels/chat.yaml': CHAT });
    await writeFile(join(dir, 'channels/chat.yaml'), `${CHAT}mode: chat-secret-value\nsession:\n  window: [oops\n`);
    await until(() => invalid.length >= 1, 'onInvalid');
    expect(invalid.at(-1)?.[0]?.message).toMatch(/^YAML syntax error/);
    await writeFile(join(dir, 'channels/chat.yaml'), 'id: acme-chat\nchannel: chat\ntoken: ${CHAT_TOKEN}\nmode: ${CHAT_TOKEN}\n');
    await until(() => invalid.length >= 2, 'second onInvalid');
    expect(invalid.at(-1)?.map((issue) => issue.path)).toEqual(['mode']);
    const errors = logged.filter((line) => line.includes('channel config rejected'));
    expect(errors.length).toBeGreaterThanOrEqual(2);
    expect(logged.join('\n')).not.toContain('chat-secret-value');

    // Fixing the file is diffed against the config that stayed in force, not the broken edit.
    await writeFile(join(dir, 'channels/chat.yaml'), `${CHAT}mode: b\n`);
    await until(() => changes.length === 1, 'onChange after the fix');
    expect(changes[0]?.diff).toEqual({ added: [], changed: ['acme-chat'], removed: [] });
  });

  it('reports a new file as added and a deleted one as removed', async () => {
    const { dir, changes, until } = await start({ 'channels/chat.yaml': CHAT });
    await writeFile(join(dir, 'channels/bot.yaml'), BOT);
    await until(() => changes.length === 1, 'added');
    expect(changes[0]?.diff).toEqual({ added: ['acme-bot'], changed: [], removed: [] });
    await rm(join(dir, 'channels/chat.yaml'));
    await until(() => changes.length === 2, 'removed');
    expect(changes[1]?.diff).toEqual({ added: [], changed: [], removed: ['acme-chat'] });
    expect([...(changes[1]?.next.accounts.keys() ?? [])]).toEqual(['acme-bot']);
  });

  it('follows editors that save by writing a temp file and renaming it over the original', async () => {
    const { dir, changes, until } = await start({ 'channels/chat.yaml': CHAT });
    for (const mode of ['b', 'a']) {
      const temp = join(dir, 'channels/.chat.yaml.tmp');
      await writeFile(temp, `${CHAT}mode: ${mode}\nrateLimit:\n  perSecond: 5\n`);
      await rename(temp, join(dir, 'channels/chat.yaml'));
      await until(() => changes.at(-1)?.next.accounts.get('acme-chat')?.settings.mode === mode, `mode ${mode}`);
    }
    expect(changes.every((change) => change.diff.changed[0] === 'acme-chat')).toBe(true);
  });

  it('picks up a channels directory that is created or replaced later', async () => {
    const { dir, changes, until } = await start({});
    await mkdir(join(dir, 'channels'));
    await writeFile(join(dir, 'channels/chat.yaml'), CHAT);
    await until(() => changes.length === 1, 'added in a new directory');
    expect(changes[0]?.diff.added).toEqual(['acme-chat']);

    await writeFiles(dir, { 'channels.next/chat.yaml': CHAT, 'channels.next/bot.yaml': BOT });
    await rename(join(dir, 'channels'), join(dir, 'channels.old'));
    await rename(join(dir, 'channels.next'), join(dir, 'channels'));
    await until(() => changes.length === 2, 'the replaced directory');
    expect(changes[1]?.diff).toEqual({ added: ['acme-bot'], changed: [], removed: [] });
    await writeFile(join(dir, 'channels/bot.yaml'), `${BOT}polling: true\n`);
    await until(() => changes.length === 3, 'an edit in the replaced directory');
    expect(changes[2]?.diff.changed).toEqual(['acme-bot']);
  });

  it('does not call onChange when nothing changed and stops after close', async () => {
    const { dir, changes, logged, until } = await start({ 'channels/chat.yaml': CHAT });
    await writeFile(join(dir, 'channels/chat.yaml'), `# a comment only\n${CHAT}`);
    await until(() => logged.some((line) => line.includes('no account changed')), 'the no-op reload');
    expect(changes).toEqual([]);
    const cleanup = cleanups.pop();
    await cleanup?.();
    await writeFile(join(dir, 'channels/chat.yaml'), `${CHAT}mode: b\n`);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(changes).toEqual([]);
  });
});
