/** WeChat settings, capabilities as data, and the sample account file through the real loader. */
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { wechat } from '../../../src/channels/wechat/index.ts';
import { wechatCapabilities } from '../../../src/channels/wechat/config.ts';
import { channels } from '../../../src/channels/index.ts';
import { loadChannelFiles } from '../../../src/core/config/channel-files.ts';
import type { AccountConfig } from '../../../src/core/config/types.ts';
import { APP_ID, SECRETS, testAccount } from './helpers.ts';

describe('wechat settings', () => {
  const valid = { appId: APP_ID, ...SECRETS };

  it('default to safe mode and WeChat quotas', () => {
    expect(wechat.settingsSchema.parse(valid)).toEqual({ ...valid, mode: 'safe', messageQuota: 5, eventQuota: 3 });
    expect(wechat.settingsSchema.parse({ ...valid, messageQuota: '20', eventQuota: null })).toMatchObject({ messageQuota: 20, eventQuota: null });
  });

  it('need the EncodingAESKey except in plain mode', () => {
    const { encodingAesKey: _key, ...withoutKey } = valid;
    const refused = wechat.settingsSchema.safeParse(withoutKey);
    expect(refused.success).toBe(false);
    expect(refused.error!.issues[0]).toMatchObject({ path: ['encodingAesKey'], message: expect.stringContaining('safe mode') });
    expect(wechat.settingsSchema.safeParse({ ...withoutKey, mode: 'plain' }).success).toBe(true);
  });

  it('refuse malformed ids and keys, unknown keys and unknown modes', () => {
    for (const settings of [
      { ...valid, appId: 'wx123' },
      { ...valid, appId: 'gh_0123456789abcdef' },
      { ...valid, encodingAesKey: 'short' },
      { ...valid, encodingAesKey: `${'a'.repeat(42)}=` },
      { ...valid, token: 'to' },
      { ...valid, token: 'has spaces in it' },
      { ...valid, appSecret: '' },
      { ...valid, mode: 'aes' },
      { ...valid, originalId: 'toUser' },
      { ...valid, messageQuota: 0 },
      { ...valid, extra: true },
      {},
    ]) {
      expect(wechat.settingsSchema.safeParse(settings).success, JSON.stringify(settings)).toBe(false);
    }
  });

  it('declares the three secrets, the contract defaults, the sandbox, and is registered', () => {
    expect([...wechat.secretFields].sort()).toEqual(['appSecret', 'encodingAesKey', 'token']);
    expect(wechat.defaults).toEqual({ window: '48h', attachments: ['gif', 'mp4', 'mp3', 'amr', 'jpg', 'jpeg', 'png'], rateLimit: { perSecond: 20, perRecipientPerSecond: null } });
    expect(wechat.sandbox).toBeDefined();
    expect(channels.get('wechat')).toBe(wechat);
  });
});

describe('wechat capabilities', () => {
  it('declare the 48 h window with 5 messages, 3-in-a-minute grants, nothing outside the window, no receipts', () => {
    expect(wechatCapabilities(testAccount())).toEqual({
      session: {
        windowMs: 172_800_000,
        grants: {
          message: { durationMs: 172_800_000, quota: 5 },
          follow: { durationMs: 60_000, quota: 3 },
          click: { durationMs: 60_000, quota: 3 },
          scan: { durationMs: 60_000, quota: 3 },
        },
        allowedOutsideWindow: [],
      },
      // No files, locations or reactions on the customer-service API; text is counted in bytes.
      outbound: {
        parts: ['text', 'image', 'sticker', 'voice', 'audio', 'video', 'buttons', 'list'],
        maxTextLength: 2048,
        maxCaptionLength: 2048,
        textUnit: 'utf8_bytes',
      },
      attachments: {
        allow: ['gif', 'mp4', 'mp3', 'amr', 'jpg', 'jpeg', 'png'],
        maxBytes: { image: 2_000_000, sticker: 2_000_000, voice: 2_000_000, audio: 2_000_000, video: 10_000_000 },
        inboundMaxBytes: 104_857_600,
      },
      templates: null,
      signals: ['typing'],
      receipts: [],
      rateLimit: { perSecond: 20, perRecipientPerSecond: null },
      ordering: 'conversation',
      inbound: ['webhook'],
    });
  });

  it('follow the configured window and quotas', () => {
    const account = { ...testAccount({ settings: { messageQuota: 20, eventQuota: null } }), session: { windowMs: 3_600_000, window: '1h', expiringNoticeMs: 600_000 } };
    const { grants } = wechatCapabilities(account).session;
    expect(grants.message).toEqual({ durationMs: 3_600_000, quota: 20 });
    expect(grants.follow).toEqual({ durationMs: 60_000, quota: null });
  });
});

describe('config/channels/acme-wechat.yaml', () => {
  const sample = fileURLToPath(new URL('../../../config/channels/acme-wechat.yaml', import.meta.url));

  async function load(env: NodeJS.ProcessEnv): Promise<AccountConfig> {
    const dir = await mkdtemp(join(tmpdir(), 'omnibus-wechat-'));
    try {
      await mkdir(join(dir, 'channels'));
      await copyFile(sample, join(dir, 'channels', 'acme-wechat.yaml'));
      const files = await loadChannelFiles(dir, new Map([['wechat', wechat]]), env, { sandbox: true });
      return files.accounts.get('acme-wechat')!;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  it('loads as a safe-mode sandbox account with placeholder secrets when no variable is set', async () => {
    const account = await load({});
    expect(account).toMatchObject({ id: 'acme-wechat', channel: 'wechat', enabled: true, apiBase: null, session: { window: '48h' } });
    expect(account.settings).toEqual({
      appId: 'wxsandbox000000001',
      appSecret: 'sandbox-app-secret',
      token: 'sandboxToken',
      encodingAesKey: 'sandboxEncodingAesKey0000000000000000000000',
      mode: 'safe',
      messageQuota: 5,
      eventQuota: 3,
    });
  });

  it('takes the real values from the environment', async () => {
    const env = { WECHAT_APP_ID: 'wx2c2769f8efd9abc2', WECHAT_APP_SECRET: 'real-secret', WECHAT_TOKEN: 'realToken', WECHAT_ENCODING_AES_KEY: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG' };
    expect((await load(env)).settings).toMatchObject({ appId: env.WECHAT_APP_ID, appSecret: 'real-secret', token: 'realToken', encodingAesKey: env.WECHAT_ENCODING_AES_KEY });
  });
});
