/**
 * The shipped sample configuration signs webhooks with secrets printed in the repository.
 * Copied to production with `sandbox: false`, it must not load: every sample secret is an
 * issue naming its file and field. In sandbox mode the same files load as they are.
 */
import { cp, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { channels } from '../../src/channels/index.ts';
import { ConfigError, loadConfig } from '../../src/core/config/load.ts';
import { removeDir, tempConfigDir } from './helpers.ts';

const SAMPLES = fileURLToPath(new URL('../../config', import.meta.url));
const dirs: string[] = [];

afterEach(async () => {
  await Promise.all(dirs.splice(0).map(removeDir));
});

/** The shipped config directory, copied, with `sandbox:` set as given and a real API token. */
async function copiedSamples(sandbox: boolean): Promise<string> {
  const dir = await tempConfigDir();
  dirs.push(dir);
  await cp(SAMPLES, dir, { recursive: true });
  const file = join(dir, 'omnibus.yaml');
  const text = (await readFile(file, 'utf8')).replace(/^sandbox: true$/m, `sandbox: ${sandbox}`);
  expect(text).toMatch(new RegExp(`^sandbox: ${sandbox}$`, 'm'));
  await writeFile(file, text);
  return dir;
}

/** The `${NAME:-fallback}` defaults of one sample channel file, by field. */
async function fallbacks(file: string): Promise<Record<string, string>> {
  const text = await readFile(join(SAMPLES, 'channels', file), 'utf8');
  const found: Record<string, string> = {};
  for (const match of text.matchAll(/^(\w+):\s*"?\$\{\w+:-([^}]+)\}"?/gm)) found[match[1]!] = match[2]!;
  return found;
}

describe('sample secrets outside the sandbox', () => {
  // A real API token: the sample one is refused too, and is not what this test is about.
  const env = { OMNIBUS_API_TOKEN: 'a-real-production-token-0123456789' };

  it('refuse a production config copied from the samples, naming each file and secret field', async () => {
    const dir = await copiedSamples(false);
    const error = await loadConfig(dir, channels, env).then(
      () => null,
      (thrown: unknown) => thrown,
    );
    expect(error).toBeInstanceOf(ConfigError);
    const found = (error as ConfigError).issues.map((issue) => `${issue.file.split('/').pop()} ${issue.path}`).sort();
    expect(found).toEqual(
      [
        'acme-line.yaml channelAccessToken',
        'acme-line.yaml channelSecret',
        'acme-telegram.yaml botToken',
        'acme-telegram.yaml secretToken',
        'acme-wa.yaml accessToken',
        // The webhook signing secret: anyone could sign a WhatsApp webhook with it.
        'acme-wa.yaml appSecret',
        'acme-wa.yaml verifyToken',
        'acme-wechat.yaml appSecret',
        'acme-wechat.yaml encodingAesKey',
        'acme-wechat.yaml token',
      ].sort(),
    );
    for (const issue of (error as ConfigError).issues) {
      expect(issue.message).toMatch(/public sample value/);
      expect(issue.line).not.toBeNull();
      // Never echo the secret, even a public one: the message reads the same for a real leak.
      expect(issue.message).not.toMatch(/sandbox-|sandboxToken|AAsandbox/);
    }
  });

  it('load the same files in sandbox mode, and real secrets from the environment in production', async () => {
    const sandbox = await copiedSamples(true);
    expect((await loadConfig(sandbox, channels, env)).accounts.size).toBe(4);
    const production = await copiedSamples(false);
    const real = {
      ...env,
      WA_ACCESS_TOKEN: 'EAAG-real', WA_APP_SECRET: 'real-app-secret', WA_VERIFY_TOKEN: 'real-verify',
      WECHAT_APP_SECRET: 'real-wechat-secret', WECHAT_TOKEN: 'realToken', WECHAT_ENCODING_AES_KEY: 'R'.repeat(43),
      TELEGRAM_BOT_TOKEN: '123456789:AAreal-bot-token-000000000000000000', TELEGRAM_SECRET_TOKEN: 'real-secret-token',
      LINE_CHANNEL_SECRET: 'real-line-secret', LINE_CHANNEL_ACCESS_TOKEN: 'real-line-access',
    };
    expect((await loadConfig(production, channels, real)).accounts.size).toBe(4);
  });

  it('cover every secret fallback in the shipped channel files (data kept in step with the samples)', async () => {
    for (const file of await readdir(join(SAMPLES, 'channels'))) {
      const text = await readFile(join(SAMPLES, 'channels', file), 'utf8');
      const channel = /^channel:\s*(\w+)/m.exec(text)?.[1];
      const definition = channel ? channels.get(channel) : undefined;
      expect(definition, file).toBeDefined();
      const defaults = await fallbacks(file);
      for (const field of definition!.secretFields) {
        if (defaults[field] === undefined) continue;
        expect(definition!.sampleSecrets?.[field], `${file} ${field}`).toContain(defaults[field]);
      }
    }
  });
});
