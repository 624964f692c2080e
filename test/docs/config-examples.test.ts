/**
 * Configuration shown in the docs is configuration the loader accepts: every `nats.prefix`
 * example (docs/asyncapi.yaml and the Markdown docs) with the stream names the docs derive from
 * it, the AsyncAPI channel and account parameter examples, and every YAML block of the docs
 * that is a daemon file or a channel file.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { channels } from '../../src/channels/index.ts';
import { loadConfig } from '../../src/core/config/load.ts';
import { streams } from '../../src/core/schemas/subjects.ts';
import { removeDir, tempConfigDir, writeFiles } from '../config/helpers.ts';

const DOCS = fileURLToPath(new URL('../../docs/', import.meta.url));
const docFiles = readdirSync(DOCS).filter((name) => name.endsWith('.md') || name.endsWith('.yaml'));
const text = (name: string) => readFileSync(`${DOCS}${name}`, 'utf8');
const asyncapi = parse(text('asyncapi.yaml')) as {
  info: { description: string };
  components: { parameters: Record<string, { examples?: string[] }> };
};

/** `nats.prefix: acme`, "`nats.prefix`: `acme` gives", "`nats.prefix` (one token, e.g. `acme-omni`)". */
function prefixExamples(source: string): string[] {
  const patterns = [/`nats\.prefix: ([^`]+)`/g, /`nats\.prefix`: `([^`]+)`/g, /`nats\.prefix`[^`]{0,40}e\.g\. `([^`]+)`/g];
  return patterns.flatMap((pattern) => [...source.matchAll(pattern)].map((m) => m[1]!.trim()));
}

/** Values for the `${NAME}` references of the examples, each of the form its field wants. */
const ENV: Record<string, string> = {
  OMNIBUS_API_TOKEN: 'docs-example-token-0123456789',
  PGPASSWORD: 'docs-example-password',
  DATABASE_URL: 'postgres://omnibus:secret@db.internal:5432/omnibus',
  NATS_PASSWORD: 'docs-example-password',
  NATS_TOKEN: 'docs-example-nats-token',
  WA_ACCESS_TOKEN: 'EAAGdocsExampleAccessToken0123456789',
  WA_APP_SECRET: '0123456789abcdef0123456789abcdef',
  WA_VERIFY_TOKEN: 'docs-example-verify-token',
  WECHAT_APP_ID: 'wx0123456789abcdef',
  WECHAT_APP_SECRET: '0123456789abcdef0123456789abcdef',
  WECHAT_TOKEN: 'docsExampleToken',
  WECHAT_ENCODING_AES_KEY: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG',
  TELEGRAM_BOT_TOKEN: '123456789:AAdocsExampleBotToken0123456789abcdef',
  TELEGRAM_SECRET_TOKEN: 'docs-example-secret-token',
  LINE_CHANNEL_SECRET: '0123456789abcdef0123456789abcdef',
  LINE_CHANNEL_ACCESS_TOKEN: 'docsExampleLongLivedChannelAccessToken0123456789',
  LINE_CHANNEL_ID: '1234567890',
};

const DAEMON_KEYS = new Set(['sandbox', 'http', 'nats', 'database', 'dataDir', 'media', 'api', 'log', 'merge', 'outbound']);

/** The YAML blocks of a Markdown file that are a whole daemon file or a channel file. */
function yamlBlocks(name: string): Array<{ where: string; kind: 'daemon' | 'channel'; yaml: string }> {
  const out: Array<{ where: string; kind: 'daemon' | 'channel'; yaml: string }> = [];
  const source = text(name);
  for (const match of source.matchAll(/```yaml\n([\s\S]*?)```/g)) {
    const data = parse(match[1]!) as Record<string, unknown> | null;
    if (!data || typeof data !== 'object') continue;
    const line = source.slice(0, match.index).split('\n').length;
    const where = `docs/${name}:${line}`;
    if ('id' in data && 'channel' in data) out.push({ where, kind: 'channel', yaml: match[1]! });
    else if (Object.keys(data).every((key) => DAEMON_KEYS.has(key))) out.push({ where, kind: 'daemon', yaml: match[1]! });
  }
  return out;
}

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map(removeDir));
});

async function load(files: Record<string, string>, env: Record<string, string> = ENV) {
  const dir = await tempConfigDir();
  dirs.push(dir);
  await writeFiles(dir, files);
  return loadConfig(dir, channels, env);
}

const sandboxDaemon = 'sandbox: true\n';
const productionDaemon = 'sandbox: false\napi: { tokens: [{ token: "${OMNIBUS_API_TOKEN}", scopes: [read, write] }] }\n';

describe('configuration in the docs', () => {
  const prefixes = docFiles.flatMap((name) => prefixExamples(text(name)).map((prefix) => ({ name, prefix })));

  it('finds the prefix examples (AsyncAPI and Markdown)', () => {
    expect(prefixes.map((p) => p.name)).toContain('asyncapi.yaml');
    expect(prefixes.length).toBeGreaterThanOrEqual(2);
  });

  it('gives nats.prefix examples the loader accepts', async () => {
    for (const { name, prefix } of prefixes) {
      const config = await load({ 'omnibus.yaml': `${sandboxDaemon}nats: { prefix: "${prefix}" }\n` }).catch((error: Error) => error);
      expect(config, `docs/${name}: nats.prefix ${prefix}`).not.toBeInstanceOf(Error);
      expect((config as Awaited<ReturnType<typeof loadConfig>>).daemon.nats.prefix).toBe(prefix);
    }
  });

  it('derives the stream names AsyncAPI shows from its prefix example', () => {
    const description = asyncapi.info.description;
    const [prefix] = prefixExamples(description);
    const shown = /`([A-Z0-9_]+_EVENTS)`/.exec(description.slice(description.indexOf(prefix!)))?.[1];
    expect(shown).toBe(streams(prefix).events);
  });

  it('refuses a prefix with a dot, as the loader always did (so the checks above can fail)', async () => {
    await expect(load({ 'omnibus.yaml': `${sandboxDaemon}nats: { prefix: "acme.omni" }\n` })).rejects.toThrow(/prefix/);
  });

  it('gives AsyncAPI channel and account examples that are a channel and an account id', async () => {
    const { channel, account } = asyncapi.components.parameters;
    for (const id of channel!.examples ?? []) expect([...channels.keys()]).toContain(id);
    const sample = readFileSync(new URL('../../config/channels/acme-wa.yaml', import.meta.url), 'utf8');
    for (const id of account!.examples ?? []) {
      const config = await load({ 'omnibus.yaml': sandboxDaemon, 'channels/example.yaml': sample.replace(/^id: .*$/m, `id: ${id}`) });
      expect([...config.accounts.keys()]).toContain(id);
    }
  });

  it('shows only daemon and channel files the loader accepts', async () => {
    const blocks = docFiles.filter((name) => name.endsWith('.md')).flatMap(yamlBlocks);
    expect(blocks.filter((b) => b.kind === 'daemon').length).toBeGreaterThan(0);
    expect(blocks.filter((b) => b.kind === 'channel').length).toBeGreaterThan(0);
    for (const block of blocks) {
      const files: Record<string, string> = block.kind === 'daemon' ? { 'omnibus.yaml': block.yaml } : { 'omnibus.yaml': productionDaemon, 'channels/example.yaml': block.yaml };
      // A reference the table above has no value for gets a plain one (API tokens and the like).
      const others = Object.fromEntries([...block.yaml.matchAll(/\$\{([A-Z0-9_]+)\}/g)].map((m) => [m[1]!, 'docs-example-value-0123456789']));
      const outcome = await load(files, { ...others, ...ENV }).then(
        () => 'loaded',
        (error: Error) => error.message,
      );
      expect(outcome, block.where).toBe('loaded');
    }
  });
});
