/**
 * Fetches inbound media after the webhook was answered: through the adapter (platform hosts
 * only, capped, timed out), typed from its bytes, checked against the account's allowed
 * types, stored by content hash. A type that is not allowed is quarantined and never served.
 * When a message's last media is settled its held outbox row is released to the relay.
 * Rows are claimed with SKIP LOCKED, so replicas share the work without doing it twice.
 *
 * A message waits for its media at most `MEDIA_HOLD_MS` after it was recorded (and the
 * conversation's later events wait behind it): a fetch still failing then, or a row whose
 * claims keep lapsing, ends `failed` and the message is published with that part marked so.
 * A failed part says why: `reason` (`attachment_unreachable:gone`) and `details` (the code,
 * the adapter's short reason, the HTTP status), in the event and on the stored message.
 */
import { BackgroundLoop } from '../wakeup.ts';
import { eq, inArray, sql } from 'drizzle-orm';
import PQueue from 'p-queue';
import type { Logger } from 'pino';
import type { ChannelAdapter } from '../adapter.ts';
import type { InboundMediaRef } from '../model.ts';
import type { Clock } from '../clock.ts';
import type { Db } from '../storage/db.ts';
import { media } from '../storage/schema.ts';
import { rowsOf } from '../storage/lease.ts';
import { OmniError } from '../errors.ts';
import type { MediaInfo } from '../model.ts';
import type { Metrics } from '../metrics.ts';
import type { MediaStore } from './store.ts';
import { detectMediaType, isAllowedExt } from './detect.ts';
import { lockMediaKey, purgeUnreferencedMedia } from './purge.ts';
import { unpublished } from '../outbox-progress.ts';

const MAX_ATTEMPTS = 5;
const FETCH_TIMEOUT_MS = 60_000;
/** How long a message is held for its media at most, from when it was recorded. */
export const MEDIA_HOLD_MS = 10 * 60_000;
/** Claims past this many without an outcome (each lapsed: the worker died mid-fetch) end the row. */
const MAX_CLAIMS = MAX_ATTEMPTS + 3;

type MediaRow = typeof media.$inferSelect;

/** Processes pending media rows until stopped. */
export class MediaWorker extends BackgroundLoop {
  private readonly queue = new PQueue({ concurrency: 4 });
  private readonly inFlight = new AbortController();

  constructor(
    private readonly deps: {
      db: Db;
      store: MediaStore;
      adapters: { get(account: string): { adapter: ChannelAdapter } | undefined };
      clock: Clock;
      logger: Logger;
      metrics: Metrics;
      maxBytes: number;
      /** A message's media are settled: its event may be published. */
      onReleased(): void;
    },
  ) {
    super();
  }

  async stop(): Promise<void> {
    await this.halt();
    this.inFlight.abort();
    await this.queue.onIdle();
  }

  /** Processes everything due now (tests use it). */
  async drainOnce(): Promise<number> {
    let total = 0;
    for (;;) {
      const rows = await this.claim(16);
      if (rows.length === 0) return total;
      await Promise.all(rows.map((row) => this.process(row)));
      total += rows.length;
    }
  }

  protected async run(): Promise<void> {
    while (this.running) {
      let claimed = 0;
      try {
        if (this.queue.size + this.queue.pending < 8) {
          const rows = await this.claim(8);
          claimed = rows.length;
          for (const row of rows) {
            // One bad media row must never take the daemon down: log it; its claim lapses and it is retried.
            void this.queue.add(() => this.process(row)).catch((error: unknown) => this.deps.logger.error({ err: error, media: row.id }, 'media processing failed'));
          }
        }
      } catch (error) {
        this.deps.logger.warn({ err: error }, 'media claim failed; will retry');
      }
      if (claimed === 0 && this.running) {
        await this.wakeup.sleep(500);
      }
    }
  }

  private async claim(limit: number): Promise<MediaRow[]> {
    const result = await this.deps.db.execute(sql`
      update media set claimed_until = now() + interval '2 minutes', attempts = attempts + 1
      where id in (
        select id from media
        where status = 'pending' and next_attempt_at <= now() and (claimed_until is null or claimed_until < now())
        order by next_attempt_at limit ${limit}
        for update skip locked)
      returning id`);
    const ids = rowsOf<{ id: string }>(result).map((r) => r.id);
    if (ids.length === 0) return [];
    return this.deps.db.select().from(media).where(inArray(media.id, ids));
  }

  private async process(row: MediaRow): Promise<void> {
    const log = this.deps.logger.child({ channel: row.channel, account: row.account, media: row.id });
    const entry = this.deps.adapters.get(row.account);
    if (!entry) return this.settle(row, { status: 'failed', reason: 'account_not_configured' });
    if (row.attempts > MAX_CLAIMS) {
      log.warn({ attempts: row.attempts }, 'media fetch never finished; giving up');
      return this.settle(row, { status: 'failed', reason: 'fetch_abandoned', details: { reason: 'fetch_abandoned', attempts: row.attempts } });
    }
    const { adapter } = entry;
    const limit = Math.min(this.deps.maxBytes, adapter.capabilities.attachments.inboundMaxBytes);
    const signal = AbortSignal.any([this.inFlight.signal, AbortSignal.timeout(FETCH_TIMEOUT_MS)]);
    try {
      const fetched = await adapter.fetchMedia(row.sourceRef as unknown as InboundMediaRef, signal);
      // Bytes land in quarantine and are promoted only once their type is allowed: content is
      // stored once per hash, so quarantining after the fact would hide another message's copy.
      const stored = await this.deps.store.put(fetched.body, { maxBytes: limit, quarantine: true, signal });
      const type = await detectMediaType(stored.head);
      if (!type || !isAllowedExt(type.ext, adapter.capabilities.attachments.allow)) {
        log.warn({ detected: type?.ext ?? 'unknown' }, 'media type not allowed; quarantined');
        return this.settle(row, {
          status: 'rejected',
          reason: `type_not_allowed:${type?.ext ?? 'unknown'}`,
          sha256: stored.sha256,
          size: stored.size,
          mime: type?.mime ?? null,
          ext: type?.ext ?? null,
          storageKey: stored.key,
        });
      }
      await this.deps.store.promote(stored.key);
      return this.settle(row, { status: 'ready', sha256: stored.sha256, size: stored.size, mime: type.mime, ext: type.ext, storageKey: stored.key });
    } catch (error) {
      const reason = failureReason(error);
      if (!this.running) {
        // Shutting down aborted the fetch: give the row back for another replica or the next start.
        await this.deps.db.update(media).set({ claimedUntil: null, attempts: Math.max(0, row.attempts - 1) }).where(eq(media.id, row.id));
        return;
      }
      const delayMs = Math.min(10 * 60_000, 2_000 * 4 ** (row.attempts - 1));
      const holdEnds = row.createdAt.getTime() + MEDIA_HOLD_MS;
      const expired = this.deps.clock.now().getTime() + delayMs > holdEnds;
      const retryable = isRetryable(error) && row.attempts < MAX_ATTEMPTS && !expired;
      if (retryable) {
        log.warn({ reason, attempts: row.attempts, delayMs }, 'media fetch failed; will retry');
        await this.deps.db
          .update(media)
          .set({ claimedUntil: null, nextAttemptAt: new Date(this.deps.clock.now().getTime() + delayMs), reason, updatedAt: this.deps.clock.now() })
          .where(eq(media.id, row.id));
        return;
      }
      const details = { ...failureDetails(error), attempts: row.attempts, ...(expired && isRetryable(error) ? { expired: true } : {}) };
      log.warn({ reason, attempts: row.attempts, expired: details.expired ?? false }, 'media fetch failed for good');
      return this.settle(row, { status: 'failed', reason, details });
    }
  }

  /** Settles the row and patches the message and its held event in one transaction. */
  private async settle(
    row: MediaRow,
    outcome: { status: 'ready' | 'rejected' | 'failed'; reason?: string; details?: MediaInfo['details']; sha256?: string; size?: number; mime?: string | null; ext?: string | null; storageKey?: string },
  ): Promise<void> {
    const now = this.deps.clock.now();
    const info: MediaInfo = {
      id: row.id,
      mime: outcome.mime ?? row.mime ?? null,
      ext: outcome.ext ?? null,
      size: outcome.size ?? null,
      sha256: outcome.sha256 ?? null,
      status: outcome.status,
      url: outcome.status === 'ready' ? `/v1/media/${row.id}` : null,
      ...(row.filename ? { filename: row.filename } : {}),
      ...(outcome.reason ? { reason: outcome.reason } : {}),
      ...(outcome.details ? { details: outcome.details } : {}),
    };
    const eventPath = `{parts,${row.partIndex},media}`;
    const rowPath = `{${row.partIndex},media}`;
    let released = false;
    let outcomeOfRow = 'settled' as 'settled' | 'erased' | 'bytes_gone';
    const key = outcome.storageKey;
    await this.deps.db.transaction(async (tx) => {
      // Lock the event first: two media of one message settle one after the other.
      await tx.execute(sql`select id from outbox where msg_id = ${row.messageId + ':in'} for update`);
      if (key) {
        // Against an erase's purge of the same bytes (purge.ts): under this lock, either the
        // purge saw no row and deleted them (so they are gone now: fetch again), or it waits.
        await lockMediaKey(tx, key);
        if (outcome.status === 'ready' && !(await this.deps.store.exists(key))) {
          outcomeOfRow = 'bytes_gone';
          return;
        }
      }
      const updated = await tx
        .update(media)
        .set({
          status: outcome.status,
          reason: outcome.reason ?? null,
          sha256: outcome.sha256 ?? null,
          size: outcome.size ?? null,
          mime: info.mime,
          ext: info.ext,
          storageKey: outcome.storageKey ?? null,
          claimedUntil: null,
          updatedAt: now,
        })
        .where(eq(media.id, row.id))
        .returning({ id: media.id });
      if (updated.length === 0) {
        // The row was erased while its bytes were fetched.
        outcomeOfRow = 'erased';
        return;
      }
      const json = JSON.stringify(info);
      await tx.execute(sql`update messages set parts = jsonb_set(parts, ${rowPath}::text[], ${json}::jsonb) where id = ${row.messageId}`);
      const result = await tx.execute(sql`
        update outbox set payload = jsonb_set(payload, ${eventPath}::text[], ${json}::jsonb),
          held = exists (select 1 from media m where m.message_id = ${row.messageId} and m.status = 'pending')
        where msg_id = ${row.messageId + ':in'} and ${unpublished('outbox')}
          and payload #>> ${`{parts,${row.partIndex},media,id}`}::text[] = ${row.id}
        returning held`);
      // An edit that brought this media: its event is held the same way until its own media settled.
      const edits = await tx.execute(sql`
        update outbox set payload = jsonb_set(payload, ${eventPath}::text[], ${json}::jsonb),
          held = jsonb_path_exists(jsonb_set(payload, ${eventPath}::text[], ${json}::jsonb), '$.parts[*].media ? (@.status == "pending")')
        where ${unpublished('outbox')}
          and ordering_key = (select conversation_id from messages where id = ${row.messageId})
          and split_part(msg_id, ':', 1) = ${row.messageId} and split_part(msg_id, ':', 2) = 'edited'
          and payload #>> ${`{parts,${row.partIndex},media,id}`}::text[] = ${row.id}
        returning held`);
      released = [...rowsOf<{ held: boolean }>(result), ...rowsOf<{ held: boolean }>(edits)].some((r) => !r.held);
    });
    if (outcomeOfRow === 'bytes_gone') {
      this.deps.logger.warn({ media: row.id }, 'stored bytes were purged meanwhile; fetching again');
      await this.deps.db.update(media).set({ claimedUntil: null, nextAttemptAt: now, updatedAt: now }).where(eq(media.id, row.id));
      return;
    }
    if (outcomeOfRow === 'erased') {
      if (key) await purgeUnreferencedMedia(this.deps.db, this.deps.store, [key], this.deps.logger);
      return;
    }
    this.deps.metrics.mediaProcessed.inc({ channel: row.channel, account: row.account, status: outcome.status });
    if (released) this.deps.onReleased();
  }
}

/** `code:reason` when the adapter said why (`attachment_unreachable:gone`), else the code. */
function failureReason(error: unknown): string {
  if (error instanceof OmniError) {
    const detail = shortConstant(error.details?.['reason']);
    return detail !== undefined ? `${error.code}:${detail}` : error.code;
  }
  if (error && typeof error === 'object' && 'reason' in error && typeof (error as { reason: unknown }).reason === 'string') {
    return (error as { reason: string }).reason;
  }
  return 'fetch_failed';
}

/** What a failed fetch ran into, kept on the part: constants and numbers only, never platform text or a URL. */
function failureDetails(error: unknown): NonNullable<MediaInfo['details']> {
  if (error instanceof OmniError) {
    const reason = shortConstant(error.details?.['reason']);
    const status = error.details?.['status'];
    return {
      code: error.code,
      ...(reason !== undefined ? { reason } : {}),
      ...(typeof status === 'number' && Number.isInteger(status) ? { status } : {}),
    };
  }
  return { reason: failureReason(error) };
}

/** A value safe to keep as a reason: a short lower-case constant. */
function shortConstant(value: unknown): string | undefined {
  return typeof value === 'string' && /^[a-z0-9_:.-]{1,64}$/.test(value) ? value : undefined;
}

function isRetryable(error: unknown): boolean {
  if (error instanceof OmniError) return error.retryable;
  const reason = failureReason(error);
  return reason === 'timeout' || reason === 'network' || reason === 'fetch_failed';
}
