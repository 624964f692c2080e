/**
 * The acceptance transaction: the key's first answer, the conversation (created for a
 * recipient we never talked to on it), the window's quota, the message row (status `queued`),
 * its media rows, its send job and the two events (`message.out`, `message.status` queued),
 * all or nothing. A concurrent request with the same key waits on the key's row and then
 * reads this answer.
 */
import { sessionRuleOf } from '../core/session-kinds.ts';
import { and, eq, sql } from 'drizzle-orm';
import type { Tx } from '../core/storage/db.ts';
import { conversations, media, messages, outbox, sendJobs, sendRequests, sessionWindows } from '../core/storage/schema.ts';
import { newId } from '../core/ids.ts';
import { OmniError } from '../core/errors.ts';
import type { MediaInfo, MessageEvent, Part, StatusEvent } from '../core/model.ts';
import type { OutboundDeps } from './deps.ts';
import { findAnswer, type SendOutcome, type SendSource } from './answers.ts';
import type { SendCommand, SendPart } from '../core/schemas/api.ts';
import type { AdapterEntry } from '../core/registry.ts';
import type { PreparedMedia } from './attachments.ts';
import type { Recipient, WindowRow } from './recipients.ts';

/** A part ready to record: as given, with media settled and stored. */
export type PlannedPart = { part: SendPart; media: PreparedMedia | null };

/** Everything checked about a send, ready to record. */
export interface SendPlan {
  command: SendCommand;
  entry: AdapterEntry;
  recipient: Recipient;
  /** The open window (null: none, or a template outside it). */
  window: WindowRow | null;
  parts: PlannedPart[];
  at: Date;
}

/** Thrown inside the transaction when the key already has an answer; rolls everything back. */
class KeyTaken extends Error {}

/** Records an accepted send; returns the key's first answer (another request's, if it won; `fresh` if this one). */
export async function recordSend(deps: OutboundDeps, plan: SendPlan, source: SendSource): Promise<SendOutcome & { fresh?: boolean }> {
  const { command, entry, recipient, at } = plan;
  const key = command.idempotencyKey;
  const channel = entry.account.channel;
  const account = entry.account.id;
  const messageId = newId('msg', at.getTime());
  const parts = plan.parts.map(toStoredPart);
  try {
    await deps.db.transaction(async (tx) => {
      // First statement on purpose: a duplicate blocks here until the winner commits.
      const claimed = await tx
        .insert(sendRequests)
        .values({ idempotencyKey: key, messageId, error: null, source, createdAt: at })
        .onConflictDoNothing()
        .returning({ key: sendRequests.idempotencyKey });
      if (claimed.length === 0) throw new KeyTaken();
      const conversationId = recipient.conversationId ?? (await ensureConversation(tx, plan));
      if (plan.window && plan.window.quotaLimit !== null) {
        const cost = Math.max(1, entry.adapter.platformMessageCount?.(plan.parts.map(({ part }) => part as { type: string; caption?: string })) ?? 1);
        await useQuota(tx, plan.window.id, cost);
      }
      const inserted = await tx
        .insert(messages)
        .values({
          id: messageId,
          direction: 'out',
          channel,
          account,
          conversationId,
          identityId: recipient.identityId,
          externalId: null,
          dedupeKey: `out:${key}`,
          timestamp: at,
          receivedAt: at,
          parts,
          replyTo: command.replyTo?.externalId ?? null,
          raw: rawCommand(plan),
          status: 'queued',
          statusAt: at,
          idempotencyKey: key,
          metadata: command.metadata ?? null,
        })
        .onConflictDoNothing()
        .returning({ id: messages.id });
      if (inserted.length === 0) throw new KeyTaken();
      for (const [partIndex, planned] of plan.parts.entries()) {
        const prepared = planned.media;
        if (!prepared?.fresh) continue;
        await tx.insert(media).values({
          id: prepared.id,
          messageId,
          partIndex,
          channel,
          account,
          sourceRef: { direction: 'out', origin: prepared.origin },
          status: 'ready',
          sha256: prepared.sha256,
          size: prepared.size,
          mime: prepared.mime,
          ext: prepared.ext,
          filename: prepared.filename ?? null,
          storageKey: prepared.storageKey,
          nextAttemptAt: at,
          createdAt: at,
          updatedAt: at,
        });
      }
      // Database time, not the business clock: a test's ManualClock must not postpone sending.
      await tx.insert(sendJobs).values({ messageId, channel, account, conversationId, state: 'queued', nextAttemptAt: sql`now()`, createdAt: at });
      await tx
        .update(conversations)
        .set({ lastMessageAt: sql`greatest(${conversations.lastMessageAt}, ${at.toISOString()}::timestamptz)` })
        .where(eq(conversations.id, conversationId));
      const event: MessageEvent = {
        schema: 'omni.message/v1',
        id: messageId,
        direction: 'out',
        channel,
        account,
        externalId: null,
        conversationId,
        contact: {
          id: recipient.contactId,
          identity: { channel, account, externalId: recipient.externalId },
          displayName: recipient.displayName,
          phone: recipient.phone,
        },
        timestamp: at.toISOString(),
        receivedAt: at.toISOString(),
        parts,
        ...(command.replyTo ? { replyTo: { externalId: command.replyTo.externalId } } : {}),
        session: plan.window?.expiresAt ? { window: sessionRuleOf(entry.adapter.capabilities, entry.window, plan.recipient.sessionKind).window, expiresAt: plan.window.expiresAt.toISOString() } : null,
        raw: rawCommand(plan),
        ...(command.metadata ? { metadata: command.metadata } : {}),
      };
      const queued: StatusEvent = {
        schema: 'omni.status/v1',
        messageId,
        idempotencyKey: key,
        channel,
        account,
        externalId: '',
        status: 'queued',
        at: at.toISOString(),
      };
      await tx.insert(outbox).values([
        { subject: deps.subjects.evt.messageOut(channel, account), msgId: `${messageId}:out`, payload: event, orderingKey: conversationId, createdAt: at },
        { subject: deps.subjects.evt.messageStatus(channel, account), msgId: `${messageId}:status:queued`, payload: queued, orderingKey: conversationId, createdAt: at },
      ]);
    });
  } catch (error) {
    if (error instanceof KeyTaken) {
      const first = await findAnswer(deps.db, key);
      // Only a message row with this key but no answer (removed by hand) can get here.
      if (!first) throw new OmniError('conflict', 'a message with this idempotencyKey exists without its answer', { details: { idempotencyKey: key } });
      return first;
    }
    throw error;
  }
  deps.notifyRelay();
  deps.notifySender(account);
  return { ok: true, messageId, status: 'queued', fresh: true };
}

/** The direct conversation with a recipient we know but never talked to on this account. */
async function ensureConversation(tx: Tx, plan: SendPlan): Promise<string> {
  const { channel, id: account } = plan.entry.account;
  const externalId = plan.recipient.conversationExternalId;
  await tx
    .insert(conversations)
    .values({
      id: newId('cv', plan.at.getTime()),
      channel,
      account,
      externalId,
      kind: 'direct',
      identityId: plan.recipient.identityId,
      createdAt: plan.at,
      lastMessageAt: plan.at,
    })
    .onConflictDoNothing();
  const [row] = await tx
    .select({ id: conversations.id })
    .from(conversations)
    .where(and(eq(conversations.channel, channel), eq(conversations.account, account), eq(conversations.externalId, externalId)));
  return row!.id;
}

/**
 * Counts the send's platform messages against the window's quota, refusing it if they no
 * longer fit (a concurrent send may have taken the last ones).
 */
async function useQuota(tx: Tx, windowId: string, cost: number): Promise<void> {
  const used = await tx
    .update(sessionWindows)
    .set({ quotaUsed: sql`${sessionWindows.quotaUsed} + ${cost}` })
    .where(and(eq(sessionWindows.id, windowId), sql`(${sessionWindows.quotaLimit} is null or ${sessionWindows.quotaUsed} + ${cost} <= ${sessionWindows.quotaLimit})`))
    .returning({ used: sessionWindows.quotaUsed, limit: sessionWindows.quotaLimit });
  if (used.length === 0) throw new OmniError('quota_exceeded', 'not enough messages left in this session window', { details: { windowId, needed: cost } });
}

/** A part as stored on the message and published: media replaced by what the daemon stored. */
function toStoredPart({ part, media: prepared }: PlannedPart): Part {
  if (!prepared || !('media' in part)) return part as Part;
  const info: MediaInfo = {
    id: prepared.id,
    mime: prepared.mime,
    ext: prepared.ext,
    size: prepared.size,
    sha256: prepared.sha256,
    status: 'ready',
    url: `/v1/media/${prepared.id}`,
    ...(prepared.filename !== undefined ? { filename: prepared.filename } : {}),
  };
  const { media: _source, filename, ...rest } = part;
  return { ...rest, ...(filename !== undefined ? { filename: prepared.filename ?? filename } : {}), media: info } as Part;
}

/** The command as received, minus inline bytes and URLs (which may carry tokens): media by id. */
function rawCommand(plan: SendPlan): Record<string, unknown> {
  const { command } = plan;
  return {
    ...command,
    schema: 'omni.send/v1',
    ...(command.parts
      ? { parts: plan.parts.map(({ part, media: prepared }) => (prepared && 'media' in part ? { ...part, media: { id: prepared.id } } : part)) }
      : {}),
  };
}
