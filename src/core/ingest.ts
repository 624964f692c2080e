/**
 * Records one verified webhook's events in ONE transaction: identity and contact, conversation,
 * message (unique on the platform's id, so a redelivery is a no-op), session window, media rows
 * and the outbox rows that announce it all. Only after this commits is the webhook answered 2xx.
 */
import { and, eq, sql } from 'drizzle-orm';
import { createHash } from 'node:crypto';
import type { ChannelAdapter, InboundEvent, InboundIdentityEvent, InboundMessage, InboundStatus, VerifiedWebhook } from './adapter.ts';
import type { Clock } from './clock.ts';
import type { Db, Tx } from './storage/db.ts';
import { conversations, identities, media, messages, outbox, statusReceipts, webhookNonces } from './storage/schema.ts';
import { touchSessionWindow } from './session-windows.ts';
import { applyReceipt } from './receipts.ts';
import { newId } from './ids.ts';
import { WebhookVerificationError } from './errors.ts';
import { MEDIA_PART_TYPES, type InboundPart, type MessageEvent, type Part } from './model.ts';
import { resolveIdentity, addIdentityAlias, type ResolvedIdentity } from '../merge/identities.ts';
import { autoMergeIdentity } from '../merge/auto-merge.ts';
import { eraseIdentity } from '../merge/erase.ts';
import { purgeAfterCommit } from './media/purge.ts';
import { dropIfErased } from './erasure-tombstones.ts';
import { DEFAULT_MERGE_POLICY, type MergePolicy } from '../merge/evidence.ts';
import type { subjects as subjectsFor } from './schemas/subjects.ts';

/** The subject builders of one prefix. */
export type Subjects = ReturnType<typeof subjectsFor>;

export { applyReceipt };

/** What one call recorded, for metrics and logs. */
export interface IngestResult {
  recorded: number;
  duplicates: number;
  ignored: Record<string, number>;
  /** Media rows created; the media worker picks them up. */
  mediaQueued: number;
  /** Platform ids of identities seen for the first time (for `lookupIdentity`). */
  newIdentities: string[];
}

/** Everything the ingest needs to know about the account an event arrived on. */
export interface IngestScope {
  adapter: Pick<ChannelAdapter, 'channel' | 'account' | 'capabilities'>;
  /** The window as configured (`24h`), for events. */
  window: string;
}

/** Records verified events durably; throws (and rolls back) on any failure. */
export class Ingestor {
  /** Evidence that merges contacts on arrival (`merge.auto`); the contacts extension sets the configured one. */
  mergePolicy: MergePolicy = DEFAULT_MERGE_POLICY;

  constructor(
    private readonly db: Db,
    private readonly subjects: Subjects,
    private readonly clock: Clock,
  ) {}

  async record(scope: IngestScope, webhook: VerifiedWebhook | null, events: InboundEvent[]): Promise<IngestResult> {
    const result: IngestResult = { recorded: 0, duplicates: 0, ignored: {}, mediaQueued: 0, newIdentities: [] };
    const receivedAt = this.clock.now();
    const erased: Array<{ keys: string[]; log: Record<string, unknown> }> = [];
    await this.db.transaction(async (tx) => {
      if (webhook?.replayGuard) await this.guardReplay(tx, scope, webhook.replayGuard);
      for (const event of events) {
        switch (event.kind) {
          case 'message': {
            if (await dropIfErased(tx, scope.adapter, event, result.ignored)) break;
            const media = await this.recordMessage(tx, scope, event, receivedAt, result.newIdentities);
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
            if (await this.recordIdentityEvent(tx, scope, event, result.newIdentities, erased)) result.recorded++;
            else result.duplicates++;
            break;
          case 'ignored':
            result.ignored[event.reason] = (result.ignored[event.reason] ?? 0) + 1;
            break;
        }
      }
    });
    // Stored bytes only after commit, and only those no media row names any more.
    for (const { keys, log } of erased) purgeAfterCommit(this.db, keys, log);
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
  private async recordMessage(tx: Tx, scope: IngestScope, event: InboundMessage, receivedAt: Date, newIdentities: string[]): Promise<number | null> {
    const { channel, account, capabilities } = scope.adapter;
    // Redeliveries are common (Meta retries for days): one index probe answers them before any
    // identity or conversation is touched. A concurrent first delivery is still caught below.
    const [seen] = await tx
      .select({ id: messages.id })
      .from(messages)
      .where(and(eq(messages.channel, channel), eq(messages.account, account), eq(messages.dedupeKey, event.dedupeKey)))
      .limit(1);
    if (seen) return null;
    const at = event.timestamp.getTime() > receivedAt.getTime() ? receivedAt : event.timestamp;
    const identity = await autoMergeIdentity(tx, this.subjects, this.mergePolicy, await resolveIdentity(tx, { channel, account }, event.sender, at), at);
    if (identity.identityCreated) newIdentities.push(identity.externalId);
    const conversationId = await this.upsertConversation(tx, scope, event, identity, at);
    const messageId = newId('msg', receivedAt.getTime());

    // Parts are final before the insert (media ids minted here), so the row is written once.
    const parts: Part[] = [];
    const mediaRows: Array<typeof media.$inferInsert> = [];
    for (const [index, part] of event.parts.entries()) {
      if (!isMediaPart(part)) {
        parts.push(part as Part);
        continue;
      }
      const mediaId = newId('med', receivedAt.getTime());
      const tooLarge = part.media.declaredSize !== undefined && part.media.declaredSize > capabilities.attachments.inboundMaxBytes;
      mediaRows.push({
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
    }
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
        parts,
        replyTo: event.replyTo?.externalId ?? null,
        referral: event.referral ?? null,
        raw: event.raw as object,
      })
      .onConflictDoNothing()
      .returning({ id: messages.id });
    if (inserted.length === 0) return null;
    if (mediaRows.length > 0) await tx.insert(media).values(mediaRows);
    const mediaCount = mediaRows.filter((row) => row.status === 'pending').length;

    const session = await touchSessionWindow(tx, this.subjects, scope, event, conversationId, identity.contactId, at);
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

  /** False for an erase of an identity that does not exist (a redelivery): nothing to do. */
  private async recordIdentityEvent(
    tx: Tx,
    scope: IngestScope,
    event: InboundIdentityEvent,
    newIdentities: string[],
    erased: Array<{ keys: string[]; log: Record<string, unknown> }>,
  ): Promise<boolean> {
    const { channel, account } = scope.adapter;
    if (event.change === 'erase') {
      // Before resolving: resolving would create the identity that is to be deleted.
      const outcome = await eraseIdentity(tx, this.subjects, { channel, account }, event.identity, event.timestamp);
      if (!outcome.erased) return false;
      // The log line names the daemon's ids only, never the platform id.
      erased.push({ keys: outcome.mediaKeys, log: { channel, account, identity: outcome.identityId, contact: outcome.contactId, contactRemoved: outcome.contactRemoved, counts: outcome.counts } });
      return true;
    }
    const identity = await autoMergeIdentity(tx, this.subjects, this.mergePolicy, await resolveIdentity(tx, { channel, account }, event.identity, event.timestamp), event.timestamp);
    if (identity.identityCreated) newIdentities.push(identity.externalId);
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
    }
    return true;
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

function isMediaPart(part: InboundPart): part is Extract<InboundPart, { media: unknown }> {
  return (MEDIA_PART_TYPES as readonly string[]).includes(part.type);
}

/** A stable fingerprint of a body, for replay guards. */
export function fingerprint(body: Uint8Array): string {
  return createHash('sha256').update(body).digest('hex');
}
