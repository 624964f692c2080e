/**
 * Unmerge: an identity — and with it its conversations and messages, which hang off it —
 * leaves its contact for a contact of its own. When the identity came with a contact that was
 * merged away, that contact is revived under its old id with the fields it had before the
 * merge, and what it brought is taken off the remaining contact (combine.ts, splitFields).
 * Otherwise a new contact is created. The pair is blocked from automatic re-merging.
 */
import { and, desc, eq } from 'drizzle-orm';
import type { Db } from '../core/storage/db.ts';
import { contacts, identities, mergeLog } from '../core/storage/schema.ts';
import type { ContactProfile } from '../core/schemas/events.ts';
import { newId } from '../core/ids.ts';
import { OmniError } from '../core/errors.ts';
import { splitFields, union } from './combine.ts';
import { identityEvidence } from './evidence.ts';
import { addBlock } from './blocks.ts';
import { findIdentityRow, type IdentityKey } from './find.ts';
import type { MergeContext } from './merge.ts';
import { announce, loadProfile } from './profile.ts';
import { fieldsOf, lockLive, requireContactId, writeFields, type ContactFields } from './store.ts';
import { inTransaction } from './retry.ts';

/** An unmerge request. */
export interface UnmergeRequest {
  id: string;
  identity: IdentityKey;
  actor?: string | undefined;
}

/** Splits the identity off; answers the contact that kept the rest and the one holding the identity. */
export async function unmergeIdentity(
  db: Db,
  ctx: MergeContext,
  request: UnmergeRequest,
  via: 'http' | 'nats',
): Promise<{ contact: ContactProfile; detached: ContactProfile }> {
  return inTransaction(db, async (tx) => {
    const at = ctx.now();
    const id = await requireContactId(tx, request.id);
    const remaining = (await lockLive(tx, [id])).get(id)!;
    // Read after the lock: under it, no one else moves this contact's identities.
    const identity = await findIdentityRow(tx, request.identity);
    if (!identity || identity.contactId !== id) {
      throw new OmniError('not_found', 'the contact has no such identity', { details: { id, identity: request.identity } });
    }
    const owned = await tx.select().from(identities).where(eq(identities.contactId, id));
    if (owned.length < 2) throw new OmniError('conflict', 'this is the contact\u2019s only identity; there is nothing to split off', { details: { id } });

    const origin = identity.originContactId;
    const [home] = origin && origin !== id ? await tx.select().from(contacts).where(eq(contacts.id, origin)) : [];
    // An alias of this contact is guarded by this contact's lock, so reviving it is safe here.
    const revive = home !== undefined && home.mergedInto === id;
    const [entry] = revive
      ? await tx.select().from(mergeLog).where(and(eq(mergeLog.action, 'merge'), eq(mergeLog.otherId, home.id))).orderBy(desc(mergeLog.at), desc(mergeLog.id)).limit(1)
      : [];
    const ownPhones = identityEvidence(identity).filter((k) => k.type === 'phone').map((k) => k.value);
    const alone: ContactFields = {
      displayName: identity.displayName,
      phones: ownPhones,
      emails: identityEvidence(identity).filter((k) => k.type === 'email').map((k) => k.value),
      attributes: {},
      conflicts: [],
      createdAt: identity.firstSeen.toISOString(),
    };
    const restored = entry ? (entry.before.other as ContactFields) : null;
    const detachedFields: ContactFields = restored ? { ...restored, phones: union(restored.phones, ownPhones) } : alone;
    const keptBefore = entry && entry.contactId === id ? (entry.before.contact as ContactFields) : null;
    const keptPhones = owned.filter((other) => other.id !== identity.id).flatMap((other) => identityEvidence(other).filter((k) => k.type === 'phone').map((k) => k.value));
    const detachedId = revive ? home.id : newId('ct', at.getTime());

    if (revive) await writeFields(tx, detachedId, detachedFields, at, { mergedInto: null });
    else {
      await tx.insert(contacts).values({ id: detachedId, ...detachedFields, createdAt: new Date(detachedFields.createdAt), updatedAt: at });
    }
    await tx.update(identities).set({ contactId: detachedId }).where(eq(identities.id, identity.id));
    await writeFields(tx, id, splitFields({ current: fieldsOf(remaining), detached: detachedFields, detachedId, keptBefore, keptPhones }), at);

    const logId = newId('mrg', at.getTime());
    await tx.insert(mergeLog).values({
      id: logId,
      action: 'unmerge',
      contactId: id,
      otherId: detachedId,
      actor: request.actor ?? 'api',
      via,
      evidence: { type: 'manual' },
      identityIds: [identity.id],
      before: { contact: fieldsOf(remaining), other: revive ? fieldsOf(home) : null },
      at,
    });
    await addBlock(tx, id, detachedId, logId, at);
    const [contact, detached] = [await loadProfile(tx, id, at), await loadProfile(tx, detachedId, at)];
    if (!revive) await announce(tx, ctx.subjects, 'created', detached, `${detachedId}:created`, at);
    await announce(tx, ctx.subjects, 'unmerged', contact, `${logId}:unmerged`, at, { detached, evidence: { type: 'manual' } });
    return { contact, detached };
  });
}
