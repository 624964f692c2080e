/**
 * The send jobs in the database: claiming the next ones in order (one per conversation, the
 * oldest first, so a conversation's messages go out in acceptance order), marking one
 * `sending` right before the platform call, putting one back for a retry, and finding the
 * ones a dead holder left `sending`. Job timing uses the database clock, so replicas (and a
 * test's ManualClock) never disagree about what is due.
 */
import { and, eq, sql } from 'drizzle-orm';
import type { Db } from '../core/storage/db.ts';
import { rowsOf } from '../core/storage/lease.ts';
import { sendJobs } from '../core/storage/schema.ts';

/** One claimed job. */
export interface SendJob {
  seq: number;
  messageId: string;
  channel: string;
  account: string;
  conversationId: string;
  attempts: number;
  throttles: number;
}

interface JobRow {
  seq: string | number;
  message_id: string;
  channel: string;
  account: string;
  conversation_id: string;
  attempts: number;
  throttles: number;
}

const toJob = (row: JobRow): SendJob => ({
  seq: Number(row.seq),
  messageId: row.message_id,
  channel: row.channel,
  account: row.account,
  conversationId: row.conversation_id,
  attempts: row.attempts,
  throttles: row.throttles,
});

/** A PostgreSQL array literal of texts, each quoted, as one parameter (PGlite and postgres.js alike). */
function textArrayLiteral(values: ReadonlyArray<string>): string {
  return `{${values.map((value) => `"${value.replace(/["\\]/g, (c) => `\\${c}`)}"`).join(',')}}`;
}

/**
 * The due jobs of an account that head their conversation (no older job of the conversation
 * is left), oldest first, leaving out the conversations this replica already has a job of in hand.
 */
export async function dueJobs(db: Db, account: string, busyConversations: ReadonlyArray<string>, limit: number): Promise<SendJob[]> {
  const skip = busyConversations.length > 0 ? sql`and heads.conversation_id <> all(${textArrayLiteral(busyConversations)}::text[])` : sql``;
  // The head of each conversation first (one pass over the account's backlog), then the due ones
  // among them: a per-row "is there an older job" probe cost a lookup for every waiting job.
  const result = await db.execute(sql`
    select heads.seq, heads.message_id, heads.channel, heads.account, heads.conversation_id, heads.attempts, heads.throttles
    from (
      select distinct on (conversation_id) seq, message_id, channel, account, conversation_id, attempts, throttles, state, next_attempt_at
      from send_jobs where account = ${account}
      order by conversation_id, seq
    ) heads
    where heads.state = 'queued' and heads.next_attempt_at <= now() ${skip}
    order by heads.seq
    limit ${limit}`);
  return rowsOf<JobRow>(result).map(toJob);
}

/** Marks a job `sending` (committed before the platform is called); null if it is not queued any more. */
export async function markSending(db: Db, seq: number, holder: string, untilMs: number): Promise<{ attempts: number } | null> {
  const [row] = await db
    .update(sendJobs)
    .set({
      state: 'sending',
      attempts: sql`${sendJobs.attempts} + 1`,
      holder,
      sendingUntil: sql`now() + (${untilMs} * interval '1 millisecond')`,
    })
    .where(and(eq(sendJobs.seq, seq), eq(sendJobs.state, 'queued')))
    .returning({ attempts: sendJobs.attempts });
  return row ?? null;
}

/**
 * Puts a job back in the queue, due after `delayMs`. `attemptDelta` corrects the attempt count
 * `markSending` took: -1 for a throttled call (the platform said "slow down", which counts in
 * `throttles` instead), +1 for a failure before any call (so even those are bounded).
 */
export async function requeue(
  db: Db,
  seq: number,
  input: { delayMs: number; error: Record<string, unknown> | null; throttled: boolean; attemptDelta: -1 | 0 | 1 },
): Promise<void> {
  await db
    .update(sendJobs)
    .set({
      state: 'queued',
      nextAttemptAt: sql`now() + (${Math.max(0, Math.round(input.delayMs))} * interval '1 millisecond')`,
      sendingUntil: null,
      ...(input.error ? { lastError: input.error } : {}),
      ...(input.throttled ? { throttles: sql`${sendJobs.throttles} + 1` } : {}),
      ...(input.attemptDelta !== 0 ? { attempts: sql`greatest(${sendJobs.attempts} + ${input.attemptDelta}, 0)` } : {}),
    })
    .where(eq(sendJobs.seq, seq));
}

/** Jobs of an account left `sending` by a holder that is gone (its deadline passed). */
export async function abandonedJobs(db: Db, account: string): Promise<SendJob[]> {
  const result = await db.execute(sql`
    select seq, message_id, channel, account, conversation_id, attempts, throttles from send_jobs
    where account = ${account} and state = 'sending' and sending_until < now()
    order by seq limit 500`);
  return rowsOf<JobRow>(result).map(toJob);
}
