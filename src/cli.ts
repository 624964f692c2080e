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
import { buildInfo } from './core/build-info.ts';

/** One command's usage, its options and what it does: the source of every help and usage error. */
interface CommandHelp {
  usage: string;
  summary: string;
  options: Array<[flag: string, what: string]>;
}

const CONFIG_OPTION: [string, string] = ['--config DIR', 'configuration directory (default: $OMNIBUS_CONFIG_DIR, else ./config)'];
const HELP_OPTION: [string, string] = ['-h, --help', 'print this help and exit'];

const COMMANDS: Record<string, CommandHelp> = {
  start: {
    usage: 'omnibus start [--config DIR]',
    summary: 'run the daemon until SIGTERM or SIGINT (then drain and exit within 10 s)',
    options: [CONFIG_OPTION, HELP_OPTION],
  },
  'config check': {
    usage: 'omnibus config check [--config DIR | DIR]',
    summary: 'validate the configuration without starting anything (exit 0 valid, 1 invalid)',
    options: [CONFIG_OPTION, ['DIR', 'the same as --config DIR'], HELP_OPTION],
  },
  migrate: {
    usage: 'omnibus migrate [--config DIR]',
    summary: 'apply database migrations and exit',
    options: [CONFIG_OPTION, HELP_OPTION],
  },
  simulate: {
    usage: 'omnibus simulate <channel> --account A --from ID [options]',
    summary: 'play a customer: post a signed webhook to a running sandbox daemon',
    options: [
      ['<channel>', 'whatsapp, telegram, line or wechat'],
      ['--account A', 'the account id from its channel file (required)'],
      ['--from ID', "the customer's platform id (required)"],
      ['--text T', 'the message text'],
      ['--name N', "the customer's display name"],
      ['--file PATH', 'send this file as media (an image, a PDF, ...)'],
      ['--callback DATA', 'a button press (Telegram callback data, LINE postback) instead of a message'],
      ['--group ID', 'write into this group conversation instead of the 1:1 chat'],
      ['--url URL', 'the daemon (default http://127.0.0.1:<http.port>)'],
      CONFIG_OPTION,
      HELP_OPTION,
    ],
  },
  tail: {
    usage: 'omnibus tail [--subject S] [--all] [--config DIR] [--nats URL]',
    summary: 'print what a helpdesk receives on NATS, one JSON line per message; exits 1 when NATS is lost',
    options: [
      ['--subject S', 'subject filter (default <prefix>.v1.evt.>); must lie within the streams\' subjects'],
      ['--all', 'replay the events stream from its start first'],
      ['--nats URL', 'NATS server(s), comma-separated (default nats.url, else the local server)'],
      CONFIG_OPTION,
      HELP_OPTION,
    ],
  },
};

const USAGE = `omnibus — omnichannel message broker

Usage:
${Object.values(COMMANDS)
  .map((c) => `  ${c.usage}\n      ${c.summary}`)
  .join('\n')}
  omnibus --version    print the version (and git commit) and exit
  omnibus --help       print this help and exit

Run \`omnibus <command> --help\` for a command's options.
Exit codes: 0 success, 1 failure (invalid configuration, start-up failed, NATS lost, a refused
simulated webhook), 2 usage error (unknown command or option, missing argument).
`;

function commandHelp(name: string): string {
  const help = COMMANDS[name]!;
  const width = Math.max(...help.options.map(([flag]) => flag.length));
  return `${help.summary}\n\nUsage: ${help.usage}\n\nOptions:\n${help.options.map(([flag, what]) => `  ${flag.padEnd(width)}  ${what}`).join('\n')}\n`;
}

/** A mistake on the command line: exit 2 with the command's usage. */
class UsageError extends Error {
  constructor(
    message: string,
    readonly command: string | null,
  ) {
    super(message);
  }
}

type Options = Record<string, { type: 'string' | 'boolean'; short?: string }>;
/** What `parse` returns: string options as strings, boolean ones as booleans. */
interface Parsed<O extends Options> {
  values: { [K in keyof O]?: O[K]['type'] extends 'boolean' ? boolean : string };
  positionals: string[];
}

/**
 * parseArgs, strict, with `--help` on every command. Returns null when help was printed.
 * A bad or unknown option becomes a UsageError that lists the command's options.
 */
function parse<O extends Options>(command: string, args: string[], options: O, positionals = false): Parsed<O> | null {
  try {
    const parsed = parseArgs({ args, options: { ...options, help: { type: 'boolean', short: 'h' } } as Options, allowPositionals: positionals, strict: true });
    if ((parsed.values as { help?: boolean }).help) {
      process.stdout.write(commandHelp(command));
      return null;
    }
    return parsed as unknown as Parsed<O>;
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error), command);
  }
}

/** Entry point; `argv` without node and script. */
export async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'start':
        return await start(rest);
      case 'config':
        if (rest[0] === 'check') return await configCheck(rest.slice(1));
        if (rest[0] === undefined || rest[0] === '--help' || rest[0] === '-h') {
          process.stdout.write(commandHelp('config check'));
          if (rest[0] === undefined) process.exitCode = 2;
          return;
        }
        throw new UsageError(`unknown command: config ${rest[0]}`, 'config check');
      case 'migrate':
        return await migrate(rest);
      case 'simulate':
        return await simulate(rest);
      case 'tail':
        return await tail(rest);
      case '--version':
      case '-v':
      case 'version': {
        const { version, commit } = buildInfo();
        process.stdout.write(`omnibus ${version}${commit === 'unknown' ? '' : ` (${commit})`}\n`);
        return;
      }
      case undefined:
      case '--help':
      case '-h':
      case 'help':
        process.stdout.write(USAGE);
        return;
    }
    throw new UsageError(`unknown command: ${command}`, null);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`omnibus: ${error.message}\n\n${error.command ? commandHelp(error.command) : USAGE}`);
      process.exitCode = 2;
      return;
    }
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
  const parsed = parse('start', args, { config: { type: 'string' } });
  if (!parsed) return;
  const { values } = parsed;
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
  // The JSON line is for log pipelines; a person at a terminal reads stderr.
  const hint = error instanceof StartupError && error.hint ? ` (${error.hint})` : '';
  process.stderr.write(`omnibus cannot start: ${reason}${hint}\n`);
}

async function configCheck(args: string[]): Promise<void> {
  const parsed = parse('config check', args, { config: { type: 'string' } }, true);
  if (!parsed) return;
  const { values, positionals } = parsed;
  if (positionals.length > 1 || (positionals.length === 1 && values.config !== undefined)) throw new UsageError('give the directory once: --config DIR or DIR', 'config check');
  const dir = configDir(values.config ?? positionals[0]);
  const config = await loadConfig(dir, channels);
  const accounts = [...config.accounts.values()].map((a) => `${a.id} (${a.channel}${a.enabled ? '' : ', disabled'})`);
  process.stdout.write(`configuration in ${dir} is valid: ${accounts.length} account(s)${accounts.length ? `: ${accounts.join(', ')}` : ''}\n`);
}

async function migrate(args: string[]): Promise<void> {
  const parsed = parse('migrate', args, { config: { type: 'string' } });
  if (!parsed) return;
  const { values } = parsed;
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
  const parsed = parse(
    'simulate',
    withNegativeValues(args, '--group'),
    {
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
    true,
  );
  if (!parsed) return;
  const { values, positionals } = parsed;
  const channel = positionals[0];
  const missing = [!channel && '<channel>', !values.account && '--account', !values.from && '--from'].filter(Boolean);
  if (missing.length) throw new UsageError(`missing ${missing.join(', ')}`, 'simulate');
  if (positionals.length > 1) throw new UsageError(`unexpected argument: ${positionals[1]}`, 'simulate');
  const definition = channels.get(channel!);
  if (!definition?.sandbox) throw new UsageError(`channel ${channel} has no sandbox simulator (known: ${[...channels.keys()].filter((id) => channels.get(id)?.sandbox).join(', ')})`, 'simulate');
  const config = await loadConfig(configDir(values.config), channels);
  const account = config.accounts.get(values.account!);
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
    from: values.from!,
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
  const parsed = parse('tail', args, { subject: { type: 'string' }, config: { type: 'string' }, nats: { type: 'string' }, all: { type: 'boolean' } });
  if (!parsed) return;
  const { values } = parsed;
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
  try {
    await checkTailSubject(nc, prefix, subject, values.all === true);
  } catch (error) {
    // An open connection would keep the process alive after the error is printed.
    await nc.close().catch(() => {});
    throw error;
  }
  process.stderr.write(`tailing ${subject} on ${servers} (Ctrl-C to stop)\n`);
  // Drain when NATS is there; a vanished server must not make Ctrl-C hang.
  let quitting = false;
  const quit = () => {
    quitting = true;
    setTimeout(() => process.exit(0), 1_000).unref();
    void nc.drain().catch(() => {}).finally(() => process.exit(0));
  };
  process.on('SIGINT', quit);
  process.on('SIGTERM', quit);
  // Say so when NATS goes away, and exit 1 once the client gives up: a silent tail looks idle.
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect') process.stderr.write(`lost NATS at ${servers}; reconnecting\n`);
      if (status.type === 'reconnect') process.stderr.write(`reconnected to NATS\n`);
    }
  })().catch(() => {});
  void nc.closed().then((error) => {
    if (quitting) return;
    process.stderr.write(`omnibus: lost NATS at ${servers}${error ? `: ${error.message}` : ''}\n`);
    process.exit(1);
  });
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

/**
 * A filter outside every stream's subjects would wait forever for nothing (or, with --all,
 * hang in consumer creation): refuse it at once, naming the subjects that do exist.
 */
async function checkTailSubject(nc: import('@nats-io/transport-node').NatsConnection, prefix: string, subject: string, all: boolean): Promise<void> {
  const { jetstreamManager } = await import('@nats-io/jetstream');
  const { streams } = await import('./core/schemas/subjects.ts');
  const names = streams(prefix);
  const jsm = await jetstreamManager(nc, { timeout: 5_000 });
  const wanted = all ? [names.events] : [names.events, names.commands];
  const subjects: string[] = [];
  for (const name of wanted) {
    const info = await jsm.streams.info(name).catch(() => null);
    subjects.push(...(info?.config.subjects ?? []));
  }
  if (subjects.length === 0) {
    if (all) throw new Error(`no stream ${names.events} on this NATS server: is the daemon running with nats.prefix ${prefix}?`);
    return;
  }
  if (!subjects.some((pattern) => subjectWithin(subject, pattern))) {
    throw new UsageError(`--subject ${subject} is outside the ${all ? 'events stream' : 'streams'}' subjects (${subjects.join(', ')})`, 'tail');
  }
}

/** Whether every subject `filter` matches is also matched by `pattern` (NATS token wildcards). */
export function subjectWithin(filter: string, pattern: string): boolean {
  const f = filter.split('.');
  const p = pattern.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return i < f.length;
    if (i >= f.length) return false;
    if (f[i] === '>') return false;
    if (p[i] !== '*' && (f[i] === '*' || f[i] !== p[i])) return false;
  }
  return f.length === p.length;
}
