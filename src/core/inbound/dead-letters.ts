/**
 * Inbound dead letters: an item of a batch that cannot be recorded is kept with its own raw
 * bytes and announced through the outbox, once per item, so it is never lost and never costs
 * the rest of its batch.
 */
import { createHash } from 'node:crypto';
import type { Tx } from '../storage/db.ts';
import { inboundDeadLetters, outbox } from '../storage/schema.ts';
import { newId } from '../ids.ts';
import type { Subjects } from '../schemas/subjects.ts';
import type { InboundDeadletterEvent } from '../schemas/events.ts';

/** Longest dedupe key kept as it is; longer ones are hashed (they may be why the item failed). */
const MAX_KEY = 200;

/** What one dead letter holds. */
export interface DeadLetterInput {
  channel: string;
  account: string;
  dedupeKey: string;
  reason: string;
  raw: Uint8Array | string;
  at: Date;
}

/** Records a dead letter and its event in `tx`; false when this item was dead-lettered before. */
export async function recordDeadLetter(tx: Tx, subjects: Subjects, input: DeadLetterInput): Promise<boolean> {
  const dedupeKey = boundedKey(input.dedupeKey);
  const reason = safeReason(input.reason);
  const raw = Buffer.from(typeof input.raw === 'string' ? new TextEncoder().encode(input.raw) : input.raw).toString('base64');
  const id = newId('dl', input.at.getTime());
  const inserted = await tx
    .insert(inboundDeadLetters)
    .values({ id, channel: input.channel, account: input.account, dedupeKey, reason, raw, createdAt: input.at })
    .onConflictDoNothing()
    .returning({ id: inboundDeadLetters.id });
  if (inserted.length === 0) return false;
  const payload: InboundDeadletterEvent = {
    schema: 'omni.deadletter.in/v1',
    id,
    channel: input.channel,
    account: input.account,
    dedupeKey,
    reason,
    raw,
    rawEncoding: 'base64',
    receivedAt: input.at.toISOString(),
  };
  await tx.insert(outbox).values({
    subject: subjects.evt.deadletterIn(input.channel, input.account),
    msgId: `${id}:deadletter.in`,
    payload,
    orderingKey: `deadletter.in:${input.channel}:${input.account}`,
    createdAt: input.at,
  });
  return true;
}

/** A key short enough for an index and an event; a long one becomes its hash. */
export function boundedKey(key: string): string {
  return key.length > 0 && key.length <= MAX_KEY ? key : `sha256:${createHash('sha256').update(key).digest('hex')}`;
}

/** Reasons are metric labels and event fields: bounded, printable, no free text. */
export function safeReason(reason: string): string {
  const clean = reason.replace(/[^A-Za-z0-9_:.-]/g, '_').slice(0, 80);
  return clean === '' ? 'invalid' : clean;
}
