/**
 * Asks the platform about identities seen for the first time (WeChat's UnionID) and records what
 * it says as merge evidence. Best effort, after the events were recorded and answered, a few at
 * a time: a failure only costs a later merge.
 */
import PQueue from 'p-queue';
import { and, eq } from 'drizzle-orm';
import type { Logger } from 'pino';
import type { ChannelAdapter } from '../adapter.ts';
import type { Clock } from '../clock.ts';
import type { Db } from '../storage/db.ts';
import { identities } from '../storage/schema.ts';
import type { IdentityResolver } from '../ports/identity-resolver.ts';

/** What the look-ups need. */
export interface IdentityLookupDeps {
  db: Db;
  /** Records what the platform said as merge evidence. */
  identities: IdentityResolver;
  clock: Clock;
  logger: Logger;
  /** Called after evidence was recorded (its events wait in the outbox). */
  onLearned(): void;
}

/** A small queue of look-ups; `stop` drops what has not started and waits for the rest. */
export class IdentityLookups {
  private readonly queue = new PQueue({ concurrency: 2 });
  private stopped = false;

  constructor(private readonly deps: IdentityLookupDeps) {}

  enqueue(adapter: ChannelAdapter, externalIds: ReadonlyArray<string>): void {
    if (!adapter.lookupIdentity || this.stopped) return;
    for (const externalId of externalIds) void this.queue.add(() => this.lookup(adapter, externalId));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.queue.clear();
    await this.queue.onIdle();
  }

  private async lookup(adapter: ChannelAdapter, externalId: string): Promise<void> {
    const scope = { channel: adapter.channel, account: adapter.account };
    try {
      const who = await adapter.lookupIdentity!(externalId, AbortSignal.timeout(10_000));
      if (!who || this.stopped) return;
      // The person may have been erased (unsubscribed) while we asked: never bring them back.
      const [still] = await this.deps.db
        .select({ id: identities.id })
        .from(identities)
        .where(and(eq(identities.channel, scope.channel), eq(identities.account, scope.account), eq(identities.externalId, externalId)))
        .limit(1);
      if (!still) return;
      await this.deps.identities.learn(scope, who, this.deps.clock.now());
      this.deps.onLearned();
    } catch (error) {
      this.deps.logger.warn({ ...scope, err: error }, 'identity lookup failed');
    }
  }
}
