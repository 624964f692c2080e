/** WhatsApp settings, capabilities as data, and the sample account file through the real loader. */
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { whatsapp } from '../../../src/channels/whatsapp/index.ts';
import { whatsappCapabilities } from '../../../src/channels/whatsapp/config.ts';
import { loadChannelFiles } from '../../../src/core/config/channel-files.ts';
import type { AccountConfig } from '../../../src/core/config/types.ts';
import { SECRETS, testAccount } from './helpers.ts';

describe('whatsapp settings', () => {
  const valid = { phoneNumberId: '106540352242922', ...SECRETS };

  it('defaults apiVersion to v23.0 and keeps wabaId optional', () => {
    expect(whatsapp.settingsSchema.parse(valid)).toEqual({ ...valid, apiVersion: 'v23.0' });
    expect(whatsapp.settingsSchema.parse({ ...valid, wabaId: '102290129340398', apiVersion: 'v24.0' })).toMatchObject({ wabaId: '102290129340398' });
  });

  it('rejects a phone number instead of its id, unknown keys, empty secrets and odd versions', () => {
    for (const settings of [
      { ...valid, phoneNumberId: '+1 555 0100' },
      { ...valid, phoneNumberId: 106540352242922 },
      { ...valid, extra: true },
      { ...valid, appSecret: '' },
      { ...valid, apiVersion: '23' },
      { phoneNumberId: '1' },
      {},
    ]) {
      expect(whatsapp.settingsSchema.safeParse(settings).success, JSON.stringify(settings)).toBe(false);
    }
  });

  it('declares the three secrets and the contract defaults', () => {
    expect([...whatsapp.secretFields].sort()).toEqual(['accessToken', 'appSecret', 'verifyToken']);
    expect(whatsapp.defaults).toEqual({
      window: '24h',
      attachments: ['pdf', 'mp4', 'mp3', 'ogg', 'amr', 'jpg', 'jpeg', 'png'],
      rateLimit: { perSecond: 80, perRecipientPerSecond: null },
    });
    expect(whatsapp.sandbox).toBeDefined();
  });
});

describe('whatsapp capabilities', () => {
  it('derive the window, attachments and rates from the account', () => {
    const capabilities = whatsappCapabilities(testAccount());
    expect(capabilities).toEqual({
      session: { windowMs: 86_400_000, grants: { message: { durationMs: 86_400_000, quota: null } }, allowedOutsideWindow: ['template'] },
      outbound: {
        parts: ['text', 'image', 'video', 'audio', 'voice', 'file', 'sticker', 'location', 'reaction', 'buttons', 'list'],
        maxTextLength: 4096,
        maxCaptionLength: 1024,
        textUnit: 'chars',
        replyTo: true,
      },
      attachments: {
        allow: ['pdf', 'mp4', 'mp3', 'ogg', 'amr', 'jpg', 'jpeg', 'png'],
        maxBytes: { image: 5_000_000, video: 16_000_000, audio: 16_000_000, voice: 16_000_000, file: 100_000_000, sticker: 500_000 },
        inboundMaxBytes: 104_857_600,
      },
      templates: { maxBodyParams: 100, maxNameLength: 512 },
      signals: ['read', 'typing'],
      receipts: ['sent', 'delivered', 'read'],
      rateLimit: { perSecond: 80, perRecipientPerSecond: null },
      ordering: 'conversation',
      inbound: ['webhook'],
    });
  });

  it('cap inbound media at the account limit when it is lower, never above 100 MiB', () => {
    expect(whatsappCapabilities(testAccount({ maxBytes: 1_000_000 })).attachments.inboundMaxBytes).toBe(1_000_000);
    expect(whatsappCapabilities(testAccount({ maxBytes: 1_000_000_000 })).attachments.inboundMaxBytes).toBe(104_857_600);
  });

  it('follow a window the operator changed', () => {
    const account = { ...testAccount(), session: { windowMs: 3_600_000, window: '1h', expiringNoticeMs: 600_000 } };
    expect(whatsappCapabilities(account).session.grants.message).toEqual({ durationMs: 3_600_000, quota: null });
  });

  it('send is wired', () => {
    expect(typeof whatsapp.create({ account: testAccount() } as never).send).toBe('function');
  });
});

describe('config/channels/acme-wa.yaml', () => {
  const sample = fileURLToPath(new URL('../../../config/channels/acme-wa.yaml', import.meta.url));

  async function load(env: NodeJS.ProcessEnv): Promise<AccountConfig> {
    const dir = await mkdtemp(join(tmpdir(), 'omnibus-wa-'));
    try {
      await mkdir(join(dir, 'channels'));
      await copyFile(sample, join(dir, 'channels', 'acme-wa.yaml'));
      const files = await loadChannelFiles(dir, new Map([['whatsapp', whatsapp]]), env, { sandbox: true });
      return files.accounts.get('acme-wa')!;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  it('loads as a sandbox account with placeholder secrets when no variable is set', async () => {
    const account = await load({});
    expect(account).toMatchObject({ id: 'acme-wa', channel: 'whatsapp', enabled: true, apiBase: null });
    expect(account.settings).toEqual({
      phoneNumberId: '106540352242922',
      accessToken: 'sandbox-access-token',
      appSecret: 'sandbox-app-secret',
      verifyToken: 'sandbox-verify-token',
      apiVersion: 'v23.0',
      wabaId: '102290129340398',
    });
    expect(account.prices).toMatchObject({ currency: 'USD', categories: { marketing: 0.0625, utility: 0.02 } });
  });

  it('takes the real secrets from the environment', async () => {
    const account = await load({ WA_ACCESS_TOKEN: 'EAAG-real', WA_APP_SECRET: 'real-secret', WA_VERIFY_TOKEN: 'real-verify' });
    expect(account.settings).toMatchObject({ accessToken: 'EAAG-real', appSecret: 'real-secret', verifyToken: 'real-verify' });
  });
});
