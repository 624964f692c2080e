/**
 * Records one batch of verified events (a webhook's, or a poll's) durably: in ONE transaction
 * when it can, so a webhook costs one commit. When an item of the batch cannot be stored (the
 * database refused a value, not the database being down), the batch is recorded item by item
 * and the item that still fails is dead-lettered with its raw bytes, so the rest is recorded
 * and the platform gets its 2xx. Any other failure rolls back and is thrown: answer 503.
 * `recordBatch` records several webhooks in one transaction for group commit.
 */
import type { InboundEvent, VerifiedWebhook } from '../adapter.ts';
import type { Clock } from '../clock.ts';
import type { Db, Tx } from '../storage/db.ts';
import type { Subjects } from '../schemas/subjects.ts';
import type { MediaPurge } from '../media/purge.ts';
import type { IdentityResolver } from '../ports/identity-resolver.ts';
import { EventRecorder, type ErasedMedia } from './record.ts';
import { BatchRecorder } from './record-batch.ts';
import { recordDeadLetter } from './dead-letters.ts';
import { rawBytesOf, screenEvents } from './edge.ts';
import { isItemDataError, isTransientConflict } from './store-errors.ts';
import { addResult, emptyResult, type IngestResult, type IngestScope } from './scope.ts';

/** Times a transaction aborted by a deadlock or serialization conflict is run again. */
const CONFLICT_RETRIES = 3;

/** Extra work committed atomically with the batch (a poller's cursor). */
export interface RecordOptions {
  /** Runs in the transaction that records the batch (or, item by item, in the last one). */
  within?(tx: Tx): Promise<void>;
}

/** Records verified events; throws (and rolls back) when the database cannot take them. */
export class Ingestor {
  private readonly recorder: EventRecorder;
  private readonly batch: BatchRecorder;

  constructor(
    private readonly db: Db,
    private readonly subjects: Subjects,
    private readonly clock: Clock,
    identities: IdentityResolver,
    /** Deletes erased media bytes once the erasing transaction committed. */
    private readonly purge: MediaPurge,
    /** Records every event on the per-event path, as before set-based recording (for comparisons). */
    perEventOnly = false,
  ) {
    this.recorder = new EventRecorder(subjects, identities);
    this.batch = new BatchRecorder(subjects, identities, this.recorder, !perEventOnly);
  }

  async record(scope: IngestScope, webhook: VerifiedWebhook | null, input: ReadonlyArray<InboundEvent>, options: RecordOptions = {}): Promise<IngestResult> {
    const events = screenEvents(input);
    const receivedAt = this.clock.now();
    try {
      return await this.inTransaction(async (tx, result, erased) => {
        if (webhook?.replayGuard) await this.recorder.guardReplay(tx, scope, webhook.replayGuard);
        await this.batch.record(tx, [{ scope, events, result }], receivedAt, erased);
        await options.within?.(tx);
      });
    } catch (error) {
      if (!isItemDataError(error) || events.length === 0) throw error;
      return this.recordOneByOne(scope, webhook, events, receivedAt, options);
    }
  }

  /**
   * Records several webhooks in ONE transaction, in the order given, one result each. Any
   * failure rolls the whole batch back and is thrown: the caller then records each webhook on
   * its own with `record`, so one failing webhook never costs the others.
   */
  async recordBatch(batch: ReadonlyArray<{ scope: IngestScope; webhook: VerifiedWebhook | null; events: ReadonlyArray<InboundEvent> }>): Promise<IngestResult[]> {
    const receivedAt = this.clock.now();
    const screened = batch.map((item) => screenEvents(item.events));
    const results = batch.map(() => emptyResult());
    const erased: ErasedMedia = [];
    await this.db.transaction(async (tx) => {
      // Replay guards first: a forged replay fails the batch before anything else is written.
      for (const { scope, webhook } of batch) if (webhook?.replayGuard) await this.recorder.guardReplay(tx, scope, webhook.replayGuard);
      await this.batch.record(tx, batch.map(({ scope }, index) => ({ scope, events: screened[index]!, result: results[index]! })), receivedAt, erased);
    });
    for (const { keys, log, what } of erased) this.purge.afterCommit(keys, log, what);
    return results;
  }

  /** The slow path: every item in its own transaction; an item refused again is dead-lettered. */
  private async recordOneByOne(
    scope: IngestScope,
    webhook: VerifiedWebhook | null,
    events: ReadonlyArray<InboundEvent>,
    receivedAt: Date,
    options: RecordOptions,
  ): Promise<IngestResult> {
    const total = emptyResult();
    const { channel, account } = scope.adapter;
    if (webhook?.replayGuard) {
      const guard = webhook.replayGuard;
      addResult(total, await this.inTransaction((tx) => this.recorder.guardReplay(tx, scope, guard)));
    }
    for (const [index, event] of events.entries()) {
      const last = index === events.length - 1;
      const within = last ? options.within : undefined;
      try {
        addResult(total, await this.inTransaction(async (tx, result, erased) => {
          await this.recorder.record(tx, scope, event, receivedAt, result, erased);
          await within?.(tx);
        }));
      } catch (error) {
        if (!isItemDataError(error)) throw error;
        const item = event as { dedupeKey?: string; raw?: unknown };
        addResult(total, await this.inTransaction(async (tx, result) => {
          const raw = event.kind === 'invalid' ? event.raw : rawBytesOf(item.raw);
          const fresh = await recordDeadLetter(tx, this.subjects, { channel, account, dedupeKey: item.dedupeKey ?? '', reason: 'store_failed', raw, at: receivedAt });
          if (fresh) result.deadLettered.store_failed = 1;
          else result.duplicates++;
          await within?.(tx);
        }));
      }
    }
    return total;
  }

  /**
   * Runs `work` in a transaction with a fresh result; purges erased media after the commit. A
   * transaction PostgreSQL aborted to break a deadlock (or a serialization conflict) is run
   * again, up to `CONFLICT_RETRIES` times: it stored nothing, and the other side has committed.
   */
  private async inTransaction(work: (tx: Tx, result: IngestResult, erased: ErasedMedia) => Promise<void>): Promise<IngestResult> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.inTransactionOnce(work);
      } catch (error) {
        if (attempt >= CONFLICT_RETRIES || !isTransientConflict(error)) throw error;
      }
    }
  }

  private async inTransactionOnce(work: (tx: Tx, result: IngestResult, erased: ErasedMedia) => Promise<void>): Promise<IngestResult> {
    const result = emptyResult();
    const erased: ErasedMedia = [];
    await this.db.transaction((tx) => work(tx, result, erased));
    // Stored bytes only after commit, and only those no media row names any more.
    for (const { keys, log, what } of erased) this.purge.afterCommit(keys, log, what);
    return result;
  }
}
