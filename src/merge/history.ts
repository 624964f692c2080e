/**
 * The merge log as the API shows it (`GET /v1/contacts/{id}/merges`): every merge and unmerge
 * that involved the contact or any id that resolves to it, newest first (in the order they
 * were written), with the actor, the
 * evidence and the identities that moved.
 */
import { desc, inArray, or } from 'drizzle-orm';
import type { Db } from '../core/storage/db.ts';
import { identities, mergeLog } from '../core/storage/schema.ts';
import { aliasesOf, requireContactId } from './store.ts';
import type { IdentityKey } from './find.ts';
import type { MergeCause } from './merge.ts';

/** One log entry. */
export interface MergeLogEntry {
  id: string;
  action: 'merge' | 'unmerge';
  contactId: string;
  otherId: string;
  actor: string;
  via: MergeCause['via'];
  evidence: MergeCause['evidence'];
  identities: IdentityKey[];
  at: string;
}

const MAX_ENTRIES = 500;

/** The log entries of a contact and its aliases, newest first. */
export async function mergeHistory(db: Db, id: string): Promise<MergeLogEntry[]> {
  const contactId = await requireContactId(db, id);
  const ids = [contactId, ...(await aliasesOf(db, contactId))];
  const rows = await db
    .select()
    .from(mergeLog)
    .where(or(inArray(mergeLog.contactId, ids), inArray(mergeLog.otherId, ids)))
    .orderBy(desc(mergeLog.seq))
    .limit(MAX_ENTRIES);
  const identityIds = [...new Set(rows.flatMap((row) => row.identityIds))];
  const keys = identityIds.length
    ? await db.select({ id: identities.id, channel: identities.channel, account: identities.account, externalId: identities.externalId }).from(identities).where(inArray(identities.id, identityIds))
    : [];
  const keyOf = new Map(keys.map(({ id: identityId, ...key }) => [identityId, key]));
  return rows.map((row) => ({
    id: row.id,
    action: row.action,
    contactId: row.contactId,
    otherId: row.otherId,
    actor: row.actor,
    via: row.via as MergeCause['via'],
    evidence: row.evidence as MergeCause['evidence'],
    identities: row.identityIds.flatMap((identityId) => (keyOf.has(identityId) ? [keyOf.get(identityId)!] : [])),
    at: row.at.toISOString(),
  }));
}
