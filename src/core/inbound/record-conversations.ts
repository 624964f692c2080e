/**
 * Conversation events (`InboundConversationEvent`): a conversation that moved to a new
 * platform id keeps its history and is found under the new id from now on; a platform
 * connection revoked (or restored) marks every conversation through it unreachable (or
 * reachable) — those chats only: the customer's own chat with the bot stays open. Each is one idempotent update, so a redelivery changes nothing.
 */
import { and, eq, isNotNull, isNull, sql } from 'drizzle-orm';
import type { InboundConversationEvent } from '../adapter.ts';
import type { Tx } from '../storage/db.ts';
import { conversations } from '../storage/schema.ts';

/** Applies the event; false when it changed nothing (a redelivery, an unknown conversation). */
export async function recordConversationEvent(tx: Tx, scope: { channel: string; account: string }, event: InboundConversationEvent): Promise<boolean> {
  const { channel, account } = scope;
  const onAccount = and(eq(conversations.channel, channel), eq(conversations.account, account));
  if (event.change === 'moved') {
    if (!event.externalId || !event.newExternalId || event.externalId === event.newExternalId) return false;
    // If the new id already has a conversation (its first message came before the notice), both stay.
    const moved = await tx
      .update(conversations)
      .set({ externalId: event.newExternalId })
      .where(
        and(
          onAccount,
          eq(conversations.externalId, event.externalId),
          sql`not exists (select 1 from conversations other where other.channel = ${channel} and other.account = ${account} and other.external_id = ${event.newExternalId})`,
        ),
      )
      .returning({ id: conversations.id });
    return moved.length > 0;
  }
  if (!event.via) return false;
  const unreachableAt = event.change === 'via_revoked' ? event.timestamp : null;
  const changed = await tx
    .update(conversations)
    .set({ unreachableAt })
    .where(and(onAccount, eq(conversations.via, event.via), unreachableAt === null ? isNotNull(conversations.unreachableAt) : isNull(conversations.unreachableAt)))
    .returning({ id: conversations.id });
  return changed.length > 0;
}
