/**
 * The durable command stream: `<p>.v1.cmd.send` on the work-queue stream, read by the durable
 * consumer `omnibus-send` that every replica shares. A command is acked once its outcome is
 * durable: accepted (its status events follow) or refused (a `message.status` `failed` event
 * with its idempotencyKey is in the outbox). A failure of the moment (database down) is
 * redelivered with a growing delay; after `maxCommandDeliveries` the command is dead-lettered
 * on `<p>.v1.evt.message.deadletter.<channel>.<account>` and terminated, so it never blocks
 * the stream. Commands for one recipient are accepted one after another, in stream order.
 */
import { AckPolicy, DeliverPolicy, type ConsumerMessages, type JsMsg } from '@nats-io/jetstream';
import { nanos } from '@nats-io/nats-core';
import PQueue from 'p-queue';
import type { Logger } from 'pino';
import type { Bus } from '../core/nats/bus.ts';
import { OmniError, toOmniError } from '../core/errors.ts';
import { sendCommandSchema } from '../core/schemas/api.ts';
import { accountIdSchema, type DeadletterEvent } from '../core/schemas/events.ts';
import type { StatusEvent } from '../core/model.ts';
import type { OutboundDeps } from './deps.ts';
import type { SendAcceptor } from './accept.ts';
import { keyDigest, publishRefusal, type RefusalScope } from './answers.ts';

/** The durable consumer's name, shared by every replica. */
export const SEND_CONSUMER = 'omnibus-send';

/** Reads send commands from JetStream until stopped. */
export class CommandConsumer {
  private messages: ConsumerMessages | null = null;
  private loop: Promise<void> | null = null;
  private readonly work: PQueue;
  private readonly chains = new Map<string, Promise<void>>();
  private readonly log: Logger;
  private stopped = false;

  constructor(
    private readonly deps: OutboundDeps,
    private readonly acceptor: SendAcceptor,
  ) {
    this.log = deps.logger.child({ component: 'commands' });
    this.work = new PQueue({ concurrency: deps.settings.commandConcurrency });
  }

  /** Creates (or updates) the durable consumer and starts reading; throws if it cannot. */
  async start(bus: Bus): Promise<void> {
    await this.ensureConsumer(bus);
    this.loop = this.run(bus);
  }

  /** Stops reading; commands being accepted finish and are acked first. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.messages?.close();
    await this.loop;
    await Promise.allSettled([...this.chains.values()]);
    await this.work.onIdle();
  }

  private async ensureConsumer(bus: Bus): Promise<void> {
    const config = {
      durable_name: SEND_CONSUMER,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      filter_subject: bus.subjects.cmd.send,
      // `working()` extends it while an acceptance fetches attachments.
      ack_wait: nanos(this.deps.settings.commandAckWaitMs),
      // A safety net only: the handler terminates a command itself at the bound.
      max_deliver: this.deps.settings.maxCommandDeliveries + 2,
      max_ack_pending: 256,
    };
    try {
      await bus.jsm.consumers.add(bus.streams.commands, config);
    } catch (error) {
      const existing = await bus.jsm.consumers.info(bus.streams.commands, SEND_CONSUMER).catch(() => null);
      if (!existing) throw error;
      await bus.jsm.consumers.update(bus.streams.commands, SEND_CONSUMER, {
        ack_wait: config.ack_wait,
        max_deliver: config.max_deliver,
        max_ack_pending: config.max_ack_pending,
      });
    }
  }

  /** Reads until stopped; if the subscription ends on its own (consumer deleted, server gone), reads again. */
  private async run(bus: Bus): Promise<void> {
    while (!this.stopped) {
      try {
        const consumer = await bus.js.consumers.get(bus.streams.commands, SEND_CONSUMER);
        // Small pulls: what a stopping replica has pulled but not handled waits `ack_wait` for redelivery.
        this.messages = await consumer.consume({ max_messages: this.deps.settings.commandConcurrency });
        await this.read(bus, this.messages);
      } catch (error) {
        if (!this.stopped) this.log.warn({ err: error }, 'send command consumer failed; reading again');
      }
      if (this.stopped) return;
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      await this.ensureConsumer(bus).catch((error: unknown) => this.log.warn({ err: error }, 'could not recreate the send command consumer'));
    }
  }

  private async read(bus: Bus, messages: ConsumerMessages): Promise<void> {
    for await (const msg of messages) {
      const body = parseJson(msg.data);
      const key = orderKey(body);
      const previous = this.chains.get(key) ?? Promise.resolve();
      const next = previous
        .then(() => this.work.add(() => this.handle(bus, msg, body)))
        .catch((error: unknown) => this.log.error({ err: error }, 'send command handling failed; it will be redelivered'));
      this.chains.set(key, next);
      void next.finally(() => {
        if (this.chains.get(key) === next) this.chains.delete(key);
      });
      // Back-pressure: never hold far more commands than we accept at once.
      if (this.work.size > this.deps.settings.commandConcurrency * 4) await this.work.onSizeLessThan(this.deps.settings.commandConcurrency);
    }
  }

  private async handle(bus: Bus, msg: JsMsg, body: unknown): Promise<void> {
    // Pulled but not started before a stop: give it back now rather than after `ack_wait`.
    if (this.stopped) return msg.nak();
    const keepAlive = setInterval(() => msg.working(), this.deps.settings.commandAckWaitMs / 3);
    try {
      const parsed = sendCommandSchema.safeParse(body);
      if (!parsed.success) {
        const error = new OmniError('invalid_request', 'the command does not match omni.send/v1', {
          details: { issues: parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })) },
        });
        await this.refuse(bus, msg, body, error);
        return;
      }
      try {
        await this.acceptor.accept(parsed.data, 'command');
      } catch (thrown) {
        const error = toOmniError(thrown);
        // Not remembered, but permanent: the same command would be refused again.
        if (error.code === 'invalid_request') return await this.refuse(bus, msg, body, error);
        throw error;
      }
      await msg.ackAck();
    } catch (thrown) {
      await this.retryOrDeadLetter(bus, msg, body, toOmniError(thrown));
    } finally {
      clearInterval(keepAlive);
    }
  }

  /** A permanent refusal of a command that could not even be checked: `failed` status, ack. */
  private async refuse(bus: Bus, msg: JsMsg, body: unknown, error: OmniError): Promise<void> {
    const key = keyOf(body);
    const msgId = `cmd:${keyDigest(key ?? `seq:${msg.seq}`)}:invalid`;
    await publishRefusal(this.deps.db, bus.subjects, key, error.toBody(), this.scopeOf(body), this.deps.clock.now(), msgId);
    this.deps.notifyRelay();
    await msg.ackAck();
  }

  private async retryOrDeadLetter(bus: Bus, msg: JsMsg, body: unknown, error: OmniError): Promise<void> {
    const deliveries = msg.info.deliveryCount;
    if (deliveries < this.deps.settings.maxCommandDeliveries) {
      const delay = Math.min(60_000, this.deps.settings.commandRetryMs * 2 ** (deliveries - 1));
      this.log.warn({ err: error, deliveries, delay }, 'send command failed for now; redelivering');
      msg.nak(delay);
      return;
    }
    // Straight to JetStream: the database may be why it keeps failing.
    const scope = this.scopeOf(body);
    const at = this.deps.clock.now().toISOString();
    const digest = keyDigest(keyOf(body) ?? `seq:${msg.seq}`);
    try {
      const deadLetter: DeadletterEvent = { schema: 'omni.deadletter/v1', channel: scope.channel, account: scope.account, error: error.toBody(), at, raw: body ?? null };
      await bus.js.publish(bus.subjects.evt.deadletter(scope.channel, scope.account), JSON.stringify(deadLetter), { msgID: `cmd:${digest}:deadletter` });
      const failed: StatusEvent = {
        schema: 'omni.status/v1',
        messageId: null,
        idempotencyKey: keyOf(body),
        channel: scope.channel,
        account: scope.account,
        externalId: '',
        status: 'failed',
        error: error.toBody(),
        at,
      };
      await bus.js.publish(bus.subjects.evt.messageStatus(scope.channel, scope.account), JSON.stringify(failed), { msgID: `cmd:${digest}:failed` });
    } catch (publishError) {
      this.log.error({ err: publishError }, 'could not dead-letter a send command; redelivering');
      msg.nak(this.deps.settings.commandRetryMs);
      return;
    }
    this.deps.metrics.deadLetters.inc({ channel: scope.channel, account: scope.account });
    this.log.error({ err: error, deliveries }, 'send command dead-lettered');
    // No reason string: servers before 2.10 do not understand `+TERM <reason>` and ignore it.
    msg.term();
  }

  private scopeOf(body: unknown): RefusalScope {
    const account = (body as { account?: unknown } | null)?.account;
    if (typeof account !== 'string' || !accountIdSchema.safeParse(account).success) return { channel: 'unknown', account: 'unknown' };
    return { channel: this.deps.accounts.get(account)?.account.channel ?? 'unknown', account };
  }
}

function parseJson(data: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(data));
  } catch {
    return undefined;
  }
}

function keyOf(body: unknown): string | null {
  const key = (body as { idempotencyKey?: unknown } | null)?.idempotencyKey;
  return typeof key === 'string' && key.length > 0 && key.length <= 200 ? key : null;
}

/** Commands to one recipient share a key, so they are accepted in stream order. */
function orderKey(body: unknown): string {
  const command = body as { account?: unknown; to?: unknown } | null;
  return `${String(command?.account ?? '')}|${JSON.stringify(command?.to ?? null)}`;
}
