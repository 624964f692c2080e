/**
 * Merging two live contacts: the merged-away contact becomes an alias of the survivor, its
 * identities (and with them every conversation and message) now point at the survivor, and
 * its fields are combined into the survivor's. Pointers move; no message row is touched, so a
 * merge costs the same at 10 or 100,000 messages. Logged and announced in the same transaction.
 */
import { eq } from 'drizzle-orm';
import type { Db, Tx } from '../core/storage/db.ts';
import { contacts, identities, mergeLog } from '../core/storage/schema.ts';
import type { Subjects } from '../core/schemas/subjects.ts';
import type { ContactProfile } from '../core/schemas/events.ts';
import { newId } from '../core/ids.ts';
import { OmniError } from '../core/errors.ts';
import { combineFields } from './combine.ts';
import { announce, loadProfile } from './profile.ts';
import { fieldsOf, lockLive, olderFirst, requireContactId, writeFields, type ContactRow } from './store.ts';
import { inTransaction } from './retry.ts';

/** Why a merge happened. */
export interface MergeEvidence {
  /** `phone`, `email`, `manual`, or the namespace of a platform id (see evidence.ts). */
  type: string;
  value?: string;
}

/** Who merged, from where, on what. */
export interface MergeCause {
  actor: string;
  via: 'http' | 'nats' | 'inbound' | 'update';
  evidence: MergeEvidence;
}

/** What the merge functions need from the daemon. */
export interface MergeContext {
  subjects: Subjects;
  now(): Date;
}

/**
 * Merges `merged` into `survivor`; both must be live and locked by this transaction
 * ({@link lockLive}). Returns the merge log id.
 */
export async function mergeLocked(tx: Tx, ctx: MergeContext, survivor: ContactRow, merged: ContactRow, cause: MergeCause): Promise<string> {
  const at = ctx.now();
  const logId = newId('mrg', at.getTime());
  const moved = await tx
    .update(identities)
    .set({ contactId: survivor.id })
    .where(eq(identities.contactId, merged.id))
    .returning({ id: identities.id });
  // Aliases of the merged contact now name the survivor directly: every alias is one hop from a live contact.
  const flattened = await tx
    .update(contacts)
    .set({ mergedInto: survivor.id })
    .where(eq(contacts.mergedInto, merged.id))
    .returning({ id: contacts.id });
  await writeFields(tx, merged.id, fieldsOf(merged), at, { mergedInto: survivor.id });
  await writeFields(tx, survivor.id, combineFields(fieldsOf(survivor), fieldsOf(merged), merged.id, at), at);
  await tx.insert(mergeLog).values({
    id: logId,
    action: 'merge',
    contactId: survivor.id,
    otherId: merged.id,
    actor: cause.actor,
    via: cause.via,
    evidence: { ...cause.evidence },
    identityIds: moved.map((row) => row.id),
    before: { contact: fieldsOf(survivor), other: fieldsOf(merged) },
    at,
  });
  const profile = await loadProfile(tx, survivor.id, at);
  await announce(tx, ctx.subjects, 'merged', profile, `${logId}:merged`, at, {
    mergedIds: [merged.id, ...flattened.map((row) => row.id)],
    survivorId: survivor.id,
    evidence: { ...cause.evidence },
  });
  return logId;
}

/** A manual merge request. */
export interface MergeRequest {
  id: string;
  otherId: string;
  survivorId?: string | undefined;
  actor?: string | undefined;
}

/**
 * Merges two contacts (either id may be an alias). The older contact survives unless the
 * caller names the survivor. Merging contacts that are already one is a no-op: no log entry,
 * no event, the profile is answered.
 */
export async function mergeContacts(db: Db, ctx: MergeContext, request: MergeRequest, via: 'http' | 'nats'): Promise<ContactProfile> {
  return inTransaction(db, async (tx) => {
    const a = await requireContactId(tx, request.id);
    const b = await requireContactId(tx, request.otherId);
    const named = request.survivorId === undefined ? null : await requireContactId(tx, request.survivorId);
    if (a === b) return loadProfile(tx, a, ctx.now());
    const locked = await lockLive(tx, [a, b]);
    const [older, younger] = [locked.get(a)!, locked.get(b)!].sort(olderFirst) as [ContactRow, ContactRow];
    const survivor = named === null ? older : locked.get(named);
    if (!survivor) throw new OmniError('invalid_request', 'survivorId must be id or otherId', { details: { field: 'survivorId' } });
    const merged = survivor.id === older.id ? younger : older;
    await mergeLocked(tx, ctx, survivor, merged, { actor: request.actor ?? 'api', via, evidence: { type: 'manual' } });
    return loadProfile(tx, survivor.id, ctx.now());
  });
}
