/**
 * Records inbound events inside the caller's transaction: identity and contact, conversation,
 * message (unique on the platform's id, so a redelivery is a no-op), session window, media rows
 * and the outbox rows that announce it all. The transaction itself (one per batch, or one per
 * item when a batch holds an item that cannot be stored) belongs to the `Ingestor`.
 */
import { and, eq, sql } from 'drizzle-orm';
import type { InboundEvent, InboundIdentityEvent, InboundMessage, InboundStatus, VerifiedWebhook } from '../adapter.ts';
import type { Tx } from '../storage/db.ts';
import { conversations, identities, media, messages, outbox, statusReceipts, webhookNonces } from '../storage/schema.ts';
import { touchSessionWindow } from './session-windows.ts';
import { applyReceipt } from './receipts.ts';
import { recordDeadLetter } from './dead-letters.ts';
import { newId } from '../ids.ts';
import { WebhookVerificationError } from '../errors.ts';
import { inboundMessageEvent } from './message-event.ts';
import { mintParts } from './record-parts.ts';
import { storeReplyContext } from './reply-context.ts';
import { recordDelete, recordEdit } from './record-edits.ts';
import { recordConversationEvent } from './record-conversations.ts';
import type { IdentityResolver, ResolvedContact } from '../ports/identity-resolver.ts';
import type { Subjects } from '../schemas/subjects.ts';
import type { IngestResult, IngestScope } from './scope.ts';
import { dropIfErased } from '../erasure-tombstones.ts';

/** Stored media keys to delete once an erasing transaction committed. */
export type ErasedMedia = Array<{ keys: string[]; log: Record<string, unknown>; what?: string }>;

/** Writes events in a transaction it is handed; never commits or rolls back itself. */
export class EventRecorder {
  constructor(
    private readonly subjects: Subjects,
    /** Who the sender is: identity, contact, merges (the contacts module, through the port). */
    private readonly identities: IdentityResolver,
  ) {}

  /**
   * Records one event into `result` (a draft the caller keeps only if the transaction commits).
   * `probed`: the caller already looked for the message's dedupe key in this transaction and
   * did not find it (the insert's `on conflict` still catches a delivery that raced it).
   */
  async record(tx: Tx, scope: IngestScope, event: InboundEvent, receivedAt: Date, result: IngestResult, erased: ErasedMedia, probed = false): Promise<void> {
    switch (event.kind) {
      case 'message': {
        if (await dropIfErased(tx, scope.adapter, event, result.ignored)) return;
        const media = await this.recordMessage(tx, scope, event, receivedAt, result.newIdentities, probed);
        if (media === null) result.duplicates++;
        else {
          result.recorded++;
          result.mediaQueued += media;
        }
        return;
      }
      case 'status':
        if (await this.recordStatus(tx, scope, event, receivedAt)) result.recorded++;
        else result.duplicates++;
        return;
      case 'identity':
        if (await this.recordIdentityEvent(tx, scope, event, result.newIdentities, erased)) result.recorded++;
        else result.duplicates++;
        return;
      case 'conversation':
        if (await recordConversationEvent(tx, scope.adapter, event)) result.recorded++;
        else result.duplicates++;
        return;
      case 'invalid': {
        const { channel, account } = scope.adapter;
        const fresh = await recordDeadLetter(tx, this.subjects, { channel, account, dedupeKey: event.dedupeKey, reason: event.reason, raw: event.raw, at: receivedAt });
        if (fresh) result.deadLettered[event.reason] = (result.deadLettered[event.reason] ?? 0) + 1;
        else result.duplicates++;
        return;
      }
      case 'ignored':
        result.ignored[event.reason] = (result.ignored[event.reason] ?? 0) + 1;
        return;
      case 'edit':
      case 'delete': {
        const outcome = event.kind === 'edit' ? await recordEdit(tx, this.subjects, scope, event, receivedAt) : await recordDelete(tx, this.subjects, scope, event, receivedAt);
        if (outcome.kind === 'recorded') {
          result.recorded++;
          result.mediaQueued += outcome.mediaQueued;
          if (outcome.mediaKeys.length > 0) erased.push({ keys: outcome.mediaKeys, log: { channel: scope.adapter.channel, account: scope.adapter.account, message: outcome.messageId }, what: 'unsent message deleted' });
        } else if (outcome.kind === 'duplicate') result.duplicates++;
        else result.ignored[outcome.reason] = (result.ignored[outcome.reason] ?? 0) + 1;
        return;
      }
    }
  }

  /** A second delivery with the same replay key must carry the same body, else it is forged. */
  async guardReplay(tx: Tx, scope: IngestScope, guard: NonNullable<VerifiedWebhook['replayGuard']>): Promise<void> {
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
  private async recordMessage(tx: Tx, scope: IngestScope, event: InboundMessage, receivedAt: Date, newIdentities: string[], probed: boolean): Promise<number | null> {
    const { channel, account } = scope.adapter;
    // Redeliveries are common (Meta retries for days): one index probe answers them before any
    // identity or conversation is touched. A concurrent first delivery is still caught below.
    if (!probed) {
      const [seen] = await tx
        .select({ id: messages.id })
        .from(messages)
        .where(and(eq(messages.channel, channel), eq(messages.account, account), eq(messages.dedupeKey, event.dedupeKey)))
        .limit(1);
      if (seen) return null;
    }
    const at = event.timestamp.getTime() > receivedAt.getTime() ? receivedAt : event.timestamp;
    const identity = await this.identities.resolve(tx, { channel, account }, event.sender, at);
    if (identity.identityCreated) newIdentities.push(identity.externalId);
    const conversationId = await this.upsertConversation(tx, scope, event, identity, at);
    await storeReplyContext(tx, conversationId, event);
    const messageId = newId('msg', receivedAt.getTime());

    // Parts are final before the insert (media ids minted here), so the row is written once.
    const { parts, mediaRows } = mintParts(scope, event.parts, messageId, receivedAt);
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
    const payload = inboundMessageEvent({
      messageId, scope: { channel, account }, event, conversationId, sender: { contactId: identity.contactId, externalId: identity.externalId, displayName: identity.displayName, phone: identity.phone },
      receivedAt, parts, session,
    });
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

  private async upsertConversation(tx: Tx, scope: IngestScope, event: InboundMessage, identity: ResolvedContact, at: Date): Promise<string> {
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
        sessionKind: event.conversation.sessionKind ?? null,
        via: event.conversation.via ?? null,
      })
      .onConflictDoUpdate({
        target: [conversations.channel, conversations.account, conversations.externalId],
        set: {
          // The newest message names the conversation's kind and connection; absent keeps what was.
          sessionKind: sql`coalesce(excluded.session_kind, ${conversations.sessionKind})`,
          via: sql`coalesce(excluded.via, ${conversations.via})`,
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
      const outcome = await this.identities.erase(tx, { channel, account }, event.identity, event.timestamp);
      if (!outcome.erased) return false;
      // The log line names the daemon's ids only, never the platform id.
      erased.push({ keys: outcome.mediaKeys, log: { channel, account, identity: outcome.identityId, contact: outcome.contactId, contactRemoved: outcome.contactRemoved, counts: outcome.counts } });
      return true;
    }
    const identity = await this.identities.resolve(tx, { channel, account }, event.identity, event.timestamp);
    if (identity.identityCreated) newIdentities.push(identity.externalId);
    if (identity.contactCreated) await this.announceContact(tx, identity, channel, account, event.timestamp);
    switch (event.change) {
      case 'changed_id':
        if (event.newExternalId) await this.identities.addAlias(tx, { channel, account }, identity.identityId, event.newExternalId);
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

  private async announceContact(tx: Tx, identity: ResolvedContact, channel: string, account: string, at: Date): Promise<void> {
    await tx.insert(outbox).values({
      subject: this.subjects.evt.contact('created'),
      msgId: `${identity.contactId}:created`,
      payload: contactCreatedEvent(identity, channel, account, at),
      orderingKey: identity.contactId,
      createdAt: at,
    });
  }
}

/** The `contact.created` event of a contact created with its first identity (shared with the set-based path). */
export function contactCreatedEvent(identity: Pick<ResolvedContact, 'contactId' | 'displayName' | 'externalId' | 'phone'>, channel: string, account: string, at: Date) {
  return {
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
  };
}
