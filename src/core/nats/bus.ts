/**
 * The NATS side of the daemon: one connection, the two JetStream streams, and a readiness
 * flag that follows the connection's status stream (disconnects are logged and make
 * /readyz fail until the client reconnects). `servers` may name every node of a cluster; the
 * client connects to any and fails over to the others. Streams keep `replicas` copies
 * (`nats.replicas`), applied on creation and brought up to date on every start.
 */
import { connect, type NatsConnection, type NodeConnectionOptions } from '@nats-io/transport-node';
import { nanos } from '@nats-io/nats-core';
import {
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  DiscardPolicy,
  type JetStreamClient,
  type JetStreamManager,
  type JetStreamOptions,
  type StreamConfig,
} from '@nats-io/jetstream';
import type { Logger } from 'pino';
import { streams as streamNames, subjects as subjectsFor } from '../schemas/subjects.ts';

/** An open NATS connection with JetStream handles. */
export interface Bus {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  prefix: string;
  subjects: ReturnType<typeof subjectsFor>;
  streams: { events: string; commands: string };
  /** True while connected. */
  isConnected(): boolean;
  /** Drains subscriptions and closes; idempotent. */
  close(): Promise<void>;
}

/** How long the server remembers `Nats-Msg-Id`s. Longer than any relay outage we expect to ride out. */
const DUPLICATE_WINDOW_MS = 10 * 60_000;

/** Connects and creates or updates the streams (idempotent, safe from several replicas at once). */
export async function openBus(options: {
  servers: string;
  prefix: string;
  logger: Logger;
  name?: string;
  replicas?: number;
  /** Authentication and TLS (`natsConnectOptions`). */
  connection?: Pick<NodeConnectionOptions, 'authenticator' | 'tls'>;
  /** A JetStream domain or API prefix (`jetStreamOptions`). */
  jetstream?: JetStreamOptions;
}): Promise<Bus> {
  const replicas = options.replicas ?? 1;
  const log = options.logger.child({ component: 'nats' });
  const nc = await connect({
    ...options.connection,
    servers: options.servers.split(',').map((s) => s.trim()),
    name: options.name ?? 'omnibus',
    reconnect: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 1000,
    waitOnFirstConnect: false,
    // Otherwise nats.js builds two Error objects (for their stack) on every request, so on every
    // JetStream publish the relay makes; a failure still carries its message and cause.
    noAsyncTraces: true,
  });
  let connected = true;
  void (async () => {
    for await (const status of nc.status()) {
      switch (status.type) {
        case 'disconnect':
          connected = false;
          log.warn({ server: status.server }, 'nats disconnected');
          break;
        case 'reconnect':
          connected = true;
          log.info({ server: status.server }, 'nats reconnected');
          void restoreStreams();
          break;
        case 'error':
          // Expected conditions (a refused permission, a server going away): code and reason only.
          log.error({ reason: status.error instanceof Error ? status.error.message : String(status.error) }, 'nats error');
          break;
        case 'close':
          connected = false;
          break;
        default:
          break;
      }
    }
  })();
  const jsm = await jetstreamManager(nc, options.jetstream).catch(async (error: unknown) => {
    await nc.close().catch(() => {});
    throw error;
  });
  const js = jetstream(nc, options.jetstream);
  const names = streamNames(options.prefix);
  const subjects = subjectsFor(options.prefix);
  async function ensureStreams(): Promise<void> {
    await ensureStream(jsm, {
      name: names.events,
      subjects: [subjects.streamFilters.events],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      discard: DiscardPolicy.Old,
      duplicate_window: nanos(DUPLICATE_WINDOW_MS),
      num_replicas: replicas,
    });
    await ensureStream(jsm, {
      name: names.commands,
      subjects: [subjects.streamFilters.commands],
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
      discard: DiscardPolicy.Old,
      duplicate_window: nanos(DUPLICATE_WINDOW_MS),
      num_replicas: replicas,
    });
  }
  /**
   * A server that comes back without its data (no volume, a wiped store) has no streams, and
   * every publish would fail with "no responders" forever while the connection looks healthy.
   * So after each reconnect the streams are created again if missing; retried until it works.
   */
  async function restoreStreams(): Promise<void> {
    for (let attempt = 1; !nc.isClosed() && connected; attempt++) {
      try {
        await ensureStreams();
        return;
      } catch (error) {
        log.warn({ err: error, attempt }, 'could not restore the streams after reconnecting; retrying');
        await new Promise((resolve) => setTimeout(resolve, Math.min(5_000, 500 * attempt)));
      }
    }
  }
  await ensureStreams().catch(async (error: unknown) => {
    await nc.close().catch(() => {});
    throw error;
  });
  log.info({ events: names.events, commands: names.commands, replicas }, 'nats streams ready');
  let closing: Promise<void> | null = null;
  return {
    nc,
    js,
    jsm,
    prefix: options.prefix,
    subjects,
    streams: names,
    isConnected: () => connected && !nc.isClosed(),
    close() {
      closing ??= nc.isClosed() ? Promise.resolve() : nc.drain().catch(() => nc.close());
      return closing;
    },
  };
}

async function ensureStream(jsm: JetStreamManager, config: Partial<StreamConfig> & { name: string }): Promise<void> {
  try {
    await jsm.streams.add(config);
  } catch (error) {
    // Already there (maybe created by another replica): bring its settings up to date.
    const existing = await jsm.streams.info(config.name).catch(() => null);
    if (!existing) throw error;
    const { retention: _retention, storage: _storage, num_replicas: replicas = 1, ...updatable } = config;
    // Replicas only go up: an operator who scaled a stream beyond nats.replicas keeps it.
    const num_replicas = Math.max(existing.config.num_replicas ?? 1, replicas);
    const wanted = { ...updatable, num_replicas };
    // Nothing to change is the usual start: skip the update, which a stream still settling
    // after a scale-up may not answer in time.
    const current = existing.config as unknown as Record<string, unknown>;
    if (Object.entries(wanted).every(([key, value]) => JSON.stringify(current[key]) === JSON.stringify(value))) return;
    await jsm.streams.update(config.name, { ...existing.config, ...wanted });
    if (num_replicas > (existing.config.num_replicas ?? 1)) await waitForCopies(jsm, config.name, num_replicas);
  }
}

/**
 * After a scale-up the stream's new group elects a leader and the new copies catch up; until
 * then requests to it can time out. Waits (at most `timeoutMs`) until it has a leader and
 * `replicas - 1` current followers; gives up quietly, since callers retry anyway.
 */
async function waitForCopies(jsm: JetStreamManager, stream: string, replicas: number, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const info = await jsm.streams.info(stream).catch(() => null);
    const current = (info?.cluster?.replicas ?? []).filter((peer) => peer.current).length;
    if (info?.cluster?.leader && current >= replicas - 1) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/**
 * Raises a stream made elsewhere (the object store's) to `replicas` copies; never lowers it.
 * Returns the count it now has.
 */
export async function raiseReplicas(jsm: JetStreamManager, stream: string, replicas: number): Promise<number> {
  const { config } = await jsm.streams.info(stream);
  if ((config.num_replicas ?? 1) >= replicas) return config.num_replicas ?? 1;
  await jsm.streams.update(stream, { ...config, num_replicas: replicas });
  await waitForCopies(jsm, stream, replicas);
  return replicas;
}
