/**
 * LINE settings: a long-lived token or a channel id to issue tokens, the content host following
 * apiBase, defaults and capabilities as data, and the shipped sample channel file.
 */
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { channels } from '../../../src/channels/index.ts';
import { LINE_DATA_API_BASE, lineBases, lineCapabilities, lineSettingsSchema } from '../../../src/channels/line/config.ts';
import { line } from '../../../src/channels/line/index.ts';
import { loadChannelFiles } from '../../../src/core/config/channel-files.ts';
import type { AccountConfig } from '../../../src/core/config/types.ts';
import { SECRETS, testAccount } from './helpers.ts';

describe('LINE settings', () => {
  it('is registered with its defaults and secrets', () => {
    expect(channels.get('line')).toBe(line);
    expect(line.defaults).toEqual({ window: 'none', attachments: ['mp4', 'm4a', 'jpg', 'jpeg', 'png'], rateLimit: { perSecond: 100, perRecipientPerSecond: null } });
    expect(line.secretFields).toEqual(['channelSecret', 'channelAccessToken']);
  });

  it('needs the secret and a long-lived token or a channel id', () => {
    expect(lineSettingsSchema.safeParse({ channelSecret: SECRETS.channelSecret }).success).toBe(false);
    expect(lineSettingsSchema.safeParse({ channelSecret: SECRETS.channelSecret, channelAccessToken: SECRETS.channelAccessToken }).success).toBe(true);
    expect(lineSettingsSchema.safeParse({ channelSecret: SECRETS.channelSecret, channelId: '1234567890' }).success).toBe(true);
    expect(lineSettingsSchema.safeParse({ channelSecret: SECRETS.channelSecret, channelId: 'abc' }).success).toBe(false);
    expect(lineSettingsSchema.safeParse({ channelSecret: SECRETS.channelSecret, channelId: '1', videoPreviewUrl: 'ftp://x' }).success).toBe(false);
  });

  it('apiBase covers the content host too, unless dataApiBase says otherwise', () => {
    expect(lineBases(testAccount())).toEqual({ api: 'https://api.line.me', data: LINE_DATA_API_BASE });
    expect(lineBases(testAccount({ apiBase: 'http://127.0.0.1:8080/sandbox/line' }))).toEqual({
      api: 'http://127.0.0.1:8080/sandbox/line',
      data: 'http://127.0.0.1:8080/sandbox/line',
    });
    expect(lineBases(testAccount({ apiBase: 'https://proxy.example', settings: { dataApiBase: 'https://data.proxy.example' } })).data).toBe('https://data.proxy.example');
  });

  it('declares no window, the monthly push quota and the five-message limit as data', () => {
    const capabilities = lineCapabilities(testAccount(), true);
    expect(capabilities.session.windowMs).toBeNull();
    expect(capabilities.accountQuotas).toEqual([{ name: 'monthly_push', appliesTo: 'push' }]);
    expect(capabilities.outbound).toMatchObject({ maxTextLength: 5000, maxParts: 5 });
    expect(capabilities.receipts).toEqual([]);
  });
});

describe('config/channels/acme-line.yaml', () => {
  const sample = fileURLToPath(new URL('../../../config/channels/acme-line.yaml', import.meta.url));

  async function load(env: NodeJS.ProcessEnv): Promise<AccountConfig> {
    const dir = await mkdtemp(join(tmpdir(), 'omnibus-line-'));
    try {
      await mkdir(join(dir, 'channels'));
      await copyFile(sample, join(dir, 'channels', 'acme-line.yaml'));
      const files = await loadChannelFiles(dir, new Map([['line', line]]), env, { sandbox: true });
      return files.accounts.get('acme-line')!;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  it('loads as a sandbox account with placeholder secrets when no variable is set', async () => {
    const account = await load({});
    expect(account).toMatchObject({ id: 'acme-line', channel: 'line', enabled: true, apiBase: null, session: { window: 'none', windowMs: null } });
    expect(account.settings).toEqual({
      channelSecret: 'sandbox-channel-secret',
      channelAccessToken: 'sandbox-channel-access-token',
      dataApiBase: null,
      videoPreviewUrl: null,
    });
  });

  it('takes the real values from the environment', async () => {
    const env = { LINE_CHANNEL_SECRET: SECRETS.channelSecret, LINE_CHANNEL_ACCESS_TOKEN: SECRETS.channelAccessToken };
    expect((await load(env)).settings).toMatchObject({ channelSecret: SECRETS.channelSecret, channelAccessToken: SECRETS.channelAccessToken });
  });
});
