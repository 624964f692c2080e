/**
 * Delivery receipts applied to outbound messages: forward only, each step published once.
 */
import { and, eq, sql } from 'drizzle-orm';
import type { InboundStatus } from '../adapter.ts';
import type { Tx } from '../storage/db.ts';
import { messages, outbox, statusReceipts } from '../storage/schema.ts';
import type { StatusEvent } from '../model.ts';
import type { Subjects } from '../schemas/subjects.ts';
import { recordCost } from '../cost-ledger.ts';

const RANK_SQL = (column: unknown) =>
  sql`(case ${column} when 'queued' then 0 when 'sent' then 1 when 'delivered' then 2 when 'read' then 3 when 'failed' then 4 else -1 end)`;

/**
 * Applies a receipt to the outbound message with that platform id, only forward: a late
 * `delivered` never replaces `read`, and `failed` only ends a message nobody has received yet.
 * Exported because the outbound path applies receipts that arrived before the send was recorded.
 */
export async function applyReceipt(
  tx: Tx,
  subjects: Subjects,
  input: { channel: string; account: string; receiptId: number; event: InboundStatus; receivedAt: Date },
): Promise<void> {
  const { channel, account, event } = input;
  const [target] = await tx
    .select({ id: messages.id, idempotencyKey: messages.idempotencyKey, conversationId: messages.conversationId })
    .from(messages)
    .where(and(eq(messages.channel, channel), eq(messages.account, account), eq(messages.externalId, event.externalId), eq(messages.direction, 'out')))
    .limit(1);
  if (!target) return;
  await tx.update(statusReceipts).set({ messageId: target.id }).where(eq(statusReceipts.id, input.receiptId));
  // The price the platform reports (WhatsApp `pricing`) goes to the ledger whatever the status does.
  if (event.cost) await recordCost(tx, target.id, event.cost, 'receipt', event.timestamp);
  const allowed =
    event.status === 'failed'
      ? sql`coalesce(${messages.status}, 'queued') in ('queued', 'sent')`
      : sql`${RANK_SQL(sql`coalesce(${messages.status}, 'queued')`)} < ${RANK_SQL(sql`${event.status}`)} and coalesce(${messages.status}, '') <> 'failed'`;
  // Status events carry a contract code; the platform's own code goes into details.
  const error = event.error
    ? {
        code: event.error.contractCode ?? 'channel_rejected',
        message: event.error.message,
        details: { ...event.error.details, platformCode: event.error.code },
      }
    : undefined;
  const moved = await tx
    .update(messages)
    .set({ status: event.status, statusAt: event.timestamp, ...(error ? { error } : {}) })
    .where(and(eq(messages.id, target.id), allowed))
    .returning({ id: messages.id });
  if (moved.length === 0) return;
  const payload: StatusEvent = {
    schema: 'omni.status/v1',
    messageId: target.id,
    idempotencyKey: target.idempotencyKey,
    channel,
    account,
    externalId: event.externalId,
    status: event.status,
    ...(error ? { error } : {}),
    at: event.timestamp.toISOString(),
  };
  await tx.insert(outbox).values({
    subject: subjects.evt.messageStatus(channel, account),
    msgId: `${target.id}:status:${event.status}`,
    payload,
    orderingKey: target.conversationId,
    createdAt: input.receivedAt,
  });
}
