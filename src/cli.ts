/**
 * The `omnibus` command line: start, config check, migrate, simulate, tail.
 * This is the composition root's front door: it hands the channel definitions to the core.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { channels } from './channels/index.ts';
import { Daemon } from './core/daemon.ts';
import { ConfigError, loadConfig } from './core/config/load.ts';
import { formatIssues } from './core/config/format.ts';
import { createLogger } from './core/logger.ts';
import { openDatabase } from './core/storage/db.ts';
import { detectMediaType } from './core/media/detect.ts';
import { extensions, identities } from './extensions.ts';
import { installProcessGuard } from './core/process-guard.ts';
import { StartupError } from './core/startup-error.ts';

const USAGE = `omnibus — omnichannel message broker

Usage:
  omnibus start [--config DIR]                 run the daemon (default DIR: $OMNIBUS_CONFIG_DIR or ./config)
  omnibus config check [DIR]                   validate the configuration without starting (exit 0/1)
  omnibus migrate [--config DIR]               apply database migrations and exit
  omnibus simulate <channel> --account A --from ID [--text T] [--name N] [--file PATH] [--callback DATA] [--group ID] [--url URL] [--config DIR]
                                               play a customer: post a signed webhook to a running sandbox daemon
  omnibus tail [--subject S] [--all] [--config DIR] [--nats URL]
                                               print what a helpdesk receives on NATS (default subject <prefix>.v1.evt.>);
                                               --all replays the events stream from its start first
`;

/** Entry point; `argv` without node and script. */
export async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'start':
        return await start(rest);
      case 'config':
        if (rest[0] === 'check') return await configCheck(rest.slice(1));
        break;
      case 'migrate':
        return await migrate(rest);
      case 'simulate':
        return await simulate(rest);
      case 'tail':
        return await tail(rest);
      case undefined:
      case '--help':
      case '-h':
      case 'help':
        process.stdout.write(USAGE);
        return;
    }
    process.stderr.write(`unknown command: ${argv.join(' ')}\n\n${USAGE}`);
    process.exitCode = 2;
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`configuration is invalid:\n${formatIssues(error.issues)}\n`);
    } else {
      process.stderr.write(`omnibus: ${error instanceof Error ? error.message : String(error)}\n`);
      const cause = error instanceof Error ? error.cause : undefined;
      if (cause instanceof Error) process.stderr.write(`  caused by: ${cause.message}\n`);
    }
    process.exitCode = 1;
  }
}

function configDir(value: string | undefined): string {
  return path.resolve(value ?? process.env.OMNIBUS_CONFIG_DIR ?? 'config');
}

async function start(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { config: { type: 'string' } } });
  let daemon: Daemon;
  try {
    daemon = await Daemon.start({ configDir: configDir(values.config), channels, identities, extensions: extensions() });
  } catch (error) {
    reportFatal(error);
    process.exitCode = 1;
    return;
  }
  // A net, not the fix: one request's missed rejection must not end the daemon for everyone.
  installProcessGuard(daemon.logger.child({ component: 'process' }));
  let signals = 0;
  const shutdown = (signal: string) => {
    signals++;
    if (signals > 1) process.exit(1);
    daemon.logger.info({ signal }, 'shutting down');
    // The contract: drain and exit within 10 s, whatever hangs.
    setTimeout(() => process.exit(1), 10_000).unref();
    void daemon.stop().then(() => process.exit(0));
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

/**
 * The one line a supervisor shows when the daemon cannot start: level fatal, the dependency
 * at fault and a hint. JSON unless stdout is a terminal, like every other line.
 */
function reportFatal(error: unknown): void {
  const logger = createLogger('info');
  if (error instanceof ConfigError) {
    logger.fatal({ dependency: 'config', issues: error.issues, hint: 'fix the fields listed; `omnibus config check` shows them' }, 'omnibus cannot start: the configuration is invalid');
    process.stderr.write(`configuration is invalid:\n${formatIssues(error.issues)}\n`);
    return;
  }
  const reason = error instanceof Error ? error.message : String(error);
  if (error instanceof StartupError) {
    logger.fatal({ dependency: error.dependency, reason, hint: error.hint }, `omnibus cannot start: ${error.dependency} failed`);
  } else {
    logger.fatal({ dependency: 'unknown', reason, err: error }, 'omnibus cannot start');
  }
  logger.flush?.();
}

async function configCheck(args: string[]): Promise<void> {
  const dir = configDir(args[0]);
  const config = await loadConfig(dir, channels);
  const accounts = [...config.accounts.values()].map((a) => `${a.id} (${a.channel}${a.enabled ? '' : ', disabled'})`);
  process.stdout.write(`configuration in ${dir} is valid: ${accounts.length} account(s)${accounts.length ? `: ${accounts.join(', ')}` : ''}\n`);
}

async function migrate(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { config: { type: 'string' } } });
  const config = await loadConfig(configDir(values.config), channels);
  const logger = createLogger(config.daemon.log.level);
  const database = await openDatabase({ url: config.daemon.database.url, dataDir: config.daemon.dataDir, logger });
  try {
    await database.migrate();
  } finally {
    await database.close();
  }
}

async function simulate(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: withNegativeValues(args, '--group'),
    allowPositionals: true,
    options: {
      account: { type: 'string' },
      from: { type: 'string' },
      text: { type: 'string' },
      name: { type: 'string' },
      file: { type: 'string' },
      // A button press (Telegram callback data, LINE postback data) instead of a message.
      callback: { type: 'string' },
      // Write into this group conversation instead of the 1:1 chat.
      group: { type: 'string' },
      url: { type: 'string' },
      config: { type: 'string' },
    },
  });
  const channel = positionals[0];
  if (!channel || !values.account || !values.from) throw new Error('usage: omnibus simulate <channel> --account A --from ID [--text T] [--file PATH] [--callback DATA] [--group ID]');
  const definition = channels.get(channel);
  if (!definition?.sandbox) throw new Error(`channel ${channel} has no sandbox simulator`);
  const config = await loadConfig(configDir(values.config), channels);
  const account = config.accounts.get(values.account);
  if (!account || account.channel !== channel) throw new Error(`no ${channel} account named ${values.account} in the configuration`);
  const base = values.url ?? `http://127.0.0.1:${config.daemon.http.port}`;
  let mediaRef: { id: string; mime: string; filename?: string; sha256?: string } | undefined;
  if (values.file) {
    const bytes = new Uint8Array(await readFile(values.file));
    const type = await detectMediaType(bytes.subarray(0, 4100));
    const mime = type?.mime ?? 'application/octet-stream';
    const filename = path.basename(values.file);
    const upload = await fetch(`${base}/sandbox/${channel}/_omnibus/media?filename=${encodeURIComponent(filename)}`, {
      method: 'POST',
      headers: { 'content-type': mime },
      body: bytes,
    });
    if (!upload.ok) throw new Error(`the sandbox refused the file (HTTP ${upload.status}); is the daemon running with sandbox: true?`);
    const stored = (await upload.json()) as { id: string; sha256: string };
    mediaRef = { id: stored.id, mime, filename, sha256: stored.sha256 };
  }
  const spec = definition.sandbox.simulateInbound(account, {
    from: values.from,
    ...(values.text !== undefined ? { text: values.text } : {}),
    ...(values.name !== undefined ? { name: values.name } : {}),
    ...(mediaRef ? { media: mediaRef } : {}),
    ...(values.callback !== undefined ? { callback: values.callback } : {}),
    ...(values.group !== undefined ? { group: values.group } : {}),
  });
  // The fake keeps its own customer-service window, like the platform: tell it the customer wrote.
  await fetch(`${base}/sandbox/${channel}/_omnibus/observe`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(spec),
  }).catch(() => undefined);
  const response = await fetch(`${base}${spec.path}`, { method: spec.method, headers: spec.headers, body: spec.body as string });
  const answer = await response.text();
  process.stdout.write(`${spec.method} ${spec.path} → ${response.status} ${answer}\n`);
  if (!response.ok) process.exitCode = 1;
}

/**
 * Joins `--name -123` into `--name=-123`: group ids are negative (Telegram `-100…`), and
 * parseArgs would otherwise read the value as an option.
 */
function withNegativeValues(args: string[], name: string): string[] {
  const joined: string[] = [];
  for (let index = 0; index < args.length; index++) {
    const value = args[index + 1];
    if (args[index] === name && value !== undefined && /^-\d+$/.test(value)) {
      joined.push(`${name}=${value}`);
      index++;
    } else joined.push(args[index]!);
  }
  return joined;
}

async function tail(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { subject: { type: 'string' }, config: { type: 'string' }, nats: { type: 'string' }, all: { type: 'boolean' } },
  });
  const config = await loadConfig(configDir(values.config), channels);
  const prefix = config.daemon.nats.prefix;
  let servers = values.nats ?? config.daemon.nats.url;
  if (!servers) {
    servers = (await readFile(path.join(config.daemon.dataDir, 'nats', 'url'), 'utf8').catch(() => '')).trim() || 'nats://127.0.0.1:4222';
  }
  const { connect } = await import('@nats-io/transport-node');
  const { classifyConnectError, jetStreamOptions, natsConnectOptions } = await import('./core/nats/connect-options.ts');
  const settings = config.daemon.nats;
  // A --nats URL points elsewhere (usually the local server): the configured credentials are for nats.url.
  const secured = values.nats === undefined && settings.url !== null;
  const nc = await connect({ servers: servers.split(','), ...(secured ? await natsConnectOptions(settings) : {}) }).catch((error: unknown) => {
    throw (secured ? classifyConnectError(error, settings) : null) ?? error;
  });
  const subject = values.subject ?? `${prefix}.v1.evt.>`;
  process.stderr.write(`tailing ${subject} on ${servers} (Ctrl-C to stop)\n`);
  // Drain when NATS is there; a vanished server must not make Ctrl-C hang.
  const quit = () => {
    setTimeout(() => process.exit(0), 1_000).unref();
    void nc.drain().catch(() => {}).finally(() => process.exit(0));
  };
  process.on('SIGINT', quit);
  process.on('SIGTERM', quit);
  const print = (msg: { subject: string; headers?: { get(k: string): string } | undefined; json(): unknown; string(): string }) => {
    let body: unknown;
    try {
      body = msg.json();
    } catch {
      body = msg.string();
    }
    process.stdout.write(`${JSON.stringify({ subject: msg.subject, msgId: msg.headers?.get('Nats-Msg-Id') || null, data: body })}\n`);
  };
  if (values.all) {
    // Replay what the events stream holds, then follow it: what a new helpdesk consumer would see.
    const { jetstream } = await import('@nats-io/jetstream');
    const { streams } = await import('./core/schemas/subjects.ts');
    const consumer = await jetstream(nc, secured ? jetStreamOptions(settings) : {}).consumers.get(streams(prefix).events, { filter_subjects: subject });
    for await (const msg of await consumer.consume()) print(msg);
    return;
  }
  for await (const msg of nc.subscribe(subject)) print(msg);
}
