/**
 * What a send attempt leaves behind, each in one transaction with the events announcing it:
 * `sent` (platform id recorded, receipts that arrived early applied), `failed` (terminal,
 * with the contract code and the platform's code in details, dead-lettered when it is not
 * about the recipient), and the outbound message rebuilt from the database for the adapter.
 */
import { and, asc, eq, inArray, isNull, sql } from 'drizzle-orm';
import type { InboundStatus, OutboundMessage, OutboundPart } from '../core/adapter.ts';
import type { Tx } from '../core/storage/db.ts';
import { conversations, identities, media, messages, outbox, sendJobs, statusReceipts } from '../core/storage/schema.ts';
import { rowsOf } from '../core/storage/lease.ts';
import { applyReceipt } from '../core/inbound/receipts.ts';
import { OmniError, type ErrorBody, type ErrorCode } from '../core/errors.ts';
import { MEDIA_PART_TYPES, type MediaInfo, type Part, type StatusEvent } from '../core/model.ts';
import type { DeadletterEvent } from '../core/schemas/events.ts';
import type { OutboundDeps } from './deps.ts';
import type { SendJob } from './jobs.ts';

// Failures about the recipient or the window are outcomes to report, not poison to isolate.
const NOT_DEAD_LETTERED: ReadonlySet<ErrorCode> = new Set(['recipient_unreachable', 'session_expired', 'quota_exceeded']);

/** Rebuilds the message for the adapter from its row, with media bytes read from the store. */
export async function loadOutbound(deps: OutboundDeps, job: SendJob): Promise<OutboundMessage> {
  const [row] = await deps.db
    .select({
      message: messages,
      identityExternalId: identities.externalId,
      conversationExternalId: conversations.externalId,
      conversationKind: conversations.kind,
      via: conversations.via,
    })
    .from(messages)
    .innerJoin(identities, eq(identities.id, messages.identityId))
    .innerJoin(conversations, eq(conversations.id, messages.conversationId))
    .where(eq(messages.id, job.messageId))
    .limit(1);
  if (!row) throw new OmniError('internal', 'the message of a send job is missing', { details: { messageId: job.messageId } });
  const { message } = row;
  const raw = (message.raw ?? {}) as { template?: OutboundMessage['template'] };
  const parts: OutboundPart[] = [];
  for (const part of message.parts as Part[]) {
    if (!isMediaPart(part)) {
      parts.push(part as OutboundPart);
      continue;
    }
    const { media: info, ...rest } = part;
    const [stored] = await deps.db.select({ storageKey: media.storageKey }).from(media).where(eq(media.id, info.id)).limit(1);
    const stream = stored?.storageKey ? await deps.store.open(stored.storageKey) : null;
    if (!stream) throw new OmniError('attachment_unreachable', 'the stored attachment is gone', { details: { mediaId: info.id } });
    const chunks: Uint8Array[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    parts.push({
      ...rest,
      media: {
        id: info.id,
        bytes: Buffer.concat(chunks),
        mime: info.mime ?? 'application/octet-stream',
        ext: info.ext ?? 'bin',
        size: info.size ?? 0,
        sha256: info.sha256 ?? '',
        ...(info.filename !== undefined ? { filename: info.filename } : {}),
      },
    } as OutboundPart);
  }
  return {
    messageId: message.id,
    idempotencyKey: message.idempotencyKey ?? message.id,
    to: {
      externalId: row.identityExternalId,
      conversationExternalId: row.conversationExternalId,
      conversationKind: row.conversationKind,
      // Telegram Business sends need the connection the customer's chat runs through.
      ...(row.via !== null ? { via: row.via } : {}),
    },
    parts,
    ...(raw.template ? { template: raw.template } : {}),
    ...(message.replyTo ? { replyTo: { externalId: message.replyTo } } : {}),
  };
}

/**
 * The platform accepted: record its id and `sent`, drop the job and publish `sent`, in ONE
 * statement (this is the double-send window, so it is kept to a single round trip). Receipts
 * that arrived first are applied right after; were the daemon to stop in between, the sweep
 * applies them later.
 */
export async function recordSent(deps: OutboundDeps, job: SendJob, externalId: string, idempotencyKey: string | null, route?: string): Promise<void> {
  const at = deps.clock.now();
  const payload: StatusEvent = {
    schema: 'omni.status/v1',
    messageId: job.messageId,
    idempotencyKey,
    channel: job.channel,
    account: job.account,
    externalId,
    status: 'sent',
    ...(route ? { route } : {}),
    at: at.toISOString(),
  };
  const when = sql`${at.toISOString()}::timestamptz`;
  // The platform id is recorded whatever the status, so later receipts still find the message;
  // the status moves (and is announced) only from `queued`.
  const result = await deps.db.execute(sql`
    with target as (select id, status from messages where id = ${job.messageId} for update),
    moved as (
      update messages m set external_id = ${externalId}, route = ${route ?? null},
        status = case when target.status = 'queued' then 'sent' else m.status end,
        status_at = case when target.status = 'queued' then ${when} else m.status_at end
      from target where m.id = target.id
      returning target.status as previous),
    gone as (delete from send_jobs where seq = ${job.seq}),
    announced as (
      insert into outbox (subject, msg_id, payload, ordering_key, created_at)
      select ${deps.subjects.evt.messageStatus(job.channel, job.account)}, ${`${job.messageId}:status:sent`}, ${JSON.stringify(payload)}::jsonb, ${job.conversationId}, ${when}
      from moved where previous = 'queued'
      on conflict (msg_id) do nothing)
    select exists (
      select 1 from status_receipts r
      where r.channel = ${job.channel} and r.account = ${job.account} and r.external_id = ${externalId} and r.message_id is null) as early`);
  deps.metrics.calls.inc({ channel: job.channel, account: job.account, result: 'sent' });
  // A label value from the adapter: kept to a short word so the metric stays bounded.
  if (route && /^[a-z_]{1,16}$/.test(route)) deps.metrics.routes.inc({ channel: job.channel, account: job.account, route });
  if (rowsOf<{ early: boolean }>(result)[0]?.early) {
    await deps.db.transaction((tx) => applyEarlyReceipts(tx, deps, job.channel, job.account, [externalId], at));
  }
  deps.notifyRelay();
}

/** Ends a message as `failed`: status event, dead letter unless it is about the recipient. */
export async function recordFailed(deps: OutboundDeps, job: SendJob, error: ErrorBody, options: { deadLetter?: boolean } = {}): Promise<void> {
  const at = deps.clock.now();
  const deadLetter = options.deadLetter ?? !NOT_DEAD_LETTERED.has(error.code);
  let ended = false;
  await deps.db.transaction(async (tx) => {
    const moved = await tx
      .update(messages)
      .set({ status: 'failed', statusAt: at, error: { ...error } })
      .where(and(eq(messages.id, job.messageId), eq(messages.status, 'queued')))
      .returning({ idempotencyKey: messages.idempotencyKey, raw: messages.raw });
    await tx.delete(sendJobs).where(eq(sendJobs.seq, job.seq));
    const row = moved[0];
    if (!row) return;
    ended = true;
    await publishStatus(tx, deps, job, { status: 'failed', externalId: '', idempotencyKey: row.idempotencyKey, at, error });
    if (!deadLetter) return;
    const payload: DeadletterEvent = {
      schema: 'omni.deadletter/v1',
      channel: job.channel,
      account: job.account,
      error,
      at: at.toISOString(),
      raw: { messageId: job.messageId, idempotencyKey: row.idempotencyKey, command: row.raw },
    };
    await tx
      .insert(outbox)
      .values({ subject: deps.subjects.evt.deadletter(job.channel, job.account), msgId: `${job.messageId}:deadletter`, payload, orderingKey: job.conversationId, createdAt: at })
      .onConflictDoNothing();
    deps.metrics.deadLetters.inc({ channel: job.channel, account: job.account });
  });
  if (ended) {
    // What an operator alerts on: ids and the code, never the platform's text (it may quote the recipient).
    const fields = { channel: job.channel, account: job.account, messageId: job.messageId, code: error.code, attempts: error.details?.['attempts'] ?? job.attempts };
    deps.logger.error({ ...fields, deadLetter }, deadLetter ? 'send failed; dead-lettered' : 'send failed');
  }
  deps.notifyRelay();
}

async function publishStatus(
  tx: Tx,
  deps: OutboundDeps,
  job: SendJob,
  input: { status: 'sent' | 'failed'; externalId: string; idempotencyKey: string | null; at: Date; error?: ErrorBody },
): Promise<void> {
  const payload: StatusEvent = {
    schema: 'omni.status/v1',
    messageId: job.messageId,
    idempotencyKey: input.idempotencyKey,
    channel: job.channel,
    account: job.account,
    externalId: input.externalId,
    status: input.status,
    ...(input.error ? { error: input.error } : {}),
    at: input.at.toISOString(),
  };
  await tx
    .insert(outbox)
    .values({
      subject: deps.subjects.evt.messageStatus(job.channel, job.account),
      msgId: `${job.messageId}:status:${input.status}`,
      payload,
      orderingKey: job.conversationId,
      createdAt: input.at,
    })
    .onConflictDoNothing();
}

/** Applies receipts recorded before their message had its platform id, oldest first. */
async function applyEarlyReceipts(tx: Tx, deps: OutboundDeps, channel: string, account: string, externalIds: string[], at: Date): Promise<number> {
  const receipts = await tx
    .select()
    .from(statusReceipts)
    .where(and(eq(statusReceipts.channel, channel), eq(statusReceipts.account, account), inArray(statusReceipts.externalId, externalIds), isNull(statusReceipts.messageId)))
    .orderBy(asc(statusReceipts.id))
    .for('update', { skipLocked: true });
  for (const receipt of receipts) {
    const error = receipt.error as InboundStatus['error'] | null;
    const event: InboundStatus = {
      kind: 'status',
      dedupeKey: receipt.dedupeKey,
      externalId: receipt.externalId,
      status: receipt.status as InboundStatus['status'],
      timestamp: receipt.at,
      ...(error ? { error } : {}),
      raw: receipt.raw,
    };
    await applyReceipt(tx, deps.subjects, { channel, account, receiptId: receipt.id, event, receivedAt: at });
  }
  return receipts.length;
}

/**
 * Matches receipts that raced the recording of their send (both transactions ran at once and
 * neither saw the other). Recent ones only: older unmatched receipts belong to messages this
 * daemon never sent (another tool on the same number).
 */
export async function sweepReceipts(deps: OutboundDeps): Promise<number> {
  const result = await deps.db.execute(sql`
    select distinct r.channel, r.account, r.external_id from status_receipts r
    where r.message_id is null and r.at > now() - interval '1 day'
      and exists (select 1 from messages m where m.channel = r.channel and m.account = r.account and m.external_id = r.external_id and m.direction = 'out')
    limit 200`);
  const found = rowsOf<{ channel: string; account: string; external_id: string }>(result);
  let applied = 0;
  for (const row of found) {
    applied += await deps.db.transaction((tx) => applyEarlyReceipts(tx, deps, row.channel, row.account, [row.external_id], deps.clock.now()));
  }
  if (applied > 0) deps.notifyRelay();
  return applied;
}

function isMediaPart(part: Part): part is Extract<Part, { media: MediaInfo }> {
  return (MEDIA_PART_TYPES as readonly string[]).includes(part.type);
}
