/** Telegram settings, capabilities as data, and the sample account file through the real loader. */
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { telegram } from '../../../src/channels/telegram/index.ts';
import { DEFAULT_ALLOWED_UPDATES } from '../../../src/channels/telegram/config.ts';
import { loadChannelFiles } from '../../../src/core/config/channel-files.ts';
import type { AccountConfig } from '../../../src/core/config/types.ts';
import { SECRETS, createAdapter, testAccount } from './helpers.ts';

describe('telegram settings', () => {
  const schema = telegram.settingsSchema;

  it('fills the defaults: webhook mode, no registration, the understood update kinds, a 25 s poll', () => {
    expect(schema.parse({ ...SECRETS })).toEqual({ ...SECRETS, mode: 'webhook', registerWebhook: false, allowedUpdates: [...DEFAULT_ALLOWED_UPDATES], pollTimeoutSeconds: 25 });
    expect(schema.parse({ botToken: SECRETS.botToken, mode: 'polling', registerWebhook: 'false', pollTimeoutSeconds: '50' })).toMatchObject({ mode: 'polling', registerWebhook: false, pollTimeoutSeconds: 50 });
  });

  it('refuses a malformed token, a short or unallowed secret, a missing secret in webhook mode', () => {
    const issues = (value: unknown) => {
      const result = schema.safeParse(value);
      return result.success ? [] : result.error.issues.map((issue) => issue.path.join('.'));
    };
    expect(issues({ ...SECRETS, botToken: 'not-a-token' })).toEqual(['botToken']);
    expect(issues({ ...SECRETS, secretToken: 'short' })).toEqual(['secretToken']);
    expect(issues({ ...SECRETS, secretToken: 'has spaces in it, not allowed!!' })).toEqual(['secretToken']);
    expect(issues({ botToken: SECRETS.botToken })).toEqual(['secretToken']);
    expect(issues({ ...SECRETS, pollTimeoutSeconds: 51 })).toEqual(['pollTimeoutSeconds']);
    expect(issues({ ...SECRETS, extra: 1 })).toEqual(['']);
  });

  it('declares both secrets, Telegram defaults, and capabilities as data', () => {
    expect(telegram.secretFields).toEqual(['botToken', 'secretToken']);
    expect(telegram.defaults).toEqual({ window: 'none', attachments: ['pdf', 'gif', 'zip', 'mp4', 'mp3', 'm4a', 'jpg', 'jpeg', 'png'], rateLimit: { perSecond: 30, perRecipientPerSecond: 1, perGroupPerMinute: 20 } });
    const { capabilities } = createAdapter();
    expect(capabilities.session).toEqual({
      windowMs: null,
      grants: { message: { durationMs: null, quota: null } },
      allowedOutsideWindow: [],
      kinds: { business: { windowMs: 86_400_000, allowedOutsideWindow: [] } },
    });
    expect(capabilities.outbound).toMatchObject({ maxTextLength: 4096, maxCaptionLength: 1024, replyTo: true });
    expect(capabilities.outbound!.parts).toEqual(expect.arrayContaining(['text', 'image', 'file', 'location', 'buttons']));
    expect(capabilities.receipts).toEqual([]);
    expect(capabilities.templates).toBeNull();
    expect(capabilities.rateLimit).toEqual({ perSecond: 30, perRecipientPerSecond: 1, perGroupPerMinute: 20 });
    expect(capabilities.attachments.maxBytes).toMatchObject({ image: 10 * 1024 * 1024, file: 50 * 1024 * 1024 });
    expect(capabilities.attachments.inboundMaxBytes).toBe(20 * 1024 * 1024);
    expect(capabilities.inbound).toEqual(['webhook', 'polling']);
    expect(createAdapter(testAccount({ windowMs: 3_600_000 })).capabilities.session.grants.message!.durationMs).toBe(3_600_000);
  });
});

describe('config/channels/acme-telegram.yaml', () => {
  const sample = fileURLToPath(new URL('../../../config/channels/acme-telegram.yaml', import.meta.url));

  async function load(env: NodeJS.ProcessEnv): Promise<AccountConfig> {
    const dir = await mkdtemp(join(tmpdir(), 'omnibus-tg-'));
    try {
      await mkdir(join(dir, 'channels'));
      await copyFile(sample, join(dir, 'channels', 'acme-telegram.yaml'));
      const files = await loadChannelFiles(dir, new Map([['telegram', telegram]]), env, { sandbox: true });
      return files.accounts.get('acme-telegram')!;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  it('loads as a sandbox account with placeholder secrets when no variable is set', async () => {
    const account = await load({});
    expect(account).toMatchObject({ id: 'acme-telegram', channel: 'telegram', enabled: true, apiBase: null, session: { windowMs: null } });
    expect(account.rateLimit).toEqual({ perSecond: 30, perRecipientPerSecond: 1, perGroupPerMinute: 20 });
    expect(account.settings).toEqual({
      botToken: '7000000001:AAsandbox-bot-token-0000000000000000',
      secretToken: 'sandbox-telegram-secret-token',
      mode: 'webhook',
      registerWebhook: false,
      allowedUpdates: [...DEFAULT_ALLOWED_UPDATES],
      pollTimeoutSeconds: 25,
    });
  });

  it('takes the real secrets from the environment', async () => {
    const account = await load({ TELEGRAM_BOT_TOKEN: '123456:ABCdefGHIjklMNOpqrSTUvwxYZ012345', TELEGRAM_SECRET_TOKEN: 'real-secret-token-0123456789' });
    expect(account.settings).toMatchObject({ botToken: '123456:ABCdefGHIjklMNOpqrSTUvwxYZ012345', secretToken: 'real-secret-token-0123456789' });
  });
});
