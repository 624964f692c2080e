/**
 * The daemon's lifecycle: start (config → HTTP port → database → NATS → app → adapters → workers) and
 * stop (HTTP → workers and relay → NATS → database), each step idempotent. Nothing here
 * knows a channel: the definitions come in from the composition root.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { ServerResponse, type Server } from 'node:http';
import type { Http2Bindings, HttpBindings } from '@hono/node-server';
import type { Hono } from 'hono';
import type pino from 'pino';
import type { ChannelDefinition, SandboxFake, WebhookRequestSpec } from './adapter.ts';
import type { AccountConfig, LoadedConfig } from './config/types.ts';
import { loadConfig } from './config/load.ts';
import { watchChannelFiles } from './config/watch.ts';
import { systemClock, type Clock } from './clock.ts';
import { createLogger, type Logger } from './logger.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import { openDatabase, type Database } from './storage/db.ts';
import { openBus, type Bus } from './nats/bus.ts';
import { startLocalNatsServer } from './nats/local-server.ts';
import { StartupError, step } from './startup-error.ts';
import { failureFields } from './log-fields.ts';
import { classifyConnectError, jetStreamOptions, natsConnectOptions } from './nats/connect-options.ts';
import { streams as streamNames, subjects as subjectsFor } from './schemas/subjects.ts';
import { createHttpClient } from './http-client.ts';
import { createFileMediaStore, type MediaStore } from './media/store.ts';
import { createNatsMediaStore } from './media/nats-store.ts';
import { MediaWorker } from './media/worker.ts';
import { createMediaPurge } from './media/purge.ts';
import { Ingestor } from './inbound/ingestor.ts';
import { InboundPipeline } from './inbound/pipeline.ts';
import { IdentityLookups } from './inbound/identity-lookups.ts';
import type { IdentityResolver, IdentityResolverFactory } from './ports/identity-resolver.ts';
import type { DaemonExtension, ExtensionContext } from './extension-context.ts';
import { PollLoops, type PollOptions, type PollStatus } from './inbound/poll-loop.ts';
import { WebhookProbes, type WebhookProbeResult } from './inbound/webhook-probe.ts';
import { OutboxRelay } from './outbox-relay.ts';
import { AdapterRegistry } from './registry.ts';
import { createApp } from './http/app.ts';
import { openApiDocument } from './http/openapi.ts';
import { buildInfo } from './build-info.ts';
import { listenHttp, type HttpServer, type HttpServerSettings } from './http/server.ts';
import { ApiLimiter } from './api/limiter.ts';
import { Housekeeping } from './housekeeping.ts';
import { TableStatistics } from './storage/table-statistics.ts';

/**
 * Event-loop turns before a batch on PGlite, so requests read meanwhile join it (group-commit.ts).
 * PGlite takes one transaction at a time: fuller batches cost less per webhook. Measured with
 * the database in its thread, 12 turns gave about twice the batch size of none and the higher
 * throughput; the daemon option `pgliteLingerTurns` overrides it (0 = no waiting).
 */
const PGLITE_LINGER_TURNS = 12;

/**
 * Group-commit lanes on PostgreSQL (see inbound/group-commit.ts) for `database.ingestLanes: auto`.
 * A second lane overlaps one batch's commit with the next batch's work, which pays where the
 * database is a round trip away; on a small machine the CPU is the limit, and one lane's larger
 * batches cost less per webhook (measured on 2 cores: 1 lane answered more, sooner, for ~15 %
 * less CPU per webhook; docs/performance.md).
 */
function autoIngestLanes(): number {
  return availableParallelism() <= 2 ? 1 : 2;
}
import { trackConnections } from './http/drain.ts';
import { createMediaLinkSigner } from './http/media-links.ts';
import { createSharedState } from './storage/shared-state.ts';
import { outboxReadiness, outboxStats } from './outbox-stats.ts';

/** How to start a daemon. */
export interface DaemonOptions {
  configDir: string;
  channels: ReadonlyMap<string, ChannelDefinition>;
  env?: NodeJS.ProcessEnv;
  clock?: Clock;
  logDestination?: pino.DestinationStream;
  /** Check each account's credentials at start (default true). */
  checkCredentials?: boolean;
  /** Watch channel files for edits (default true). */
  watch?: boolean;
  /** Who a sender is (identity, contact, merges): the contacts module, wired by the composition root. */
  identities: IdentityResolverFactory;
  /** Extra `/v1` routes and background services (outbound, contacts). */
  extensions?: ReadonlyArray<DaemonExtension>;
  /** Timings of the pollers of polling accounts (tests shorten the lease). */
  polling?: PollOptions;
  /** How often webhook-mode accounts' webhooks are probed at the platform (default 60 s). */
  webhookProbeMs?: number;
  /** Group-commit lanes on PostgreSQL; overrides `database.ingestLanes` (tests). */
  ingestLanes?: number;
  /** Every event on the per-event path instead of set-based batches (tests and bench comparisons). */
  ingestPerEventOnly?: boolean;
  /** Event-loop turns a PGlite lane waits before taking a batch (default 12; for measurements). */
  pgliteLingerTurns?: number;
}

export type { DaemonExtension, ExtensionContext } from './extension-context.ts';

/** The `details` of `/readyz`: what an operator looks at when it is not ready, or nearly. */
export interface ReadinessDetails {
  outbox: { oldestUnpublishedAgeSeconds: number } | null;
  /** Polling accounts on this replica: which one polls, and a platform-reported conflict. */
  polling?: Record<string, PollStatus>;
  /** Webhook-mode accounts whose platform reports on their webhook (pending updates, last error). */
  webhooks?: Record<string, WebhookProbeResult>;
}

/** Where the early-bound server finds the app once boot has built it. */
interface HttpGate {
  fetch: ((request: Request, env: HttpBindings | Http2Bindings) => Promise<Response>) | null;
}

/** A bind failure that names the setting to change. */
function bindError(error: unknown, http: HttpServerSettings): Error {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const where = `${http.host}:${http.port}`;
  if (code === 'EADDRINUSE') return new Error(`cannot listen on ${where}: the port is already in use; stop the other process or choose another http.port in omnibus.yaml`, { cause: error });
  if (code === 'EACCES') return new Error(`cannot listen on ${where}: permission denied; choose an http.port above 1023 in omnibus.yaml`, { cause: error });
  if (code === 'EADDRNOTAVAIL') return new Error(`cannot listen on ${where}: no such local address; check http.host in omnibus.yaml`, { cause: error });
  return new Error(`cannot listen on ${where} (check http.host and http.port in omnibus.yaml)`, { cause: error });
}

/** A running daemon. */
export class Daemon {
  /** Base URL of the HTTP server, e.g. `http://127.0.0.1:8080`. */
  url = '';
  bus: Bus | null = null;
  /** The HTTP application once started; its routes are the ones docs/openapi.json lists. */
  httpApp: Hono | null = null;
  readonly instanceId = `omnibus-${randomBytes(6).toString('hex')}`;
  private server: Server | null = null;
  private gate: HttpGate | null = null;
  private connections: ReturnType<typeof trackConnections> | null = null;
  private localNats: { url: string; stop(): Promise<void> } | null = null;
  private watcher: { close(): void } | null = null;
  private busLoop: Promise<void> | null = null;
  private stopping: Promise<void> | null = null;
  private stopped = false;
  readonly fakes = new Map<string, SandboxFake>();
  /** Platform look-ups of new identities, a few at a time. */
  private lookups: IdentityLookups | null = null;
  relay!: OutboxRelay;
  /** Where media bytes live (file or NATS object store, per `media.store`). */
  store!: MediaStore;
  mediaWorker!: MediaWorker;
  /** Sweeps of expired shared state and orphaned media bytes, on one replica at a time. */
  private housekeeping: Housekeeping | null = null;
  /** Analyzes the ingest tables as they grow (PGlite has no autovacuum; a fresh install outruns it). */
  private statistics: TableStatistics | null = null;
  registry!: AdapterRegistry;
  ingestor!: Ingestor;
  /** Resolution, evidence and erasure of identities (the port's implementation). */
  identities!: IdentityResolver;
  /** verify → parse → record → notify, for webhooks and polls alike. */
  inbound!: InboundPipeline;
  /** One poller per polling account across replicas (the pipeline's second door). */
  pollers: PollLoops | null = null;
  /** What the platforms say about the webhooks of webhook-mode accounts (`/readyz` details). */
  webhookProbes: WebhookProbes | null = null;
  /** Bounds API work (HTTP `/v1` and NATS request/reply) together; extensions pass it to `serveOverNats`. */
  apiLimiter!: ApiLimiter;

  private constructor(
    readonly options: DaemonOptions,
    public config: LoadedConfig,
    readonly logger: Logger,
    readonly metrics: Metrics,
    readonly database: Database,
    readonly clock: Clock,
  ) {}

  /** Loads config, opens everything, and starts serving. Throws (after cleaning up) on failure. */
  static async start(options: DaemonOptions): Promise<Daemon> {
    const config = await loadConfig(options.configDir, options.channels, options.env ?? process.env);
    const logger = createLogger(config.daemon.log.level, options.logDestination, config.daemon.log.format);
    const dataDir = config.daemon.dataDir;
    await mkdir(dataDir, { recursive: true });
    const databaseHint = config.daemon.database.url
      ? 'check database.url and that PostgreSQL is running and reachable'
      : `check that ${path.join(dataDir, 'pglite')} is writable and not used by another daemon`;
    const metrics = createMetrics();
    // The port first: a busy port fails at once, before a database is created or migrated.
    // Until boot hands over the app, every request is answered 503 (not ready yet).
    const gate: HttpGate = { fetch: null };
    const bound = await step(
      'http',
      (error) =>
        /already in use/.test((error as Error).message)
          ? `port ${config.daemon.http.port} is taken: stop the other process or set http.port`
          : 'check http.host and http.port',
      () =>
        listenHttp({
          settings: config.daemon.http,
          fetch: (request, env) => gate.fetch?.(request, env) ?? new Response('omnibus is starting', { status: 503, headers: { 'retry-after': '1' } }),
          logger: logger.child({ component: 'http' }),
          registry: metrics.registry,
        }).catch((error: unknown) => {
          throw bindError(error, config.daemon.http);
        }),
    );
    let database: Database;
    try {
      database = await step('database', databaseHint, () => openDatabase({ url: config.daemon.database.url, dataDir, logger }));
    } catch (error) {
      bound.server.close();
      bound.server.closeAllConnections();
      throw error;
    }
    const daemon = new Daemon(options, config, logger, metrics, database, options.clock ?? systemClock);
    daemon.adoptServer(bound, gate);
    try {
      await step('database', databaseHint, () => database.migrate());
      await daemon.boot();
      return daemon;
    } catch (error) {
      await daemon.stop().catch(() => {});
      throw error;
    }
  }

  private async boot(): Promise<void> {
    const { daemon: settings } = this.config;
    const subjects = subjectsFor(settings.nats.prefix);
    const http = createHttpClient({ logger: this.logger.child({ component: 'http-client' }) });
    // With replicas, media must be readable by all of them: the object store is shared through NATS.
    const store = (this.store =
      settings.media.store === 'nats'
        ? createNatsMediaStore({
            connection: () => (this.bus?.isConnected() ? this.bus.nc : null),
            bucket: `${streamNames(settings.nats.prefix).events.replace(/_EVENTS$/, '')}_MEDIA`,
            stagingDir: path.join(settings.dataDir, 'media-staging'),
            replicas: settings.nats.replicas,
            jetstream: jetStreamOptions(settings.nats),
          })
        : createFileMediaStore(settings.dataDir));
    this.identities = this.options.identities({ db: this.database.db, subjects: () => subjects, merge: () => this.config.daemon.merge });
    const purge = createMediaPurge(this.database.db, store, this.logger.child({ component: 'media' }));
    this.ingestor = new Ingestor(this.database.db, subjects, this.clock, this.identities, purge, this.options.ingestPerEventOnly ?? false);
    const links = createMediaLinkSigner(createSharedState(this.database.db, 'daemon'));
    this.registry = new AdapterRegistry({
      links,
      publicUrl: () => this.config.daemon.http.publicUrl,
      channels: this.options.channels,
      db: this.database.db,
      http,
      clock: this.clock,
      logger: this.logger,
      effective: (account) => this.effectiveAccount(account),
    });
    this.relay = new OutboxRelay(this.database.db, () => (this.bus?.isConnected() ? this.bus.js : null), this.instanceId, this.logger.child({ component: 'relay' }), this.metrics);
    this.mediaWorker = new MediaWorker({
      db: this.database.db,
      store,
      adapters: this.registry,
      clock: this.clock,
      logger: this.logger.child({ component: 'media' }),
      metrics: this.metrics,
      maxBytes: settings.media.maxBytes,
      onReleased: () => this.relay.notify(),
    });
    this.apiLimiter = new ApiLimiter(settings.api, this.metrics.registry);
    this.lookups = new IdentityLookups({
      db: this.database.db,
      identities: this.identities,
      clock: this.clock,
      logger: this.logger.child({ component: 'identity-lookup' }),
      onLearned: () => this.relay.notify(),
    });
    this.inbound = new InboundPipeline({
      adapters: this.registry,
      ingestor: this.ingestor,
      metrics: this.metrics,
      logger: this.logger.child({ component: 'inbound' }),
      lookups: this.lookups,
      // PostgreSQL: `database.ingestLanes` transactions in flight (a batch's commit overlaps the
      // next one's work). PGlite runs one statement at a time whatever we do: one lane.
      ingestLanes: this.database.kind === 'postgres' ? (this.options.ingestLanes ?? (this.config.daemon.database.ingestLanes === 'auto' ? autoIngestLanes() : this.config.daemon.database.ingestLanes)) : 1,
      ingestLingerTurns: this.database.kind === 'pglite' ? (this.options.pgliteLingerTurns ?? PGLITE_LINGER_TURNS) : 0,
      wake: (mediaQueued, recorded) => {
        this.relay.notify();
        if (mediaQueued > 0) this.mediaWorker.notify();
        this.statistics?.recorded(recorded);
      },
    });
    this.pollers = new PollLoops({
      db: this.database.db,
      pipeline: this.inbound,
      holder: this.instanceId,
      logger: this.logger,
      metrics: this.metrics,
      ...(this.options.polling ? { options: this.options.polling } : {}),
    });
    if (settings.sandbox) this.createFakes();

    const app = createApp({
      inbound: this.inbound,
      metrics: this.metrics,
      logger: this.logger,
      bodyLimitBytes: settings.http.bodyLimitBytes,
      api: { limiter: this.apiLimiter, bodyLimitBytes: settings.api.bodyLimitBytes },
      db: this.database.db,
      store,
      tokens: () => this.config.daemon.api.tokens,
      readiness: (scope) => this.readiness(scope),
      beforeScrape: async () => {
        const stats = await outboxStats(this.database.db);
        this.metrics.outboxPending.set(stats.pending);
        this.metrics.outboxLagSeconds.set(stats.lagSeconds);
        this.metrics.outboxOldestAgeSeconds.set(stats.oldestUnpublishedAgeSeconds);
      },
      fakes: this.fakes,
      links,
      publicUrl: () => this.config.daemon.http.publicUrl,
      openapi: () => openApiDocument({ channels: this.options.channels.values(), version: buildInfo().version }),
      mountApi: (api) => {
        for (const extension of this.options.extensions ?? []) extension.mountApi?.(api, this.extensionContext());
      },
      mountApp: (root) => {
        for (const extension of this.options.extensions ?? []) extension.mountApp?.(root, this.extensionContext());
      },
    });
    await step(
      'http',
      (error) =>
        (error as NodeJS.ErrnoException).code === 'EADDRINUSE'
          ? `port ${settings.http.port} is taken: stop the other process or set http.port`
          : 'check http.host and http.port',
      () => this.listen(app),
    );
    this.registry.replace(this.config.accounts.values());
    for (const [channel, fake] of this.fakes) fake.setAccounts(this.accountsOf(channel));
    if (this.options.checkCredentials ?? true) await this.checkCredentials();
    this.webhookProbes = new WebhookProbes({
      adapters: () => this.registry.all(),
      metrics: this.metrics,
      logger: this.logger.child({ component: 'webhook-probe' }),
      ...(this.options.webhookProbeMs !== undefined ? { intervalMs: this.options.webhookProbeMs } : {}),
    });
    // The first probe after registration, so it shows the webhook just set.
    void this.prepareWebhooks().then(() => {
      if (!this.stopped) this.webhookProbes?.start();
    });

    await this.connectNats();
    this.relay.start();
    this.mediaWorker.start();
    this.housekeeping = new Housekeeping({ db: this.database.db, store, clock: this.clock, logger: this.logger.child({ component: 'housekeeping' }), holder: this.instanceId });
    this.housekeeping.start();
    this.statistics = new TableStatistics({ db: this.database.db, logger: this.logger.child({ component: 'statistics' }) });
    this.statistics.start();
    for (const extension of this.options.extensions ?? []) await extension.start?.(this.extensionContext());
    this.pollers.sync(this.registry.all());
    if (this.options.watch ?? true) this.watchConfig();
    this.logger.info({ url: this.url, accounts: this.registry.all().map((e) => e.account.id), sandbox: settings.sandbox }, 'omnibus started');
  }

  /** The narrow view extensions get: live accessors over this daemon's services. */
  private extensionContext(): ExtensionContext {
    const daemon = this;
    const subjects = subjectsFor(this.config.daemon.nats.prefix);
    return {
      db: this.database.db,
      get config() {
        return daemon.config;
      },
      get bus() {
        return daemon.bus;
      },
      subjects,
      logger: this.logger,
      metrics: this.metrics,
      clock: this.clock,
      store: this.store,
      accounts: this.registry,
      identities: this.identities,
      apiLimiter: this.apiLimiter,
      instanceId: this.instanceId,
      notifyRelay: () => this.relay.notify(),
    };
  }

  /** Takes over the server `start` bound before the database was opened. */
  private adoptServer(bound: HttpServer, gate: HttpGate): void {
    this.server = bound.server;
    this.url = bound.url;
    this.gate = gate;
    this.connections = trackConnections(bound.server);
  }

  private async listen(app: Hono): Promise<void> {
    this.httpApp = app;
    const fetch = async (request: Request, env: HttpBindings | Http2Bindings) => {
      const response = await app.fetch(request, env);
      // Once stopping, every answer closes its connection: keep-alive clients would otherwise
      // hold server.close() open with new requests until the force timer cuts requests in flight.
      if (this.stopped && 'outgoing' in env && env.outgoing instanceof ServerResponse && !env.outgoing.headersSent) env.outgoing.setHeader('connection', 'close');
      return response;
    };
    this.gate!.fetch = fetch;
  }

  /** In sandbox mode, accounts with no apiBase talk to the built-in fake of their platform. */
  private effectiveAccount(account: AccountConfig): AccountConfig {
    if (!this.config.daemon.sandbox || account.apiBase !== null || !this.fakes.has(account.channel)) return account;
    return Object.freeze({ ...account, apiBase: `${this.url}/sandbox/${account.channel}` });
  }

  private accountsOf(channel: string): AccountConfig[] {
    return [...this.config.accounts.values()].filter((a) => a.channel === channel).map((a) => this.effectiveAccount(a));
  }

  private createFakes(): void {
    for (const [id, definition] of this.options.channels) {
      if (!definition.sandbox) continue;
      const fake = definition.sandbox.createFake({
        accounts: [],
        clock: this.clock,
        basePath: `/sandbox/${id}`,
        deliverWebhook: (spec: WebhookRequestSpec) => this.deliverToSelf(spec),
      });
      this.fakes.set(id, fake);
    }
  }

  /** The fakes call the daemon back the way the platform would, over HTTP. */
  private async deliverToSelf(spec: WebhookRequestSpec): Promise<{ status: number }> {
    const response = await fetch(`${this.url}${spec.path}`, { method: spec.method, headers: spec.headers, body: spec.body as string });
    await response.arrayBuffer();
    return { status: response.status };
  }

  /**
   * Once at start: webhook-mode accounts whose adapter registers its own webhook (Telegram
   * setWebhook) do so. A failure is logged by code only (never the URL or secret) and never fatal.
   */
  private async prepareWebhooks(): Promise<void> {
    await Promise.allSettled(
      this.registry.all().map(async ({ adapter }) => {
        if (!adapter.prepareWebhook || (adapter.inboundMode ?? 'webhook') !== 'webhook') return;
        try {
          await adapter.prepareWebhook(AbortSignal.timeout(30_000));
        } catch (error) {
          const code = (error as { code?: unknown }).code;
          this.logger.warn({ channel: adapter.channel, account: adapter.account, code: typeof code === 'string' ? code : 'internal' }, 'webhook registration failed; register it by hand or restart');
        }
      }),
    );
  }

  private async checkCredentials(): Promise<void> {
    for (const { adapter, account } of this.registry.all()) {
      try {
        await adapter.checkCredentials(AbortSignal.timeout(10_000));
      } catch (error) {
        const details = (error as { details?: { field?: string } }).details;
        if (details?.field) {
          throw new StartupError(
            'channel',
            `account ${account.id} (${account.channel}): credentials refused`,
            `check the field '${details.field}' in the channel file of ${account.id}`,
            { cause: error },
          );
        }
        // An unreachable platform is expected now and then: its code, not a stack trace.
        this.logger.warn({ channel: account.channel, account: account.id, ...failureFields(error) }, 'could not check credentials; continuing');
      }
    }
  }

  /**
   * Opens NATS; if it is down, keeps trying in the background while webhooks are still recorded.
   * A server that refuses the credentials or the TLS setup is fatal instead: retrying the same
   * settings cannot help, and an operator must see it at once.
   */
  private async connectNats(): Promise<void> {
    const settings = this.config.daemon;
    let servers = settings.nats.url;
    if (!servers) {
      const storeDir = path.join(settings.dataDir, 'nats');
      this.localNats = await step('nats', 'install nats-server (scripts/setup.mjs) or set nats.url to a NATS server with JetStream', () =>
        startLocalNatsServer({ storeDir, logger: this.logger.child({ component: 'nats-server' }) }),
      );
      servers = this.localNats.url;
      // `omnibus tail` reads this to find the local server.
      await writeFile(path.join(settings.dataDir, 'nats', 'url'), `${servers}\n`).catch(() => {});
    }
    const connection = await step('nats', 'check the nats section of omnibus.yaml', () => natsConnectOptions(settings.nats));
    const attempt = async () => {
      this.bus = await openBus({
        servers: servers!,
        prefix: settings.nats.prefix,
        logger: this.logger,
        name: this.instanceId,
        replicas: settings.nats.replicas,
        connection,
        jetstream: jetStreamOptions(settings.nats),
      });
    };
    try {
      await attempt();
    } catch (error) {
      const fatal = classifyConnectError(error, settings.nats);
      if (fatal) throw new StartupError('nats', fatal.message, `check ${fatal.field} in omnibus.yaml`, { cause: error });
      this.logger.warn({ reason: error instanceof Error ? error.message : String(error) }, 'nats unavailable at start; recording continues, will keep trying');
      this.busLoop = (async () => {
        while (!this.stopped && !this.bus) {
          await new Promise((r) => setTimeout(r, 2_000));
          if (this.stopped) return;
          await attempt().catch(() => {});
        }
        this.relay.notify();
      })();
    }
  }

  private watchConfig(): void {
    this.watcher = watchChannelFiles({
      dir: this.config.dir,
      channels: this.options.channels,
      env: this.options.env ?? process.env,
      current: this.config,
      logger: this.logger.child({ component: 'config' }),
      onChange: (next, diff) => {
        try {
          const changed = new Set([...diff.added, ...diff.changed]);
          const previous = this.registry;
          const gone = previous.replace(next.accounts.values(), (id) => !changed.has(id));
          this.config = Object.freeze({ ...next, daemon: this.config.daemon });
          for (const [channel, fake] of this.fakes) fake.setAccounts(this.accountsOf(channel));
          this.pollers?.sync(this.registry.all());
          for (const entry of gone) void entry.adapter.close?.();
          this.metrics.configReloads.inc({ result: 'applied' });
        } catch (error) {
          this.metrics.configReloads.inc({ result: 'failed' });
          // The watcher logs the one line for this reload, applied or failed.
          throw error;
        }
      },
      onInvalid: () => {
        this.metrics.configReloads.inc({ result: 'rejected' });
      },
    });
  }

  /**
   * /readyz: the database answers, NATS is connected, and the outbox is not stuck.
   * /readyz/webhooks (`webhooks`): the database alone, since recording a webhook needs nothing
   * else; NATS catches up from the outbox.
   */
  async readiness(scope: 'daemon' | 'webhooks' = 'daemon'): Promise<{ ready: boolean; checks: Record<string, boolean>; details?: ReadinessDetails }> {
    const database = await this.database.ping();
    if (scope === 'webhooks') return { ready: database && !this.stopped, checks: { database } };
    const outbox = await outboxReadiness(this.database.db).catch(() => null);
    const checks = { database, nats: this.bus?.isConnected() ?? false, outbox: outbox?.ok ?? false };
    const details: ReadinessDetails = { outbox: outbox && { oldestUnpublishedAgeSeconds: outbox.oldestUnpublishedAgeSeconds } };
    // Shown, never failing readiness: a conflicting poller or a failing webhook is the platform's side.
    const polling = this.pollers?.status() ?? {};
    if (Object.keys(polling).length > 0) details.polling = polling;
    const webhooks = this.webhookProbes?.snapshot() ?? {};
    if (Object.keys(webhooks).length > 0) details.webhooks = webhooks;
    return { ready: checks.database && checks.nats && checks.outbox && !this.stopped, checks, details };
  }

  /** Drains HTTP, then workers and relay, then NATS, then the database. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private async shutdown(): Promise<void> {
    this.stopped = true;
    this.watcher?.close();
    // No ANALYZE during the drain: on PGlite it holds the one connection, and the webhooks the
    // drain still takes in would wait behind it.
    await this.statistics?.stop().catch(() => {});
    // Requests in flight are answered; connections still open after 4 seconds are cut.
    await this.connections?.drain(4_000);
    await this.pollers?.stop();
    await this.webhookProbes?.stop();
    await this.lookups?.stop();
    for (const extension of this.options.extensions ?? []) await extension.stop?.().catch(() => {});
    await this.housekeeping?.stop().catch(() => {});
    await this.mediaWorker?.stop().catch(() => {});
    await this.relay?.stop().catch(() => {});
    await this.busLoop?.catch(() => {});
    await this.bus?.close().catch(() => {});
    await this.localNats?.stop().catch(() => {});
    for (const entry of this.registry?.all() ?? []) await entry.adapter.close?.().catch(() => {});
    await this.database.close().catch(() => {});
    this.logger.info('omnibus stopped');
  }
}
