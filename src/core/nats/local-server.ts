import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { delimiter, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { freePort, isPortFree, waitForPort } from './ports.ts';
import { PID_FILE, claimStore, isNatsServerOn } from './store-owner.ts';

/** Options for {@link startLocalNatsServer}. */
export interface LocalNatsServerOptions {
  /** JetStream data directory (created if missing). */
  storeDir: string;
  logger: Logger;
  /** Client port; default 4222, or a free port when 4222 is taken. */
  port?: number;
  /** How long to wait for the server to accept connections; default 10 s. */
  readyTimeoutMs?: number;
  /** More nats-server flags (server name, cluster routes), for test clusters. */
  extraArgs?: readonly string[];
}

/** A nats-server child process owned by the daemon. */
export interface LocalNatsServer {
  /** Client URL, e.g. `nats://127.0.0.1:4222`. */
  url: string;
  /** The nats-server's pid (not its watchdog's); null if its pid file could not be read. */
  pid: number | null;
  /** Stops the server: SIGTERM, then SIGKILL after 5 s. Idempotent. */
  stop(): Promise<void>;
  /** Kills the server with SIGKILL, as a crash would (fault tests), and waits for its watchdog. */
  kill(): Promise<void>;
}

const DEFAULT_PORT = 4222;
const STOP_GRACE_MS = 5_000;
const STDERR_LINES_KEPT = 20;
const WATCHDOG = fileURLToPath(new URL('./watchdog.mjs', import.meta.url));
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
 * Resolves once it accepts connections. The server runs under a watchdog (`watchdog.mjs`) that
 * stops it as soon as this process exits, even by SIGKILL; and a server left on the same store
 * by an earlier run is stopped first (see `store-owner.ts`), so one store never has two.
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
  const claim = await claimStore(storeDir, log);
  try {
    return await launch(binary, storeDir, options, log, claim.release);
  } catch (error) {
    await claim.release();
    throw error;
  }
}

async function launch(binary: string, storeDir: string, options: LocalNatsServerOptions, log: Logger, release: () => Promise<void>): Promise<LocalNatsServer> {
  const port = options.port ?? ((await isPortFree(DEFAULT_PORT)) ? DEFAULT_PORT : await freePort());
  // Otherwise the readiness check below would be answered by whoever already listens there.
  if (options.port !== undefined && !(await isPortFree(port))) {
    throw new Error(`cannot start a local nats-server: port ${port} on 127.0.0.1 is already in use`);
  }
  const pidFile = join(storeDir, PID_FILE);
  const args = ['-js', '-sd', storeDir, '-a', '127.0.0.1', '-p', String(port), '-P', pidFile, ...(options.extraArgs ?? [])];
  const url = `nats://127.0.0.1:${port}`;

  log.info({ binary, port, storeDir }, 'starting local nats-server');
  // stdin is the watchdog's lifeline: the kernel closes it when this process dies.
  const child = spawn(process.execPath, [WATCHDOG, String(STOP_GRACE_MS), binary, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin?.on('error', () => {});
  const recentStderr: string[] = [];
  forwardOutput(child, log, recentStderr);

  let stopping = false;
  let serverPid: number | null = null;
  const exited = new Promise<void>((resolveExit) => child.once('exit', () => resolveExit()));
  // A normal exit closes the pipe too; this only makes the watchdog start at once.
  const stopOnExit = (): void => {
    child.kill('SIGTERM');
  };
  process.once('exit', stopOnExit);

  // Abort the readiness wait as soon as the child dies (bad flag, port taken, unwritable store).
  const childGone = new AbortController();
  child.once('error', (error) => childGone.abort(error));
  child.once('exit', (code, signal) => {
    process.removeListener('exit', stopOnExit);
    childGone.abort(new Error(`nats-server exited (code ${code}, signal ${signal})`));
    if (!stopping) log.error({ code, signal }, 'local nats-server exited unexpectedly');
    void release();
  });

  /** Ends the watchdog's stdin (it stops the server); SIGKILLs both if that has not worked in time. */
  const shutDown = async (): Promise<void> => {
    stopping = true;
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.stdin?.end();
    const timer = setTimeout(() => {
      log.warn({ graceMs: STOP_GRACE_MS }, 'nats-server did not stop in time; killing it');
      if (serverPid !== null) killIfServer(serverPid, storeDir);
      child.kill('SIGKILL');
    }, STOP_GRACE_MS + 2_000);
    await exited;
    clearTimeout(timer);
  };

  try {
    await waitForPort(port, { timeoutMs: options.readyTimeoutMs ?? 10_000, signal: childGone.signal });
    serverPid = await readServerPid(pidFile, storeDir);
  } catch (error) {
    await shutDown();
    const reason = error instanceof Error ? error.message : String(error);
    const tail = recentStderr.length ? `\n${recentStderr.join('\n')}` : ' (it printed nothing)';
    throw new Error(`local nats-server on ${url} did not start: ${reason}. Its last output:${tail}`, { cause: error });
  }
  log.info({ url }, 'local nats-server ready');

  let stopped: Promise<void> | undefined;
  return {
    url,
    pid: serverPid,
    stop() {
      stopped ??= shutDown().then(() => log.info('local nats-server stopped'));
      return stopped;
    },
    async kill() {
      stopping = true;
      if (serverPid !== null) killIfServer(serverPid, storeDir);
      else child.kill('SIGKILL');
      await exited;
    },
  };
}

/** The pid nats-server wrote; it writes the file before it listens, so it is there once the port answers. */
async function readServerPid(pidFile: string, storeDir: string): Promise<number | null> {
  const pid = Number((await readFile(pidFile, 'utf8').catch(() => '')).trim());
  return Number.isInteger(pid) && pid > 0 && (await isNatsServerOn(pid, storeDir)) ? pid : null;
}

function killIfServer(pid: number, storeDir: string): void {
  void isNatsServerOn(pid, storeDir).then((yes) => {
    if (!yes) return;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Gone meanwhile.
    }
  });
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
