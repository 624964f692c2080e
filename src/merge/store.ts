/**
 * Contact rows: resolving an id (a merged-away id is an alias of its survivor), and locking
 * live contacts in one global order (by id) so concurrent merges, unmerges and updates queue
 * up instead of deadlocking. Rule kept everywhere: an alias row, and an identity's
 * `contact_id`, are only changed by a transaction holding the lock of the live contact they
 * point at.
 */
import { eq, inArray, sql } from 'drizzle-orm';
import type { Db, Tx } from '../core/storage/db.ts';
import { contacts } from '../core/storage/schema.ts';
import { OmniError } from '../core/errors.ts';

/** A contact row as stored. */
export type ContactRow = typeof contacts.$inferSelect;

/** The fields a merge combines and an unmerge restores. */
export interface ContactFields {
  displayName: string | null;
  phones: string[];
  emails: string[];
  attributes: Record<string, unknown>;
  conflicts: ContactRow['conflicts'];
  createdAt: string;
}

/** Thrown inside a transaction when what was read changed before it was locked; the caller retries. */
export class StaleReadError extends Error {
  constructor(what: string) {
    super(`stale read: ${what}`);
    this.name = 'StaleReadError';
  }
}

/** Merged-away ids are followed at most this far; the invariant keeps it at one hop. */
const MAX_HOPS = 8;

/**
 * The live contact an id names today: itself, or the survivor it was merged into; null when
 * no such contact exists. For other modules (send commands with `to.contactId`, sessions).
 */
export async function resolveContactId(db: Db | Tx, id: string): Promise<string | null> {
  let current = id;
  for (let hop = 0; hop < MAX_HOPS; hop++) {
    const [row] = await db.select({ id: contacts.id, mergedInto: contacts.mergedInto }).from(contacts).where(eq(contacts.id, current)).limit(1);
    if (!row) return null;
    if (row.mergedInto === null) return row.id;
    current = row.mergedInto;
  }
  throw new Error('contact alias chain too long');
}

/** Like {@link resolveContactId}, but an unknown id is the contract's `unknown_contact`. */
export async function requireContactId(db: Db | Tx, id: string): Promise<string> {
  const live = await resolveContactId(db, id);
  if (live === null) throw new OmniError('unknown_contact', 'no such contact', { details: { id } });
  return live;
}

/**
 * Locks live contacts FOR UPDATE in id order (one statement: the row locks are taken in the
 * ORDER BY order). A contact merged away while we waited means our read is stale: retry.
 */
export async function lockLive(tx: Tx, ids: ReadonlyArray<string>): Promise<Map<string, ContactRow>> {
  const wanted = [...new Set(ids)].sort();
  const rows = await tx.select().from(contacts).where(inArray(contacts.id, wanted)).orderBy(contacts.id).for('update');
  const byId = new Map(rows.map((row) => [row.id, row]));
  for (const id of wanted) {
    const row = byId.get(id);
    if (!row) throw new OmniError('unknown_contact', 'no such contact', { details: { id } });
    if (row.mergedInto !== null) throw new StaleReadError(`contact ${id} was merged meanwhile`);
  }
  return byId;
}

/** The ids that resolve to `id` besides itself (its merged-away aliases), oldest first. */
export async function aliasesOf(db: Db | Tx, id: string): Promise<string[]> {
  const rows = await db.select({ id: contacts.id }).from(contacts).where(eq(contacts.mergedInto, id)).orderBy(contacts.id);
  return rows.map((row) => row.id);
}

/** The fields of a row, as kept in the merge log. */
export function fieldsOf(row: ContactRow): ContactFields {
  return {
    displayName: row.displayName,
    phones: [...row.phones],
    emails: [...row.emails],
    attributes: { ...row.attributes },
    conflicts: [...row.conflicts],
    createdAt: row.createdAt.toISOString(),
  };
}

/** Writes combined fields onto a contact and bumps its revision; returns the new revision. */
export async function writeFields(tx: Tx, id: string, fields: ContactFields, at: Date, extra: Partial<Pick<ContactRow, 'mergedInto'>> = {}): Promise<number> {
  const [row] = await tx
    .update(contacts)
    .set({
      displayName: fields.displayName,
      phones: fields.phones,
      emails: fields.emails,
      attributes: fields.attributes,
      conflicts: fields.conflicts,
      createdAt: new Date(fields.createdAt),
      updatedAt: at,
      revision: sql`${contacts.revision} + 1`,
      ...extra,
    })
    .where(eq(contacts.id, id))
    .returning({ revision: contacts.revision });
  return row!.revision;
}

/** Oldest first: the survivor of a merge unless the caller names one (ties by id). */
export function olderFirst(a: Pick<ContactRow, 'id' | 'createdAt'>, b: Pick<ContactRow, 'id' | 'createdAt'>): number {
  const byTime = a.createdAt.getTime() - b.createdAt.getTime();
  return byTime !== 0 ? byTime : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}
