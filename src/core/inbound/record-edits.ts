/**
 * Edits and unsends of a message a customer sent. An edit replaces the stored parts and keeps
 * what it replaced in `edits` (with `editedAt` the time of the last one); an unsend deletes the
 * text, media, raw payload and edit history and marks the message deleted. Both are announced
 * once (`message.edited`, `message.deleted`) and are no-ops when redelivered.
 */
import { createHash } from 'node:crypto';
import { and, eq, sql } from 'drizzle-orm';
import type { InboundDelete, InboundEdit } from '../adapter.ts';
import type { Tx } from '../storage/db.ts';
import { identities, media, messages, outbox } from '../storage/schema.ts';
import { rowsOf } from '../storage/lease.ts';
import type { Subjects } from '../schemas/subjects.ts';
import type { MessageDeletedEvent, MessageEditedEvent } from '../schemas/events.ts';
import { mintParts } from './record-parts.ts';
import { unpublished } from '../outbox-progress.ts';
import type { IngestScope } from './scope.ts';

/** What an edit or unsend did. */
export type EditOutcome =
  | { kind: 'recorded'; messageId: string; mediaQueued: number; mediaKeys: string[] }
  | { kind: 'duplicate' }
  | { kind: 'ignored'; reason: string };

/** The stored inbound message an edit or unsend names, locked for the change. */
async function target(tx: Tx, scope: IngestScope, externalId: string) {
  const { channel, account } = scope.adapter;
  const [row] = await tx
    .select({
      id: messages.id,
      conversationId: messages.conversationId,
      identityId: messages.identityId,
      externalId: messages.externalId,
      parts: messages.parts,
      edits: messages.edits,
      deletedAt: messages.deletedAt,
      contactId: identities.contactId,
    })
    .from(messages)
    .innerJoin(identities, eq(identities.id, messages.identityId))
    .where(and(eq(messages.channel, channel), eq(messages.account, account), eq(messages.externalId, externalId), eq(messages.direction, 'in')))
    .limit(1)
    .for('update', { of: messages });
  return row;
}

/** Applies an edit to the stored message; an edit of a message never seen is counted, not stored. */
export async function recordEdit(tx: Tx, subjects: Subjects, scope: IngestScope, event: InboundEdit, receivedAt: Date): Promise<EditOutcome> {
  const { channel, account } = scope.adapter;
  const row = await target(tx, scope, event.targetExternalId);
  if (!row) return { kind: 'ignored', reason: 'edit_of_unknown_message' };
  const edits = row.edits ?? [];
  if (edits.some((edit) => edit.dedupeKey === event.dedupeKey)) return { kind: 'duplicate' };
  if (row.deletedAt) return { kind: 'ignored', reason: 'edit_of_deleted_message' };
  const { parts, mediaRows } = mintParts(scope, event.parts, row.id, receivedAt);
  const history = [...edits, { dedupeKey: event.dedupeKey, at: event.timestamp.toISOString(), previousParts: row.parts }];
  await tx.update(messages).set({ parts, edits: history, editedAt: event.timestamp }).where(eq(messages.id, row.id));
  if (mediaRows.length > 0) await tx.insert(media).values(mediaRows);
  const payload: MessageEditedEvent = {
    schema: 'omni.message.edited/v1',
    id: row.id,
    channel,
    account,
    externalId: event.targetExternalId,
    conversationId: row.conversationId,
    contactId: row.contactId,
    editedAt: event.timestamp.toISOString(),
    parts: parts as MessageEditedEvent['parts'],
    edits: history.length,
  };
  await tx.insert(outbox).values({
    subject: subjects.evt.messageEdited(channel, account),
    msgId: `${row.id}:edited:${createHash('sha256').update(event.dedupeKey).digest('hex').slice(0, 32)}`,
    payload,
    orderingKey: row.conversationId,
    // Like a new message: held until its media is fetched, so it is published with the media settled.
    held: mediaRows.some((m) => m.status === 'pending'),
    createdAt: receivedAt,
  });
  return { kind: 'recorded', messageId: row.id, mediaQueued: mediaRows.filter((m) => m.status === 'pending').length, mediaKeys: [] };
}

/** Deletes the content of the stored message; the media bytes go after commit, when unreferenced. */
export async function recordDelete(tx: Tx, subjects: Subjects, scope: IngestScope, event: InboundDelete, receivedAt: Date): Promise<EditOutcome> {
  const { channel, account } = scope.adapter;
  const row = await target(tx, scope, event.targetExternalId);
  if (!row) return { kind: 'ignored', reason: 'delete_of_unknown_message' };
  if (row.deletedAt) return { kind: 'duplicate' };
  // Media rows first, then the message: the media worker settles a fetch in that order, and the
  // opposite order deadlocked an unsend against a fetch finishing at the same moment.
  const removed = rowsOf<{ storage_key: string | null }>(await tx.execute(sql`delete from media where message_id = ${row.id} returning storage_key`));
  await tx.update(messages).set({ parts: [], edits: null, raw: null, referral: null, deletedAt: event.timestamp }).where(eq(messages.id, row.id));
  // Events not yet published still carry the text: they are emptied too, so the relay sends no content.
  await tx.execute(sql`
    update outbox set payload = jsonb_set(jsonb_set(payload, '{parts}', '[]'::jsonb), '{raw}', 'null'::jsonb), held = false
    where ${unpublished('outbox')} and msg_id = ${`${row.id}:in`}`);
  await tx.execute(sql`delete from outbox where ${unpublished('outbox')} and ordering_key = ${row.conversationId} and msg_id like ${`${row.id}:edited:%`}`);
  const payload: MessageDeletedEvent = {
    schema: 'omni.message.deleted/v1',
    id: row.id,
    channel,
    account,
    externalId: event.targetExternalId,
    conversationId: row.conversationId,
    contactId: row.contactId,
    deletedAt: event.timestamp.toISOString(),
  };
  await tx.insert(outbox).values({
    subject: subjects.evt.messageDeleted(channel, account),
    msgId: `${row.id}:deleted`,
    payload,
    orderingKey: row.conversationId,
    createdAt: receivedAt,
  });
  const mediaKeys = removed.map((r) => r.storage_key).filter((key): key is string => key !== null);
  return { kind: 'recorded', messageId: row.id, mediaQueued: 0, mediaKeys };
}
