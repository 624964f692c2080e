/**
 * Records one verified webhook's events in ONE transaction: identity and contact, conversation,
 * message (unique on the platform's id, so a redelivery is a no-op), session window, media rows
 * and the outbox rows that announce it all. Only after this commits is the webhook answered 2xx.
 */
import { and, desc, eq, sql } from 'drizzle-orm';
import { createHash } from 'node:crypto';
import type { ChannelAdapter, InboundEvent, InboundIdentityEvent, InboundMessage, InboundStatus, VerifiedWebhook } from './adapter.ts';
import type { Clock } from './clock.ts';
import type { Db, Tx } from './storage/db.ts';
import { conversations, identities, media, messages, outbox, sessionWindows, statusReceipts, webhookNonces } from './storage/schema.ts';
import { newId } from './ids.ts';
import { WebhookVerificationError } from './errors.ts';
import { MEDIA_PART_TYPES, type InboundPart, type MessageEvent, type Part, type SessionEvent, type StatusEvent } from './model.ts';
import { resolveIdentity, addIdentityAlias, type ResolvedIdentity } from '../merge/identities.ts';
import type { subjects as subjectsFor } from './schemas/subjects.ts';

type Subjects = ReturnType<typeof subjectsFor>;

/** What one call recorded, for metrics and logs. */
export interface IngestResult {
  recorded: number;
  duplicates: number;
  ignored: Record<string, number>;
  /** Media rows created; the media worker picks them up. */
  mediaQueued: number;
}

/** Everything the ingest needs to know about the account an event arrived on. */
export interface IngestScope {
  adapter: Pick<ChannelAdapter, 'channel' | 'account' | 'capabilities'>;
  /** The window as configured (`24h`), for events. */
  window: string;
}

/** Records verified events durably; throws (and rolls back) on any failure. */
export class Ingestor {
  constructor(
    private readonly db: Db,
    private readonly subjects: Subjects,
    private readonly clock: Clock,
  ) {}

  async record(scope: IngestScope, webhook: VerifiedWebhook | null, events: InboundEvent[]): Promise<IngestResult> {
    const result: IngestResult = { recorded: 0, duplicates: 0, ignored: {}, mediaQueued: 0 };
    const receivedAt = this.clock.now();
    await this.db.transaction(async (tx) => {
      if (webhook?.replayGuard) await this.guardReplay(tx, scope, webhook.replayGuard);
      for (const event of events) {
        switch (event.kind) {
          case 'message': {
            const media = await this.recordMessage(tx, scope, event, receivedAt);
            if (media === null) result.duplicates++;
            else {
              result.recorded++;
              result.mediaQueued += media;
            }
            break;
          }
          case 'status':
            if (await this.recordStatus(tx, scope, event, receivedAt)) result.recorded++;
            else result.duplicates++;
            break;
          case 'identity':
            await this.recordIdentityEvent(tx, scope, event);
            result.recorded++;
            break;
          case 'ignored':
            result.ignored[event.reason] = (result.ignored[event.reason] ?? 0) + 1;
            break;
        }
      }
    });
    return result;
  }

  /** A second delivery with the same replay key must carry the same body, else it is forged. */
  private async guardReplay(tx: Tx, scope: IngestScope, guard: NonNullable<VerifiedWebhook['replayGuard']>): Promise<void> {
    const { channel, account } = scope.adapter;
    await tx.delete(webhookNonces).where(
      and(eq(webhookNonces.channel, channel), eq(webhookNonces.account, account), sql`${webhookNonces.expiresAt} < now()`),
    );
    const inserted = await tx
      .insert(webhookNonces)
      .values({ channel, account, key: guard.key, fingerprint: guard.fingerprint, expiresAt: guard.expiresAt })
      .onConflictDoNothing()
      .returning({ key: webhookNonces.key });
    if (inserted.length > 0) return;
    const [seen] = await tx
      .select({ fingerprint: webhookNonces.fingerprint })
      .from(webhookNonces)
      .where(and(eq(webhookNonces.channel, channel), eq(webhookNonces.account, account), eq(webhookNonces.key, guard.key)));
    if (seen && seen.fingerprint !== guard.fingerprint) throw new WebhookVerificationError('replayed_nonce');
  }

  /** Returns the number of media rows queued, or null for a duplicate delivery. */
  private async recordMessage(tx: Tx, scope: IngestScope, event: InboundMessage, receivedAt: Date): Promise<number | null> {
    const { channel, account, capabilities } = scope.adapter;
    const at = event.timestamp.getTime() > receivedAt.getTime() ? receivedAt : event.timestamp;
    const identity = await resolveIdentity(tx, { channel, account }, event.sender, at);
    const conversationId = await this.upsertConversation(tx, scope, event, identity, at);
    const messageId = newId('msg', receivedAt.getTime());
    const inserted = await tx
      .insert(messages)
      .values({
        id: messageId,
        direction: 'in',
        channel,
        account,
        conversationId,
        identityId: identity.identityId,
        externalId: event.externalId,
        dedupeKey: event.dedupeKey,
        timestamp: event.timestamp,
        receivedAt,
        parts: [],
        replyTo: event.replyTo?.externalId ?? null,
        referral: event.referral ?? null,
        raw: event.raw as object,
      })
      .onConflictDoNothing()
      .returning({ id: messages.id });
    if (inserted.length === 0) return null;

    const parts: Part[] = [];
    let mediaCount = 0;
    for (const [index, part] of event.parts.entries()) {
      if (isMediaPart(part)) {
        const mediaId = newId('med', receivedAt.getTime());
        const tooLarge = part.media.declaredSize !== undefined && part.media.declaredSize > capabilities.attachments.inboundMaxBytes;
        await tx.insert(media).values({
          id: mediaId,
          messageId,
          partIndex: index,
          channel,
          account,
          sourceRef: { ...part.media },
          status: tooLarge ? 'failed' : 'pending',
          reason: tooLarge ? 'too_large' : null,
          mime: part.media.declaredMime ?? null,
          filename: part.media.filename ?? part.filename ?? null,
          nextAttemptAt: receivedAt,
          createdAt: receivedAt,
          updatedAt: receivedAt,
        });
        if (!tooLarge) mediaCount++;
        const { media: _ref, ...rest } = part;
        parts.push({
          ...rest,
          media: {
            id: mediaId,
            mime: part.media.declaredMime ?? null,
            ext: null,
            size: null,
            sha256: null,
            status: tooLarge ? 'failed' : 'pending',
            url: null,
            ...(part.media.filename ? { filename: part.media.filename } : {}),
            ...(tooLarge ? { reason: 'too_large' } : {}),
          },
        } as Part);
      } else {
        parts.push(part as Part);
      }
    }
    await tx.update(messages).set({ parts }).where(eq(messages.id, messageId));

    const session = await this.touchSession(tx, scope, event, conversationId, identity.contactId, at);
    const payload: MessageEvent = {
      schema: 'omni.message/v1',
      id: messageId,
      direction: 'in',
      channel,
      account,
      externalId: event.externalId,
      conversationId,
      contact: {
        id: identity.contactId,
        identity: { channel, account, externalId: identity.externalId },
        displayName: identity.displayName,
        phone: identity.phone,
      },
      timestamp: event.timestamp.toISOString(),
      receivedAt: receivedAt.toISOString(),
      parts,
      ...(event.replyTo ? { replyTo: event.replyTo } : {}),
      ...(event.referral ? { referral: event.referral } : {}),
      session,
      raw: event.raw,
    };
    if (identity.contactCreated) await this.announceContact(tx, identity, channel, account, at);
    await tx.insert(outbox).values({
      subject: this.subjects.evt.messageIn(channel, account),
      msgId: `${messageId}:in`,
      payload,
      orderingKey: conversationId,
      held: mediaCount > 0,
      createdAt: receivedAt,
    });
    return mediaCount;
  }

  private async upsertConversation(tx: Tx, scope: IngestScope, event: InboundMessage, identity: ResolvedIdentity, at: Date): Promise<string> {
    const { channel, account } = scope.adapter;
    const [row] = await tx
      .insert(conversations)
      .values({
        id: newId('cv', at.getTime()),
        channel,
        account,
        externalId: event.conversation.externalId,
        kind: event.conversation.kind,
        title: event.conversation.title ?? null,
        identityId: event.conversation.kind === 'direct' ? identity.identityId : null,
        createdAt: at,
        lastMessageAt: at,
        lastInboundAt: at,
      })
      .onConflictDoUpdate({
        target: [conversations.channel, conversations.account, conversations.externalId],
        set: {
          lastMessageAt: sql`greatest(${conversations.lastMessageAt}, excluded.last_message_at)`,
          lastInboundAt: sql`greatest(${conversations.lastInboundAt}, excluded.last_inbound_at)`,
        },
      })
      .returning({ id: conversations.id });
    return row!.id;
  }

  /**
   * Opens or extends the conversation's service window from the adapter's grant, and announces
   * a newly opened window. Returns the window for the message event (null where there is none).
   */
  private async touchSession(
    tx: Tx,
    scope: IngestScope,
    event: InboundMessage,
    conversationId: string,
    contactId: string,
    at: Date,
  ): Promise<MessageEvent['session']> {
    const grant = event.sessionGrant ? scope.adapter.capabilities.session.grants[event.sessionGrant] : undefined;
    const [current] = await tx
      .select()
      .from(sessionWindows)
      .where(eq(sessionWindows.conversationId, conversationId))
      .orderBy(desc(sessionWindows.openedAt))
      .limit(1)
      .for('update');
    if (!grant || grant.durationMs === null) {
      return current?.expiresAt && current.expiresAt > at ? { window: scope.window, expiresAt: current.expiresAt.toISOString() } : null;
    }
    const until = new Date(at.getTime() + grant.durationMs);
    const pricing = event.pricingWindow
      ? { pricingKind: event.pricingWindow.kind, pricingExpiresAt: new Date(at.getTime() + event.pricingWindow.durationMs) }
      : {};
    if (current && current.expiresAt && current.expiresAt > at) {
      const extends_ = until > current.expiresAt;
      const expiresAt = extends_ ? until : current.expiresAt;
      await tx
        .update(sessionWindows)
        .set({
          expiresAt,
          ...(extends_ ? { grant: event.sessionGrant!, quotaLimit: grant.quota, quotaUsed: 0, expiringNotifiedAt: null } : {}),
          ...pricing,
          ...(event.referral ? { referral: event.referral } : {}),
        })
        .where(eq(sessionWindows.id, current.id));
      return { window: scope.window, expiresAt: expiresAt.toISOString() };
    }
    const windowId = newId('sw', at.getTime());
    await tx.insert(sessionWindows).values({
      id: windowId,
      conversationId,
      grant: event.sessionGrant!,
      openedAt: at,
      expiresAt: until,
      quotaLimit: grant.quota,
      ...pricing,
      referral: event.referral ?? null,
      openedNotifiedAt: at,
    });
    const { channel, account } = scope.adapter;
    const opened: SessionEvent = {
      schema: 'omni.session/v1',
      state: 'opened',
      channel,
      account,
      conversationId,
      contactId,
      window: scope.window,
      openedAt: at.toISOString(),
      expiresAt: until.toISOString(),
      ...(grant.quota !== null ? { quota: { limit: grant.quota, used: 0, remaining: grant.quota } } : {}),
    };
    await tx.insert(outbox).values({
      subject: this.subjects.evt.session('opened', channel, account),
      msgId: `${windowId}:opened`,
      payload: opened,
      orderingKey: conversationId,
      createdAt: at,
    });
    return { window: scope.window, expiresAt: until.toISOString() };
  }

  /** Records a receipt once and moves the outbound message's status forward only. */
  private async recordStatus(tx: Tx, scope: IngestScope, event: InboundStatus, receivedAt: Date): Promise<boolean> {
    const { channel, account } = scope.adapter;
    const inserted = await tx
      .insert(statusReceipts)
      .values({
        channel,
        account,
        dedupeKey: event.dedupeKey,
        externalId: event.externalId,
        status: event.status,
        at: event.timestamp,
        error: event.error ?? null,
        raw: event.raw as object,
      })
      .onConflictDoNothing()
      .returning({ id: statusReceipts.id });
    if (inserted.length === 0) return false;
    await applyReceipt(tx, this.subjects, { channel, account, receiptId: inserted[0]!.id, event, receivedAt });
    return true;
  }

  private async recordIdentityEvent(tx: Tx, scope: IngestScope, event: InboundIdentityEvent): Promise<void> {
    const { channel, account } = scope.adapter;
    const identity = await resolveIdentity(tx, { channel, account }, event.identity, event.timestamp);
    if (identity.contactCreated) await this.announceContact(tx, identity, channel, account, event.timestamp);
    switch (event.change) {
      case 'changed_id':
        if (event.newExternalId) await addIdentityAlias(tx, { channel, account }, identity.identityId, event.newExternalId);
        break;
      case 'unreachable':
        await tx.update(identities).set({ unreachableAt: event.timestamp }).where(eq(identities.id, identity.identityId));
        break;
      case 'reachable':
        await tx.update(identities).set({ unreachableAt: null }).where(eq(identities.id, identity.identityId));
        break;
      case 'erase':
        // Erasure of personal data is channel policy (WeChat unsubscribe); handled by the merge module.
        await tx.update(identities).set({ unreachableAt: event.timestamp }).where(eq(identities.id, identity.identityId));
        break;
    }
  }

  private async announceContact(tx: Tx, identity: ResolvedIdentity, channel: string, account: string, at: Date): Promise<void> {
    await tx.insert(outbox).values({
      subject: this.subjects.evt.contact('created'),
      msgId: `${identity.contactId}:created`,
      payload: {
        schema: 'omni.contact/v1',
        event: 'created',
        contact: {
          id: identity.contactId,
          displayName: identity.displayName,
          phones: identity.phone ? [identity.phone] : [],
          emails: [],
          identities: [
            {
              channel,
              account,
              externalId: identity.externalId,
              displayName: identity.displayName,
              ...(identity.phone ? { phone: identity.phone } : {}),
              firstSeen: at.toISOString(),
              lastSeen: at.toISOString(),
            },
          ],
          attributes: {},
          mergedFrom: [],
          createdAt: at.toISOString(),
          updatedAt: at.toISOString(),
        },
      },
      orderingKey: identity.contactId,
      createdAt: at,
    });
  }
}

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

function isMediaPart(part: InboundPart): part is Extract<InboundPart, { media: unknown }> {
  return (MEDIA_PART_TYPES as readonly string[]).includes(part.type);
}

/** A stable fingerprint of a body, for replay guards. */
export function fingerprint(body: Uint8Array): string {
  return createHash('sha256').update(body).digest('hex');
}
