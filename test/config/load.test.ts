import { copyFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, formatIssues, loadConfig } from '../../src/core/config/load.ts';
import type { ConfigIssue, LoadedConfig } from '../../src/core/config/types.ts';
import { channels } from './fake-channels.ts';
import { channels as shippedChannels } from '../../src/channels/index.ts';
import { fixture, removeDir, tempConfigDir, writeFiles } from './helpers.ts';

const dirs: string[] = [];

/** The nats authentication, TLS and JetStream fields when a file sets none of them. */
const NO_NATS_AUTH = {
  creds: null, nkey: null, user: null, password: null, token: null,
  tls: { ca: null, cert: null, key: null, handshakeFirst: false }, jsDomain: null, apiPrefix: null,
};
afterEach(async () => {
  await Promise.all(dirs.splice(0).map(removeDir));
});

async function dirWith(files: Record<string, string>): Promise<string> {
  const dir = await tempConfigDir();
  dirs.push(dir);
  await writeFiles(dir, files);
  return dir;
}

/** The issues of a load that must fail. */
async function issuesOf(dir: string, env: NodeJS.ProcessEnv = {}): Promise<ConfigIssue[]> {
  const error = await loadConfig(dir, channels, env).then(
    () => null,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(ConfigError);
  return [...(error as ConfigError).issues];
}

const CHAT = 'id: acme-chat\nchannel: chat\ntoken: t\n';

describe('loadConfig: defaults', () => {
  it('fills every contract default when there is no file at all', async () => {
    const config = await loadConfig(await dirWith({}), channels, {});
    expect(config.daemon).toEqual({
      http: {
        host: '0.0.0.0',
        port: 8080,
        publicUrl: null,
        bodyLimitBytes: 4194304,
        headersTimeoutMs: 15000,
        requestTimeoutMs: 30000,
        keepAliveTimeoutMs: 5000,
        maxConnections: 1000,
      },
      nats: { url: null, prefix: 'omni', replicas: 1, ...NO_NATS_AUTH },
      database: { url: null, ingestLanes: 'auto' },
      dataDir: resolve(process.cwd(), 'data'),
      media: { maxBytes: 104857600, store: 'file' },
      api: { tokens: [], bodyLimitBytes: 1048576, concurrency: 16, maxPending: 512 },
      // phone, plus the evidence namespaces the channels turn on by default.
      merge: { auto: ['phone', 'chat_member'], defaultRegion: null },
      log: { level: 'info', format: 'auto' },
      sandbox: false,
      console: { enabled: false, sessionTtlMinutes: 720 },
    });
    expect(config.accounts.size).toBe(0);
  });

  it('treats sections whose lines are all commented out (null in YAML) as defaults', async () => {
    const dir = await dirWith({ 'omnibus.yaml': 'http:\n  # port: 1\nlog:\n', 'channels/a.yaml': `${CHAT}session:\nrateLimit:\n` });
    const config = await loadConfig(dir, channels, {});
    expect(config.daemon.http.port).toBe(8080);
    expect(config.accounts.get('acme-chat')?.session.window).toBe('24h');
  });

  it("applies the channel definition's defaults to channel files", async () => {
    const dir = await dirWith({ 'channels/a.yaml': CHAT, 'channels/b.yaml': 'id: acme-bot\nchannel: bot\ntoken: "12345678"\n' });
    const config = await loadConfig(dir, channels, {});
    expect(config.accounts.get('acme-chat')).toEqual({
      id: 'acme-chat',
      channel: 'chat',
      enabled: true,
      apiBase: null,
      session: { windowMs: 86_400_000, window: '24h', expiringNoticeMs: 3_600_000 },
      attachments: { allow: ['pdf', 'jpg', 'png'], maxBytes: null },
      rateLimit: { perSecond: 80, perRecipientPerSecond: null, perGroupPerMinute: null },
      prices: null,
      settings: { token: 't', mode: 'a' },
    });
    const bot = config.accounts.get('acme-bot');
    expect(bot?.session).toEqual({ windowMs: null, window: 'none', expiringNoticeMs: 3_600_000 });
    expect(bot?.rateLimit).toEqual({ perSecond: 30, perRecipientPerSecond: 1, perGroupPerMinute: null });
    expect(config.accountFiles.get('acme-bot')).toBe(join(dir, 'channels', 'b.yaml'));
  });

  it('loads a complete configuration, normalising what it reads', async () => {
    const env = { CHAT_TOKEN: 'chat-secret', API_TOKEN: 'api-token-0123456789abcdef', PORT: '9191' };
    const config = await loadConfig(fixture('valid'), channels, env);
    expect(config.dir).toBe(fixture('valid'));
    expect(config.daemon.http).toMatchObject({ host: '127.0.0.1', port: 9191, publicUrl: 'https://omni.example.com', bodyLimitBytes: 1048576 });
    expect(config.daemon.nats).toEqual({ url: 'nats://n1.example.com:4222,tls://n2.example.com:4222', prefix: 'acme', replicas: 1, ...NO_NATS_AUTH });
    expect(config.daemon.database.url).toBe('postgres://omni@localhost:5432/omni');
    expect(config.daemon.dataDir).toBe('/var/lib/omnibus');
    expect(config.daemon.api.tokens).toEqual([
      { token: 'api-token-0123456789abcdef', scopes: ['read', 'write'] },
      { token: 'read-only-token-0123456789', scopes: ['read'] },
    ]);
    expect(config.daemon.merge).toEqual({ auto: ['phone', 'email'], defaultRegion: 'DE' });
    expect(config.daemon.log.level).toBe('debug');
    expect(config.daemon.sandbox).toBe(false);

    const chat = config.accounts.get('acme-chat');
    expect(chat?.session).toEqual({ windowMs: 172_800_000, window: '48h', expiringNoticeMs: 5_400_000 });
    expect(chat?.attachments.allow).toEqual(['pdf', 'jpg']);
    expect(chat?.settings).toEqual({ token: 'chat-secret', mode: 'b' });
    const bot = config.accounts.get('acme-bot');
    expect(bot?.enabled).toBe(false);
    expect(bot?.apiBase).toBe('http://localhost:8080/sandbox/bot');
    expect(bot?.rateLimit.perSecond).toBe(12.5);
  });

  it('loads the shipped config/omnibus.yaml (sandbox, fallback API token)', async () => {
    const dir = await dirWith({});
    await copyFile(fileURLToPath(new URL('../../config/omnibus.yaml', import.meta.url)), join(dir, 'omnibus.yaml'));
    const config = await loadConfig(dir, channels, {});
    expect(config.daemon.sandbox).toBe(true);
    expect(config.daemon.api.tokens).toEqual([{ token: 'sandbox-token-change-me', scopes: ['read', 'write'] }]);
    const withToken = await loadConfig(dir, channels, { OMNIBUS_API_TOKEN: 'a-real-token-from-the-env' });
    expect(withToken.daemon.api.tokens[0]?.token).toBe('a-real-token-from-the-env');
    const { api, sandbox, ...rest } = config.daemon;
    const defaults = await loadConfig(await dirWith({}), channels, {});
    const { api: _api, sandbox: _sandbox, ...defaultRest } = defaults.daemon;
    expect(rest).toEqual(defaultRest);
  });
});

describe('loadConfig: the sample API token', () => {
  it('is refused outside sandbox mode', async () => {
    const daemon = 'sandbox: ${SANDBOX:-false}\napi:\n  tokens:\n    - token: "${OMNIBUS_API_TOKEN:-sandbox-token-change-me}"\n      scopes: [read]\n';
    const dir = await dirWith({ 'omnibus.yaml': daemon });
    const issues = await issuesOf(dir);
    expect(issues).toMatchObject([{ line: 4, path: 'api.tokens[0].token' }]);
    expect(issues[0]?.message).toContain('sample sandbox token');
    expect((await loadConfig(dir, channels, { SANDBOX: 'true' })).daemon.sandbox).toBe(true);
    expect((await loadConfig(dir, channels, { OMNIBUS_API_TOKEN: 'a-real-token-from-the-env' })).daemon.sandbox).toBe(false);
  });
});

describe('loadConfig: environment substitution', () => {
  it('substitutes ${VAR}, ${VAR:-default} and keeps $${ as a literal ${', async () => {
    const dir = await dirWith({
      'omnibus.yaml': 'http:\n  port: ${PORT}\n  host: "${HOST:-127.0.0.1}"\nsandbox: ${SANDBOX}\n',
      'channels/a.yaml': 'id: acme-chat\nchannel: chat\ntoken: "${TOKEN}-x-$${TOKEN}"\nmode: ${MODE:-b}\n',
    });
    const config = await loadConfig(dir, channels, { PORT: '8443', SANDBOX: 'true', TOKEN: 'abc', MODE: '' });
    expect(config.daemon.http.port).toBe(8443);
    expect(config.daemon.http.host).toBe('127.0.0.1');
    expect(config.daemon.sandbox).toBe(true);
    expect(config.accounts.get('acme-chat')?.settings).toEqual({ token: 'abc-x-${TOKEN}', mode: 'b' });
  });

  it('names file, line, field and variable for a missing variable', async () => {
    const dir = await dirWith({ 'channels/acme-wa.yaml': 'id: acme-wa\nchannel: chat\n\ntoken: ${WA_TOKEN}\n' });
    const issues = await issuesOf(dir);
    const file = relative(process.cwd(), join(dir, 'channels', 'acme-wa.yaml'));
    const expectedFile = file.startsWith('..') ? join(dir, 'channels', 'acme-wa.yaml') : file;
    expect(issues).toEqual([{ file: expectedFile, line: 4, path: 'token', message: 'environment variable WA_TOKEN is not set' }]);
    expect(formatIssues(issues)).toBe(`${expectedFile}:4 token: environment variable WA_TOKEN is not set`);
  });

  it('reports malformed references', async () => {
    const dir = await dirWith({ 'omnibus.yaml': 'http:\n  host: "${1BAD}"\nnats:\n  prefix: "${UNCLOSED"\n' });
    const issues = await issuesOf(dir);
    expect(issues.map((issue) => [issue.line, issue.path])).toEqual([
      [2, 'http.host'],
      [4, 'nats.prefix'],
    ]);
    expect(issues[0]?.message).toContain('invalid reference');
    expect(issues[1]?.message).toContain('unterminated');
  });

  it('never echoes substituted values or secret fields in messages', async () => {
    const dir = await dirWith({
      'omnibus.yaml': 'api:\n  tokens:\n    - token: ${API_TOKEN}\n      scopes: [read]\nlog:\n  level: ${LEVEL}\n',
      'channels/a.yaml': 'id: acme-chat\nchannel: chat\ntoken: 42\nmode: ${MODE}\n',
    });
    const env = { API_TOKEN: 'hunter2-short', LEVEL: 'loud-secret-level', MODE: 'mode-secret' };
    const error = await loadConfig(dir, channels, env).catch((thrown: ConfigError) => thrown);
    expect(error).toBeInstanceOf(ConfigError);
    const text = `${(error as ConfigError).message}\n${JSON.stringify((error as ConfigError).issues)}`;
    for (const value of Object.values(env)) expect(text).not.toContain(value);
    expect((error as ConfigError).issues.map((issue) => issue.path)).toEqual(['api.tokens[0].token', 'log.level', 'token', 'mode']);
  });
});

describe('loadConfig: errors', () => {
  it('reports every problem of every file at once, each with file, line and field', async () => {
    const issues = await issuesOf(fixture('broken'), { CHAT_TOKEN: 'x' });
    const where = issues.map((issue) => `${issue.file.split('/').slice(-2).join('/')}:${issue.line} ${issue.path}`);
    expect(where).toEqual([
      'broken/omnibus.yaml:1 htpp',
      'broken/omnibus.yaml:4 http.prot',
      'broken/omnibus.yaml:5 http.port',
      'broken/omnibus.yaml:7 nats.url',
      'broken/omnibus.yaml:8 nats.prefix',
      'broken/omnibus.yaml:11 api.tokens[0].token',
      'broken/omnibus.yaml:12 api.tokens[0].scopes',
      'broken/omnibus.yaml:14 merge.defaultRegion',
      'channels/a-chat.yaml:1 id',
      'channels/a-chat.yaml:4 mode',
      'channels/a-chat.yaml:5 sesion',
      'channels/a-chat.yaml:8 session.window',
      'channels/b-bot.yaml:1 id',
      'channels/b-bot.yaml:3 token',
      'channels/b-bot.yaml:6 session.expiringNotice',
      'channels/c-unknown.yaml:2 channel',
      'channels/d-syntax.yaml:4 ',
    ]);
    expect(issues.every((issue) => issue.message.length > 0)).toBe(true);
    expect(issues.at(-1)?.message).toMatch(/^YAML syntax error/);
  });

  it('suggests the field meant by an unknown key', async () => {
    const dir = await dirWith({ 'omnibus.yaml': 'htpp:\n  port: 1\nhttp:\n  prot: 1\n', 'channels/a.yaml': `${CHAT}sesion: {}\nwhatever: 1\n` });
    const messages = (await issuesOf(dir)).map((issue) => `${issue.path}: ${issue.message}`);
    expect(messages).toEqual([
      'htpp: unknown field "htpp" (did you mean "http"?)',
      'http.prot: unknown field "prot" (did you mean "port"?)',
      'sesion: unknown field "sesion" (did you mean "session"?)',
      'whatever: unknown field "whatever"',
    ]);
  });

  it('reports a duplicate account id on both files', async () => {
    const dir = await dirWith({ 'channels/one.yaml': CHAT, 'channels/two.yaml': `# copy\n${CHAT}` });
    const issues = await issuesOf(dir);
    expect(issues.map((issue) => [issue.file.split('/').at(-1), issue.line, issue.path])).toEqual([
      ['one.yaml', 1, 'id'],
      ['two.yaml', 2, 'id'],
    ]);
    expect(issues[0]?.message).toContain('two.yaml');
    expect(issues[1]?.message).toContain('one.yaml');
  });

  it('lists the known channels for an unknown one', async () => {
    const issues = await issuesOf(await dirWith({ 'channels/a.yaml': 'id: a\nchannel: fax\n' }));
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({ line: 2, path: 'channel', message: 'unknown channel "fax"; known channels: bot, chat' });
    const missing = await issuesOf(await dirWith({ 'channels/a.yaml': 'id: a\n' }));
    expect(missing[0]).toMatchObject({ line: 1, path: 'channel' });
  });

  it('rejects bad durations and a notice not shorter than the window', async () => {
    const dir = await dirWith({
      'channels/a.yaml': `${CHAT}session:\n  window: 1.5h\n`,
      'channels/b.yaml': 'id: b\nchannel: chat\ntoken: t\nsession:\n  window: 30m\n',
      'channels/c.yaml': 'id: c\nchannel: chat\ntoken: t\nsession:\n  window: 2h\n  expiringNotice: 2h\n',
      'channels/d.yaml': 'id: d\nchannel: chat\ntoken: t\nsession:\n  window: 24\n',
    });
    const issues = await issuesOf(dir);
    expect(issues.map((issue) => `${issue.line} ${issue.path}: ${issue.message}`)).toEqual([
      '5 session.window: not a duration: write a duration like 90s, 30m, 24h, 2d or 1h30m, or none',
      '4 session.expiringNotice: must be shorter than session.window (it defaults to 1h)',
      '6 session.expiringNotice: must be shorter than session.window (it defaults to 1h)',
      '5 session.window: not a duration: write a duration like 90s, 30m, 24h, 2d or 1h30m, or none',
    ]);
  });

  it('points a missing field at the line of its parent mapping', async () => {
    const dir = await dirWith({ 'omnibus.yaml': 'sandbox: true\napi:\n  tokens:\n    - scopes: [read]\n' });
    expect(await issuesOf(dir)).toMatchObject([{ line: 4, path: 'api.tokens[0].token', message: 'required field is missing' }]);
  });

  it('reports an empty channel file and a missing config directory', async () => {
    const issues = await issuesOf(await dirWith({ 'channels/empty.yaml': '# nothing yet\n' }));
    expect(issues[0]?.message).toContain('empty');
    const missing = await issuesOf(join(await dirWith({}), 'nope'));
    expect(missing[0]?.message).toBe('configuration directory not found');
  });

  it('validates daemon values', async () => {
    const dir = await dirWith({
      'omnibus.yaml': [
        'http:\n  port: "80a"\n  publicUrl: mailto:x@example.com',
        'database:\n  url: mysql://localhost/db',
        'merge:\n  auto: [phone, fax]',
        'log:\n  level: verbose',
        'sandbox: maybe',
      ].join('\n'),
    });
    expect((await issuesOf(dir)).map((issue) => issue.path)).toEqual([
      'http.port',
      'http.publicUrl',
      'database.url',
      'merge.auto[1]',
      'log.level',
      'sandbox',
    ]);
  });

  it('accepts in merge.auto the evidence namespaces the channels declare, and no other', async () => {
    const config = await loadConfig(await dirWith({ 'omnibus.yaml': 'merge:\n  auto: [email, bot_user]\n' }), channels, {});
    expect(config.daemon.merge.auto).toEqual(['email', 'bot_user']);
    const issues = await issuesOf(await dirWith({ 'omnibus.yaml': 'merge:\n  auto: [phone, wechat_unionid]\n' }));
    expect(issues.map((issue) => issue.path)).toEqual(['merge.auto[1]']);
  });

  it('keeps wechat_unionid in merge.auto by default with the shipped channels (declared by the WeChat adapter)', async () => {
    const dir = await dirWith({});
    expect((await loadConfig(dir, shippedChannels, {})).daemon.merge.auto).toEqual(['phone', 'wechat_unionid']);
    const explicit = await dirWith({ 'omnibus.yaml': 'merge:\n  auto: [wechat_unionid]\n' });
    expect((await loadConfig(explicit, shippedChannels, {})).daemon.merge.auto).toEqual(['wechat_unionid']);
  });

  it('takes the servers of a cluster as a YAML list, with a replica count', async () => {
    const dir = await dirWith({
      'omnibus.yaml': 'nats:\n  url: [" nats://n1:4222", "nats://n2:4222", "tls://n3:4222"]\n  replicas: "${REPLICAS}"\n',
    });
    const config = await loadConfig(dir, channels, { REPLICAS: '3' });
    expect(config.daemon.nats).toEqual({ url: 'nats://n1:4222,nats://n2:4222,tls://n3:4222', prefix: 'omni', replicas: 3, ...NO_NATS_AUTH });
  });

  it('takes NATS credentials from the environment and refuses muddled ones without echoing secrets', async () => {
    const good = await dirWith({
      'omnibus.yaml': 'nats:\n  url: tls://n1:4222\n  user: svc\n  password: ${NATS_PASSWORD}\n  tls: { ca: ca.pem, handshakeFirst: "true" }\n  jsDomain: hub\n',
    });
    const { nats } = (await loadConfig(good, channels, { NATS_PASSWORD: 'pw-from-env' })).daemon;
    expect(nats).toMatchObject({ user: 'svc', password: 'pw-from-env', jsDomain: 'hub', tls: { ca: resolve('ca.pem'), handshakeFirst: true } });
    const bad = await dirWith({
      'omnibus.yaml': 'nats:\n  url: nats://n1:4222\n  password: literal-secret-value\n  token: another-secret-value\n  tls: { cert: c.pem }\n  jsDomain: a\n  apiPrefix: b\n',
    });
    const issues = await issuesOf(bad);
    expect(issues.map((issue) => issue.path)).toEqual(expect.arrayContaining(['nats.user', 'nats.tls.key', 'nats.apiPrefix']));
    expect(JSON.stringify(issues)).not.toMatch(/literal-secret-value|another-secret-value/);
    const local = await dirWith({ 'omnibus.yaml': 'nats:\n  token: t0k3n\n' });
    expect((await issuesOf(local)).map((issue) => `${issue.path}: ${issue.message}`)).toEqual([expect.stringMatching(/^nats\.url: .*need a server/)]);
  });

  it('refuses more than one replica on the local single-node server, and bad server lists', async () => {
    const local = await dirWith({ 'omnibus.yaml': 'nats:\n  replicas: 3\n' });
    expect((await issuesOf(local)).map((issue) => `${issue.path}: ${issue.message}`)).toEqual([expect.stringMatching(/^nats\.replicas: .*cluster/)]);
    const bad = await dirWith({ 'omnibus.yaml': 'nats:\n  url: ["nats://n1:4222", "http://n2:4222"]\n  replicas: 9\n' });
    expect((await issuesOf(bad)).map((issue) => issue.path)).toEqual(['nats.url', 'nats.replicas']);
    const empty = await dirWith({ 'omnibus.yaml': 'nats:\n  url: []\n' });
    expect((await issuesOf(empty)).map((issue) => issue.path)).toEqual(['nats.url']);
  });
});

describe('loadConfig: freezing', () => {
  it('returns a deeply frozen configuration', async () => {
    const config: LoadedConfig = await loadConfig(fixture('valid'), channels, { CHAT_TOKEN: 'c', API_TOKEN: 'api-token-0123456789abcdef' });
    const mutable = config as unknown as {
      daemon: { http: { port: number }; api: { tokens: unknown[] } };
      accounts: Map<string, { settings: { token: string }; attachments: { allow: string[] } }>;
    };
    expect(() => {
      mutable.daemon.http.port = 1;
    }).toThrow(TypeError);
    expect(() => mutable.daemon.api.tokens.push({})).toThrow(TypeError);
    expect(() => mutable.accounts.set('x', mutable.accounts.get('acme-chat')!)).toThrow(TypeError);
    expect(() => mutable.accounts.delete('acme-chat')).toThrow(TypeError);
    const account = mutable.accounts.get('acme-chat')!;
    expect(() => {
      account.settings.token = 'changed';
    }).toThrow(TypeError);
    expect(() => account.attachments.allow.push('exe')).toThrow(TypeError);
    expect(Object.isFrozen(config)).toBe(true);
  });
});
