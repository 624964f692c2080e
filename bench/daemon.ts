/**
 * Starts an in-process daemon for the benchmark the way an operator would: a config directory
 * with `omnibus.yaml` and one WhatsApp channel file. Real clock, no sandbox, no credential
 * check (that would call graph.facebook.com), no file watching.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { Daemon } from '../src/core/daemon.ts';
import { channels } from '../src/channels/index.ts';
import { identities } from '../src/extensions.ts';
import { whatsappChannelYaml } from './fixtures.ts';

/** A daemon started for one benchmark phase. */
export interface BenchDaemon {
  daemon: Daemon;
  /** Stops the daemon and removes its config and data directory. */
  stop(): Promise<void>;
}

/** Starts a daemon on `databaseUrl` (null = embedded PGlite) publishing under `prefix`. */
export async function startBenchDaemon(options: { natsUrl: string; prefix: string; databaseUrl: string | null }): Promise<BenchDaemon> {
  const dir = await mkdtemp(path.join(tmpdir(), 'omnibus-bench-'));
  try {
    await mkdir(path.join(dir, 'channels'));
    const yaml = [
      'http: { host: 127.0.0.1, port: 0 }',
      `nats: { url: "${options.natsUrl}", prefix: ${options.prefix} }`,
      // `OMNIBUS_BENCH_LANES=1..8` compares group-commit lane counts (default: the daemon's auto).
      `database: { url: ${options.databaseUrl ? `"${options.databaseUrl}"` : 'null'}, ingestLanes: ${process.env.OMNIBUS_BENCH_LANES ?? 'auto'} }`,
      `dataDir: "${path.join(dir, 'data')}"`,
      // Warnings only, so a problem during a run is visible without logging every webhook.
      'log: { level: warn }',
    ].join('\n');
    await writeFile(path.join(dir, 'omnibus.yaml'), `${yaml}\n`);
    await writeFile(path.join(dir, 'channels', 'bench-wa.yaml'), whatsappChannelYaml());
    const daemon = await Daemon.start({
      configDir: dir,
      channels,
      identities,
      env: {},
      checkCredentials: false,
      watch: false,
      // stderr: stdout carries the results table.
      logDestination: pino.destination(2),
    });
    return {
      daemon,
      stop: async () => {
        await daemon.stop();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}
