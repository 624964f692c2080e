/**
 * The daemon as operators run it: `node bin/omnibus.mjs start --config DIR` in a child process,
 * so a test can SIGKILL or SIGTERM it and watch the exit. Every child is also killed when the
 * test process exits, whatever state the test left it in.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { whatsappAccountYaml } from './daemon.ts';
import { tempDir } from './services.ts';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const BIN = path.join(REPO, 'bin', 'omnibus.mjs');
const OUTPUT_LINES_KEPT = 200;

// Last resort: a child that outlives a crashed or interrupted test file would hold its port,
// its database connections and a NATS connection for the rest of the run.
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** Settings of a daemon config directory written for a child process. */
export interface ChildConfig {
  /** PostgreSQL; null for the embedded PGlite under `dataDir`. */
  databaseUrl: string | null;
  /** null: the daemon starts its own local nats-server, its store under `dataDir/nats`. */
  natsUrl: string | null;
  /** `nats.replicas` (default: left to the daemon's default). */
  natsReplicas?: number;
  prefix: string;
  port: number;
  /** Channel file name → YAML; default the test WhatsApp account. */
  accounts?: Record<string, string>;
}

/**
 * Writes `omnibus.yaml` and the channel files into a new temp dir and returns it. The sandbox
 * is on so the start-up credential check talks to the built-in fake on loopback, never Meta.
 */
export async function writeChildConfig(config: ChildConfig): Promise<string> {
  const dir = await tempDir();
  await mkdir(path.join(dir, 'channels'), { recursive: true });
  const daemonYaml = [
    `http: { host: 127.0.0.1, port: ${config.port} }`,
    `nats: { url: ${config.natsUrl === null ? 'null' : `"${config.natsUrl}"`}, prefix: ${config.prefix}${config.natsReplicas ? `, replicas: ${config.natsReplicas}` : ''} }`,
    `database: { url: ${config.databaseUrl === null ? 'null' : `"${config.databaseUrl}"`} }`,
    `dataDir: "${path.join(dir, 'data')}"`,
    `log: { level: ${process.env.OMNIBUS_TEST_LOG ?? 'warn'} }`,
    `sandbox: true`,
  ].join('\n');
  await writeFile(path.join(dir, 'omnibus.yaml'), `${daemonYaml}\n`);
  for (const [name, yaml] of Object.entries(config.accounts ?? { 'acme-wa.yaml': whatsappAccountYaml() })) {
    await writeFile(path.join(dir, 'channels', name), yaml);
  }
  return dir;
}

/** How a child process ended. */
export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A daemon running as a child process. */
export interface ChildDaemon {
  /** Base URL, e.g. `http://127.0.0.1:43121`. */
  url: string;
  pid: number;
  /** Resolves when the process has exited. */
  exited: Promise<ChildExit>;
  running(): boolean;
  /** The last lines it wrote to stdout and stderr, for failure messages. */
  output(): string;
  /** Resolves once /readyz answers 200; rejects early, with its output, if the process exits. */
  waitReady(timeoutMs?: number): Promise<void>;
  /** Sends a signal (SIGKILL for a crash, SIGTERM for a shutdown). */
  signal(signal: NodeJS.Signals): void;
  /** SIGKILLs it if still running and waits for the exit. Idempotent. */
  kill(): Promise<ChildExit>;
}

/** Starts `omnibus start --config configDir`; `port` must match the config's http port. */
export function spawnDaemon(configDir: string, port: number): ChildDaemon {
  const child = spawn(process.execPath, [BIN, 'start', '--config', configDir], {
    cwd: REPO,
    env: { ...process.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  const lines: string[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      lines.push(...chunk.split('\n').filter(Boolean));
      if (lines.length > OUTPUT_LINES_KEPT) lines.splice(0, lines.length - OUTPUT_LINES_KEPT);
    });
  }
  const exited = new Promise<ChildExit>((resolve) => {
    child.once('exit', (code, signal) => {
      live.delete(child);
      resolve({ code, signal });
    });
  });
  let exit: ChildExit | null = null;
  void exited.then((value) => (exit = value));
  const url = `http://127.0.0.1:${port}`;
  const output = () => lines.join('\n');

  return {
    url,
    pid: child.pid ?? -1,
    exited,
    running: () => exit === null,
    output,
    async waitReady(timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        if (exit) throw new Error(`daemon exited (code ${exit.code}, signal ${exit.signal}) before it was ready:\n${output()}`);
        const status = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2_000) }).then(
          async (response) => (await response.arrayBuffer(), response.status),
          () => null,
        );
        if (status === 200) return;
        if (Date.now() > deadline) throw new Error(`daemon ${url} not ready within ${timeoutMs} ms (last /readyz: ${status ?? 'no answer'}):\n${output()}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
    signal(signal) {
      if (exit === null) child.kill(signal);
    },
    async kill() {
      if (exit === null) child.kill('SIGKILL');
      return exited;
    },
  };
}
