/**
 * A free way to answer that the platform hands out with an inbound message (LINE's reply
 * token) is kept on its conversation, newest first, for the outbound side to claim: a send
 * marks it used (`reply_token_used_at`) in the transaction that claims it.
 */
import { and, eq, isNull, lt, or } from 'drizzle-orm';
import type { InboundMessage } from '../adapter.ts';
import type { Tx } from '../storage/db.ts';
import { conversations } from '../storage/schema.ts';
import { isBoundedId, isSaneDate } from './edge.ts';

/** Stores the message's reply context on the conversation unless a fresher one is already there. */
export async function storeReplyContext(tx: Tx, conversationId: string, event: InboundMessage): Promise<void> {
  const context = event.replyContext;
  if (!context) return;
  // A token the platform mangled costs the free reply, never the message.
  if (!isBoundedId(context.token) || !isSaneDate(context.expiresAt)) return;
  if (!Number.isSafeInteger(context.maxMessages) || context.maxMessages < 1 || context.maxMessages > 1_000) return;
  await tx
    .update(conversations)
    .set({
      replyToken: context.token,
      replyTokenExpiresAt: context.expiresAt,
      replyTokenMaxMessages: context.maxMessages,
      replyTokenMessageId: event.externalId,
      replyTokenUsedAt: null,
    })
    .where(
      and(
        eq(conversations.id, conversationId),
        // A late redelivery of an older message must not replace a newer token.
        or(isNull(conversations.replyTokenExpiresAt), lt(conversations.replyTokenExpiresAt, context.expiresAt)),
      ),
    );
}
