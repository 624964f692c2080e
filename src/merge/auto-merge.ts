/**
 * Automatic merge on evidence (`merge.auto`, docs/contacts.md): when a contact carries a
 * verified phone, a platform id of a declared namespace (a UnionID) or (if enabled) an email
 * that another live contact also carries, the two are merged, the older surviving. Runs inside the ingest transaction right
 * after the identity is resolved, and inside a PATCH. The evidence advisory locks taken
 * before (see evidence.ts) make the look-up and the merge atomic per person: of two first
 * messages arriving at once on two accounts, the second waits and then finds the first.
 */
import { eq, inArray, sql, type SQL } from 'drizzle-orm';
import type { Db, Tx } from '../core/storage/db.ts';
import type { InboundIdentity } from '../core/adapter.ts';
import { contacts } from '../core/storage/schema.ts';
import type { Subjects } from '../core/schemas/subjects.ts';
import { resolveIdentity, type ResolvedIdentity } from './identities.ts';
import { inTransaction } from './retry.ts';
import { autoKeys, isPlatformId, rowsOf, type EvidenceKey, type MergePolicy } from './evidence.ts';
import { blockedBetween } from './blocks.ts';
import { mergeLocked, type MergeContext } from './merge.ts';
import { announce, loadProfile } from './profile.ts';
import { fieldsOf, olderFirst, writeFields, type ContactRow } from './store.ts';
import { union } from './combine.ts';

/**
 * The ingest hook: gives the identity's contact its verified phone/email if it lacks them,
 * merges it with every live contact sharing evidence in `merge.auto`, and returns the
 * identity with its contact as it is now (the survivor). When the contact was created in this
 * transaction and then merged, its `contact.created` event is written here, before the merge,
 * and `contactCreated` comes back false so the caller does not announce it again.
 */
export async function autoMergeIdentity(
  tx: Tx,
  subjects: Subjects,
  policy: MergePolicy,
  resolved: ResolvedIdentity,
  at: Date,
): Promise<ResolvedIdentity> {
  // Every verified fact belongs on the contact; only those in merge.auto may merge it.
  const facts = resolved.evidence;
  if (facts.length === 0) return resolved;
  const { candidates, lacking } = await findMatches(tx, autoKeys(facts, policy), resolved.contactId, facts);
  if (candidates.size === 0 && !lacking) return resolved;
  const ctx: MergeContext = { subjects, now: () => at };
  let created = resolved.contactCreated;
  let changed = false;
  const outcome = await mergeOnEvidence(tx, ctx, resolved.contactId, candidates, 'inbound', async (own) => {
    if (lacks(own, facts)) {
      const fields = fieldsOf(own);
      const phones = facts.filter((k) => k.type === 'phone').map((k) => k.value);
      const emails = facts.filter((k) => k.type === 'email').map((k) => k.value);
      await writeFields(tx, own.id, { ...fields, phones: union(fields.phones, phones), emails: union(fields.emails, emails) }, at);
      changed = true;
    }
    // The created event must precede the merged event that names this contact.
    if (created && candidates.size > 0) {
      await announce(tx, subjects, 'created', await loadProfile(tx, own.id, at), `${own.id}:created`, at);
      created = false;
    }
  });
  if (changed && outcome.merges === 0 && !resolved.contactCreated) {
    const [row] = await tx.select({ revision: contacts.revision }).from(contacts).where(eq(contacts.id, outcome.survivorId));
    await announce(tx, subjects, 'updated', await loadProfile(tx, outcome.survivorId, at), `${outcome.survivorId}:updated:${row!.revision}`, at);
  }
  return { ...resolved, contactId: outcome.survivorId, contactCreated: created };
}

/**
 * Records what a platform look-up learned about a person outside a webhook (a WeChat UnionID
 * from the user-info API) and merges on it, in a transaction of its own. For callers outside
 * the ingest path; announces the contact if the identity was new.
 */
export async function learnIdentity(
  db: Db,
  subjects: Subjects,
  policy: MergePolicy,
  scope: { channel: string; account: string },
  who: InboundIdentity,
  at: Date,
): Promise<ResolvedIdentity> {
  return inTransaction(db, async (tx) => {
    const resolved = await autoMergeIdentity(tx, subjects, policy, await resolveIdentity(tx, scope, who, at), at);
    if (resolved.contactCreated) await announce(tx, subjects, 'created', await loadProfile(tx, resolved.contactId, at), `${resolved.contactId}:created`, at);
    return { ...resolved, contactCreated: false };
  });
}

/**
 * In one statement: the live contacts other than `contactId` sharing one of `keys` (each with
 * the key it shares), and whether `contactId` lacks one of `facts` (verified phones and emails
 * live on the contact). Reads without locks; the caller locks and re-checks.
 */
export async function findMatches(
  tx: Tx,
  keys: ReadonlyArray<EvidenceKey>,
  contactId: string,
  facts: ReadonlyArray<EvidenceKey> = [],
): Promise<{ candidates: Map<string, EvidenceKey>; lacking: boolean }> {
  const parts: SQL[] = [];
  keys.forEach((key, index) => {
    const list = JSON.stringify([key.value]);
    if (key.type === 'phone' || key.type === 'email') {
      const column = key.type === 'phone' ? sql`phones` : sql`emails`;
      parts.push(sql`select ${index}::int as k, id from contacts where ${column} @> ${list}::jsonb and merged_into is null and id <> ${contactId}`);
    }
    if (key.type === 'phone') {
      parts.push(sql`select ${index}::int as k, contact_id as id from identities where phone = ${key.value} and phone_verified and contact_id <> ${contactId}`);
    }
    if (isPlatformId(key)) {
      const evidence = JSON.stringify([{ type: key.type, value: key.value }]);
      parts.push(sql`select ${index}::int as k, contact_id as id from identities where evidence @> ${evidence}::jsonb and contact_id <> ${contactId}`);
    }
  });
  const phones = JSON.stringify(facts.filter((k) => k.type === 'phone').map((k) => k.value));
  const emails = JSON.stringify(facts.filter((k) => k.type === 'email').map((k) => k.value));
  parts.push(sql`select -1 as k, id from contacts where id = ${contactId} and not (phones @> ${phones}::jsonb and emails @> ${emails}::jsonb)`);
  const rows = rowsOf<{ k: number | string; id: string }>(await tx.execute(sql.join(parts, sql` union all `)));
  const candidates = new Map<string, EvidenceKey>();
  let lacking = false;
  for (const row of rows) {
    if (Number(row.k) === -1) lacking = true;
    else if (!candidates.has(row.id)) candidates.set(row.id, keys[Number(row.k)]!);
  }
  return { candidates, lacking };
}

/**
 * Locks `contactId` and the candidates (id order), drops candidates a human split from the
 * group, and merges the rest into the oldest. `prepare` runs once the locks are held, before
 * any merge. Returns the survivor's id and how many contacts were merged into it.
 */
export async function mergeOnEvidence(
  tx: Tx,
  ctx: MergeContext,
  contactId: string,
  candidates: ReadonlyMap<string, EvidenceKey>,
  via: 'inbound' | 'update',
  prepare: (own: ContactRow) => Promise<void> = async () => {},
): Promise<{ survivorId: string; merges: number }> {
  const rows = await lockFollowing(tx, [contactId, ...candidates.keys()]);
  const own = rows.get(contactId)!;
  await prepare(own);
  // Candidates seen through an alias are keyed by the contact they resolve to now.
  const evidenceOf = new Map<string, EvidenceKey>();
  for (const [id, key] of candidates) {
    const live = rows.get(id)!;
    if (live.id !== own.id && !evidenceOf.has(live.id)) evidenceOf.set(live.id, key);
  }
  if (evidenceOf.size === 0) return { survivorId: own.id, merges: 0 };
  const blocked = await blockedBetween(tx, [own.id, ...evidenceOf.keys()]);
  const group: ContactRow[] = [own];
  const others = [...evidenceOf.keys()].map((id) => [...rows.values()].find((row) => row.id === id)!).sort(olderFirst);
  for (const other of others) if (!group.some((member) => blocked(member.id, other.id))) group.push(other);
  if (group.length === 1) return { survivorId: own.id, merges: 0 };
  group.sort(olderFirst);
  const survivorId = group[0]!.id;
  for (const member of group.slice(1)) {
    // Re-read: each merge changes the survivor's fields.
    const [survivor] = await tx.select().from(contacts).where(eq(contacts.id, survivorId));
    const [merged] = await tx.select().from(contacts).where(eq(contacts.id, member.id));
    const evidence = evidenceOf.get(member.id) ?? evidenceOf.get(survivorId)!;
    await mergeLocked(tx, ctx, survivor!, merged!, { actor: 'auto', via, evidence: { type: evidence.type, value: evidence.value } });
  }
  return { survivorId, merges: group.length - 1 };
}

/**
 * Locks contacts in id order and, when one was merged away meanwhile, its survivor too, until
 * every id maps to a locked live row. (A late survivor may be locked out of order; PostgreSQL
 * breaks the rare deadlock that can cause and the transaction is retried by its caller.)
 */
async function lockFollowing(tx: Tx, ids: ReadonlyArray<string>): Promise<Map<string, ContactRow>> {
  const result = new Map<string, ContactRow>();
  let pending = [...new Set(ids)];
  const locked = new Map<string, ContactRow>();
  for (let round = 0; pending.length > 0 && round < 8; round++) {
    const rows = await tx.select().from(contacts).where(inArray(contacts.id, pending)).orderBy(contacts.id).for('update');
    for (const row of rows) locked.set(row.id, row);
    const next: string[] = [];
    for (const id of ids) {
      if (result.has(id)) continue;
      let row = locked.get(id);
      while (row && row.mergedInto !== null && locked.has(row.mergedInto)) row = locked.get(row.mergedInto);
      if (row && row.mergedInto === null) result.set(id, row);
      else if (row) next.push(row.mergedInto!);
    }
    pending = [...new Set(next)];
  }
  for (const id of ids) if (!result.has(id)) throw new Error(`contact ${id} could not be resolved to a live contact`);
  return result;
}

/** True when the contact lacks one of the verified phones or emails (they live on the contact). */
function lacks(contact: ContactRow, facts: ReadonlyArray<EvidenceKey>): boolean {
  return facts.some((k) => (k.type === 'phone' && !contact.phones.includes(k.value)) || (k.type === 'email' && !contact.emails.includes(k.value)));
}
