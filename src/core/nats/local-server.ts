import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, stat } from 'node:fs/promises';
import { delimiter, join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { freePort, isPortFree, waitForPort } from './ports.ts';

/** Options for {@link startLocalNatsServer}. */
export interface LocalNatsServerOptions {
  /** JetStream data directory (created if missing). */
  storeDir: string;
  logger: Logger;
  /** Client port; default 4222, or a free port when 4222 is taken. */
  port?: number;
  /** How long to wait for the server to accept connections; default 10 s. */
  readyTimeoutMs?: number;
}

/** A nats-server child process owned by the daemon. */
export interface LocalNatsServer {
  /** Client URL, e.g. `nats://127.0.0.1:4222`. */
  url: string;
  /** Stops the server: SIGTERM, then SIGKILL after 5 s. Idempotent. */
  stop(): Promise<void>;
}

const DEFAULT_PORT = 4222;
const STOP_GRACE_MS = 5_000;
const STDERR_LINES_KEPT = 20;
// Debian and others install nats-server into /usr/sbin, which a non-root PATH often lacks.
const SYSTEM_DIRS = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

/** Full path of the nats-server executable, or null when it is not installed. */
export async function findNatsServer(): Promise<string | null> {
  for (const dir of [...(process.env.PATH ?? '').split(delimiter), ...SYSTEM_DIRS]) {
    if (!dir) continue;
    const candidate = join(dir, 'nats-server');
    const info = await stat(candidate).catch(() => null);
    if (info?.isFile()) return candidate;
  }
  return null;
}

/**
 * Starts nats-server with JetStream on 127.0.0.1, for a daemon whose config has `nats.url: null`.
 * Resolves once it accepts connections; the child is killed if the daemon process exits first.
 */
export async function startLocalNatsServer(options: LocalNatsServerOptions): Promise<LocalNatsServer> {
  // Callers that already bound a component keep it; pino would otherwise print the key twice.
  const log = 'component' in options.logger.bindings() ? options.logger : options.logger.child({ component: 'nats-server' });
  const binary = await findNatsServer();
  if (!binary) {
    throw new Error(
      'nats-server was not found on PATH. Install nats-server 2.10 or newer ' +
        '(https://github.com/nats-io/nats-server/releases, `apt-get install nats-server`, `brew install nats-server`), ' +
        'or set nats.url in omnibus.yaml to an existing NATS server with JetStream.',
    );
  }
  const storeDir = resolve(options.storeDir);
  await mkdir(storeDir, { recursive: true });
  const port = options.port ?? ((await isPortFree(DEFAULT_PORT)) ? DEFAULT_PORT : await freePort());
  // Otherwise the readiness check below would be answered by whoever already listens there.
  if (options.port !== undefined && !(await isPortFree(port))) {
    throw new Error(`cannot start a local nats-server: port ${port} on 127.0.0.1 is already in use`);
  }
  const args = ['-js', '-sd', storeDir, '-a', '127.0.0.1', '-p', String(port)];
  const url = `nats://127.0.0.1:${port}`;

  log.info({ binary, port, storeDir }, 'starting local nats-server');
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const recentStderr: string[] = [];
  forwardOutput(child, log, recentStderr);

  let stopping = false;
  const exited = new Promise<void>((resolveExit) => child.once('exit', () => resolveExit()));
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);

  // Abort the readiness wait as soon as the child dies (bad flag, port taken, unwritable store).
  const childGone = new AbortController();
  child.once('error', (error) => childGone.abort(error));
  child.once('exit', (code, signal) => {
    process.removeListener('exit', killOnExit);
    childGone.abort(new Error(`nats-server exited (code ${code}, signal ${signal})`));
    if (!stopping) log.error({ code, signal }, 'local nats-server exited unexpectedly');
  });

  try {
    await waitForPort(port, { timeoutMs: options.readyTimeoutMs ?? 10_000, signal: childGone.signal });
  } catch (error) {
    stopping = true;
    child.kill('SIGKILL');
    const reason = error instanceof Error ? error.message : String(error);
    const tail = recentStderr.length ? `\n${recentStderr.join('\n')}` : ' (it printed nothing)';
    throw new Error(`local nats-server on ${url} did not start: ${reason}. Its last output:${tail}`, { cause: error });
  }
  log.info({ url }, 'local nats-server ready');

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      stopping = true;
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => {
        log.warn({ graceMs: STOP_GRACE_MS }, 'nats-server ignored SIGTERM; killing it');
        child.kill('SIGKILL');
      }, STOP_GRACE_MS);
      await exited;
      clearTimeout(timer);
      log.info('local nats-server stopped');
    })();
    return stopped;
  };
  return { url, stop };
}

/** Sends the server's log lines to pino at a matching level and keeps the last stderr lines for errors. */
function forwardOutput(child: ChildProcess, log: Logger, recentStderr: string[]): void {
  const onLine = (line: string): void => {
    if (!line.trim()) return;
    recentStderr.push(line);
    if (recentStderr.length > STDERR_LINES_KEPT) recentStderr.shift();
    // nats-server tags each line: [INF], [WRN], [ERR], [FTL], [DBG], [TRC].
    if (/\[(ERR|FTL)\]/.test(line)) log.error({ line }, 'nats-server output');
    else if (line.includes('[WRN]')) log.warn({ line }, 'nats-server output');
    else log.debug({ line }, 'nats-server output');
  };
  for (const stream of [child.stdout, child.stderr]) {
    if (!stream) continue;
    let buffered = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      lines.forEach(onLine);
    });
    stream.on('end', () => onLine(buffered));
  }
}
