/**
 * `PATCH /v1/contacts/{id}` / `api.contact.update`: set the name, phones, emails and
 * attributes. Phones are stored in E.164 and, like emails, count as evidence set through the
 * API, so an update may trigger an automatic merge (`merge.auto`).
 */
import { eq } from 'drizzle-orm';
import type { Db } from '../core/storage/db.ts';
import { identities } from '../core/storage/schema.ts';
import type { ContactProfile } from '../core/schemas/events.ts';
import { apiPhone, autoKeys, identityEvidence, lockEvidence, normalizeEmail, type EvidenceKey, type MergePolicy } from './evidence.ts';
import { findMatches, mergeOnEvidence } from './auto-merge.ts';
import type { MergeContext } from './merge.ts';
import { announce, loadProfile } from './profile.ts';
import { fieldsOf, lockLive, requireContactId, writeFields, type ContactFields } from './store.ts';
import { inTransaction } from './retry.ts';
import { sameJson, setKey, union } from './combine.ts';

/** The fields an update may set; undefined leaves a field as it is. */
export interface ContactUpdate {
  id: string;
  displayName?: string | null | undefined;
  phones?: string[] | undefined;
  emails?: string[] | undefined;
  attributes?: Record<string, unknown> | undefined;
}

/** Applies an update; returns the profile of the contact as it is afterwards (the survivor, if it merged). */
export async function updateContact(db: Db, ctx: MergeContext & { policy: MergePolicy }, update: ContactUpdate): Promise<ContactProfile> {
  const phones = update.phones?.map((phone, index) => apiPhone(phone, ctx.policy, `phones.${index}`));
  const emails = update.emails?.map(normalizeEmail);
  const keys: EvidenceKey[] = [
    ...(phones ?? []).map((value) => ({ type: 'phone' as const, value })),
    ...(emails ?? []).map((value) => ({ type: 'email' as const, value })),
  ];
  return inTransaction(db, async (tx) => {
    const at = ctx.now();
    const id = await requireContactId(tx, update.id);
    // Evidence locks first, contact locks second: the order every path takes.
    await lockEvidence(tx, keys);
    const row = (await lockLive(tx, [id])).get(id)!;
    const before = fieldsOf(row);
    const owned = await tx.select().from(identities).where(eq(identities.contactId, id));
    // Phones a platform verified stay on the contact whatever the list says.
    const platformPhones = owned.flatMap((identity) => identityEvidence(identity).filter((k) => k.type === 'phone').map((k) => k.value));
    const next: ContactFields = {
      ...before,
      displayName: update.displayName === undefined ? before.displayName : update.displayName,
      phones: phones === undefined ? before.phones : union(phones, platformPhones),
      emails: emails === undefined ? before.emails : [...new Set(emails)],
      attributes: update.attributes === undefined ? before.attributes : mergePatch(before.attributes, update.attributes),
    };
    if (sameJson(next, before)) return loadProfile(tx, id, at);
    const revision = await writeFields(tx, id, next, at);
    await announce(tx, ctx.subjects, 'updated', await loadProfile(tx, id, at), `${id}:updated:${revision}`, at);
    const { candidates } = await findMatches(tx, autoKeys(keys, ctx.policy), id);
    const { survivorId } = candidates.size > 0 ? await mergeOnEvidence(tx, ctx, id, candidates, 'update') : { survivorId: id };
    return loadProfile(tx, survivorId, at);
  });
}

/** RFC 7396 JSON merge patch: objects merge key by key, null removes, anything else replaces. */
export function mergePatch(target: Record<string, unknown>, patch: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...target };
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else if (isPlainObject(value)) setKey(out, key, mergePatch(Object.hasOwn(out, key) && isPlainObject(out[key]) ? out[key] : {}, value));
    else setKey(out, key, value);
  }
  return out;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
