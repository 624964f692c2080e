/**
 * The outbound half of the reply-context economy. A platform may hand out a free way to answer
 * with an inbound message (LINE's reply token, stored on the conversation by the inbound side).
 * The send that goes out next claims it in the transaction that marks the job `sending`, with a
 * row-level compare-and-set on `reply_token_used_at`, so of two replicas (or two sends) racing
 * for one conversation exactly one gets the token and the other takes the normal path.
 */
import { sql } from 'drizzle-orm';
import type { OutboundMessage } from '../core/adapter.ts';
import type { Db } from '../core/storage/db.ts';
import { rowsOf } from '../core/storage/lease.ts';

/** A token this close to expiry is left alone: it would expire on its way to the platform. */
export const REPLY_SAFETY_MARGIN_MS = 5_000;

/**
 * Marks the job `sending` and, when `platformMessages` fits, claims the conversation's fresh,
 * unused reply context in the same transaction. null if the job is not queued any more.
 */
export async function markSendingWithReply(
  db: Db,
  input: { seq: number; holder: string; untilMs: number; conversationId: string; platformMessages: number },
): Promise<{ attempts: number; replyContext?: NonNullable<OutboundMessage['replyContext']> } | null> {
  // One statement: the job's claim and the token's compare-and-set commit together or not at all.
  const result = await db.execute(sql`
    with marked as (
      update send_jobs set state = 'sending', attempts = attempts + 1, holder = ${input.holder},
        sending_until = now() + (${input.untilMs} * interval '1 millisecond')
      where seq = ${input.seq} and state = 'queued'
      returning attempts),
    claimed as (
      update conversations set reply_token_used_at = now()
      where id = ${input.conversationId} and exists (select 1 from marked)
        and reply_token is not null and reply_token_used_at is null
        and reply_token_expires_at > now() + (${REPLY_SAFETY_MARGIN_MS} * interval '1 millisecond')
        and coalesce(reply_token_max_messages, 1) >= ${input.platformMessages}
      returning reply_token, reply_token_expires_at, reply_token_message_id)
    select marked.attempts, claimed.reply_token, claimed.reply_token_expires_at, claimed.reply_token_message_id
    from marked left join claimed on true`);
  const row = rowsOf<{ attempts: number; reply_token: string | null; reply_token_expires_at: string | Date | null; reply_token_message_id: string | null }>(result)[0];
  if (!row) return null;
  if (!row.reply_token || !row.reply_token_expires_at) return { attempts: Number(row.attempts) };
  return {
    attempts: Number(row.attempts),
    replyContext: { token: row.reply_token, expiresAt: new Date(row.reply_token_expires_at), inboundExternalId: row.reply_token_message_id ?? '' },
  };
}
