/**
 * Deleting stored media bytes that no media row references any more (after an erase). Bytes
 * are content-addressed, so one key may serve several messages: a key is deleted only when no
 * `media` row names it. The check and the delete run under a transaction-scoped advisory lock
 * on the key, which the media worker also takes when it settles a row on a key (worker.ts): a
 * fetch that stored the same bytes meanwhile either commits its row first (the key is kept) or
 * finds the bytes gone and fetches again.
 *
 * Erase runs inside the ingest transaction, which knows the database but not the store; the
 * daemon builds a `MediaPurge` over its store and hands it to the ingest, which passes the keys
 * on once its transaction committed.
 *
 * A purge lost to a crash (or a store write whose row was never committed) leaves bytes no row
 * names: `sweepOrphanedMedia` finds them by listing the store, and deletes those older than a
 * grace period (so bytes whose row is still being written are left alone) through the same
 * locked check. The daemon's housekeeping runs it on one replica at a time.
 */
import { inArray, sql } from 'drizzle-orm';
import type { Logger } from 'pino';
import type { Db, Tx } from '../storage/db.ts';
import { rowsOf } from '../storage/lease.ts';
import { media } from '../storage/schema.ts';
import type { MediaStore } from './store.ts';

/** The same advisory lock for a key wherever it is taken (the worker's settle, the purge). */
export async function lockMediaKey(tx: Tx, key: string): Promise<void> {
  await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${`omnibus:media:${key}`}, 0))`);
}

/** What a purge did, for the log line. */
export interface PurgeResult {
  deleted: number;
  /** Still referenced by another media row (shared bytes). */
  kept: number;
  failed: number;
}

/** Deletes the bytes of every key no media row references; best effort, never throws. */
export async function purgeUnreferencedMedia(db: Db, store: MediaStore, keys: ReadonlyArray<string>, logger: Logger): Promise<PurgeResult> {
  const result: PurgeResult = { deleted: 0, kept: 0, failed: 0 };
  for (const key of new Set(keys)) {
    try {
      const deleted = await db.transaction(async (tx) => {
        await lockMediaKey(tx, key);
        const referenced = rowsOf<{ one: number }>(await tx.execute(sql`select 1 as one from media where storage_key = ${key} limit 1`));
        if (referenced.length > 0) return false;
        await store.delete(key);
        return true;
      });
      if (deleted) result.deleted++;
      else result.kept++;
    } catch (error) {
      result.failed++;
      // The key is a content hash: it names no one. Orphaned bytes are never served (no row points at them).
      logger.warn({ err: error, key }, 'could not delete unreferenced media bytes; they stay orphaned');
    }
  }
  return result;
}

/** Deletes, after an erase committed, the bytes its media rows held (the ingest's dependency). */
export interface MediaPurge {
  /** In the background (the webhook is answered meanwhile); logs `what` with `context` when done. */
  afterCommit(keys: ReadonlyArray<string>, context: Record<string, unknown>, what?: string): void;
}

/** The purge over the daemon's store; `logger` is the media worker's (component `media`). */
export function createMediaPurge(db: Db, store: MediaStore, logger: Logger): MediaPurge {
  return {
    afterCommit(keys, context, what = 'identity erased') {
      if (keys.length === 0) {
        logger.info(context, what);
        return;
      }
      void purgeUnreferencedMedia(db, store, keys, logger).then((media) => logger.info({ ...context, media }, what));
    },
  };
}

/** What one sweep found and did. */
export interface OrphanSweepResult extends PurgeResult {
  /** Keys listed in the store. */
  scanned: number;
}

/** Keys checked against the media table per query. */
const SWEEP_BATCH = 500;

/**
 * Deletes stored bytes that no media row references and that were written before
 * `now - graceMs`. Best effort: a failure is counted and logged, never thrown (but a store
 * that cannot be listed, e.g. NATS down, throws: the next run tries again).
 */
export async function sweepOrphanedMedia(
  db: Db,
  store: MediaStore,
  options: { graceMs: number; now: Date; logger: Logger },
): Promise<OrphanSweepResult> {
  const result: OrphanSweepResult = { scanned: 0, deleted: 0, kept: 0, failed: 0 };
  if (!store.list) return result;
  const cutoff = options.now.getTime() - options.graceMs;
  let batch: string[] = [];
  const flush = async () => {
    const keys = batch;
    batch = [];
    if (keys.length === 0) return;
    const referenced = new Set(
      (await db.selectDistinct({ key: media.storageKey }).from(media).where(inArray(media.storageKey, keys))).map((row) => row.key),
    );
    const orphans = keys.filter((key) => !referenced.has(key));
    if (orphans.length === 0) return;
    const purged = await purgeUnreferencedMedia(db, store, orphans, options.logger);
    result.deleted += purged.deleted;
    result.kept += purged.kept;
    result.failed += purged.failed;
  };
  // A key in both trees counts by its newest write: a fresh put of the same bytes is not an orphan yet.
  const newest = new Map<string, number>();
  for await (const { key, storedAt } of store.list()) newest.set(key, Math.max(newest.get(key) ?? 0, storedAt.getTime()));
  result.scanned = newest.size;
  for (const [key, storedAt] of newest) {
    if (storedAt > cutoff) continue;
    batch.push(key);
    if (batch.length >= SWEEP_BATCH) await flush();
  }
  await flush();
  return result;
}
