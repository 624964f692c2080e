/**
 * The outbound module as a daemon extension: the acceptance path behind `api.send`,
 * `POST /v1/messages` and the command stream; the per-account senders; the session scheduler;
 * and the read operations `message.get` and `session.get`. See docs/outbound.md.
 */
import path from 'node:path';
import type { Hono } from 'hono';
import type { DaemonExtension, ExtensionContext } from '../core/extension-context.ts';
import { serveOverNats } from '../core/api/operations.ts';
import { createHttpClient, type HttpClient } from '../core/http-client.ts';
import { resolveSettings, type OutboundDeps, type OutboundSettings } from './deps.ts';
import { SendAcceptor } from './accept.ts';
import { OutboundSender } from './sender.ts';
import { CommandConsumer } from './commands.ts';
import { SessionScheduler } from './sessions.ts';
import { mountOutboundHttp, natsOperations } from './operations.ts';
import { createOutboundMetrics } from './metrics.ts';
import { TemplateSyncer, type TemplateSyncSettings } from './template-sync.ts';
import { mountTemplateHttp, templateListOperation } from './template-operations.ts';
import { costSummaryOperation, mountCostHttp } from './cost-operations.ts';
import { registerCostMetrics } from './costs.ts';
import { conversationReadOperation, conversationTypingOperation, mountSignalHttp } from './signals.ts';

export type { OutboundSettings } from './deps.ts';
export type { SendOutcome, SendSource } from './answers.ts';

/** Options of the outbound extension. */
export interface OutboundOptions {
  settings?: Partial<OutboundSettings>;
  /** The client attachments are fetched with (default: a guarded client, public addresses only). */
  http?: HttpClient;
  /** How often template catalogs are synced (tests shorten it). */
  templates?: Partial<TemplateSyncSettings>;
}

/** The running outbound module of one daemon. */
export class OutboundExtension implements DaemonExtension {
  private deps: OutboundDeps | null = null;
  acceptor!: SendAcceptor;
  sender!: OutboundSender;
  sessions!: SessionScheduler;
  templates!: TemplateSyncer;
  private commands: CommandConsumer | null = null;
  private api: { stop(): Promise<void> } | null = null;
  private attach: Promise<void> | null = null;
  private stopped = false;

  constructor(private readonly options: OutboundOptions = {}) {}

  mountApi(api: Hono, context: ExtensionContext): void {
    const deps = this.wire(context);
    mountOutboundHttp(api, deps, this.acceptor, deps.logger);
    mountTemplateHttp(api, deps, deps.logger);
    mountCostHttp(api, deps, deps.logger);
    mountSignalHttp(api, deps, deps.logger);
  }

  async start(context: ExtensionContext): Promise<void> {
    this.wire(context);
    this.sender.start();
    this.sessions.start();
    this.templates.start();
    this.attach = this.attachNats(context);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.attach;
    await this.commands?.stop().catch(() => undefined);
    await this.api?.stop().catch(() => undefined);
    await this.sender?.stop();
    await this.sessions?.stop();
    await this.templates?.stop();
  }

  /** Builds the module once; both `mountApi` (before start) and `start` need it. */
  private wire(context: ExtensionContext): OutboundDeps {
    if (this.deps) return this.deps;
    const logger = context.logger.child({ component: 'outbound' });
    const deps: OutboundDeps = {
      db: context.db,
      accounts: context.accounts,
      subjects: context.subjects,
      clock: context.clock,
      logger,
      store: context.store,
      http: this.options.http ?? createHttpClient({ logger: logger.child({ component: 'attachments' }) }),
      mediaMaxBytes: () => context.config.daemon.media.maxBytes,
      holder: context.instanceId,
      settings: resolveSettings(this.options.settings),
      metrics: createOutboundMetrics(context.metrics.registry),
      meetRecipient: async (entry, externalId, at) => {
        const scope = { channel: entry.account.channel, account: entry.account.id };
        await context.identities.learn(scope, { externalId }, at);
      },
      notifyRelay: () => context.notifyRelay(),
      notifySender: (account) => this.sender?.notify(account),
    };
    this.deps = deps;
    registerCostMetrics(context.metrics.registry, context.db, logger);
    this.acceptor = new SendAcceptor(deps);
    this.sender = new OutboundSender(deps);
    this.sessions = new SessionScheduler(deps);
    this.templates = new TemplateSyncer(deps, this.options.templates);
    return deps;
  }

  /** NATS may come up after the daemon: serve the API and read commands once it is there. */
  private async attachNats(context: ExtensionContext): Promise<void> {
    const deps = this.deps!;
    while (!this.stopped) {
      const bus = context.bus;
      if (bus) {
        this.api = serveOverNats(bus.nc, bus.subjects.api, [...natsOperations(deps, this.acceptor), templateListOperation(deps), costSummaryOperation(deps), conversationReadOperation(deps), conversationTypingOperation(deps)], deps.logger, context.apiLimiter);
        const commands = new CommandConsumer(deps, this.acceptor);
        try {
          await commands.start(bus);
          this.commands = commands;
          return;
        } catch (error) {
          deps.logger.warn({ err: error }, 'could not start the send command consumer; will retry');
          await this.api.stop();
          this.api = null;
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
  }
}

/** The outbound extension the shipped daemon runs. */
export function createOutbound(options: OutboundOptions = {}): OutboundExtension {
  return new OutboundExtension(options);
}
