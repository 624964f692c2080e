/**
 * Merge suggestions (`GET /v1/contacts/{id}/suggestions`): other contacts that may be the
 * same person on signals too weak to merge without a human — a phone from an unverified
 * source, an email or a platform id (a UnionID) when that kind is not in `merge.auto`, the same name. Pairs a
 * human split apart with an unmerge are not suggested again.
 */
import { and, eq, ne, sql } from 'drizzle-orm';
import type { Db } from '../core/storage/db.ts';
import { contacts, identities } from '../core/storage/schema.ts';
import type { ContactProfile } from '../core/schemas/events.ts';
import { identityEvidence, isPlatformId, type MergePolicy } from './evidence.ts';
import { loadProfile, loadProfiles } from './profile.ts';
import { requireContactId } from './store.ts';
import { blockedBetween } from './blocks.ts';

/** Why a contact is suggested. */
export interface SuggestionReason {
  /** `phone`, `email`, `name`, or the namespace of a shared platform id. */
  type: string;
  value: string;
  verified: boolean;
}

/** A possible duplicate. */
export interface Suggestion {
  contact: ContactProfile;
  reasons: SuggestionReason[];
  score: number;
}

const MAX_SUGGESTIONS = 20;
// A shared platform id (any declared namespace) weighs 3.
const WEIGHT: Readonly<Record<string, number>> = { phone: 2, email: 2, name: 1 };
const PLATFORM_ID_WEIGHT = 3;

/** Possible duplicates of a contact, most likely first. */
export async function suggestionsFor(db: Db, policy: MergePolicy, id: string, now: Date): Promise<Suggestion[]> {
  const contactId = await requireContactId(db, id);
  const me = await loadProfile(db, contactId, now);
  const owned = await db.select().from(identities).where(eq(identities.contactId, contactId));
  const reasons = new Map<string, SuggestionReason[]>();
  const add = (other: string, reason: SuggestionReason) => {
    if (other === contactId) return;
    const list = reasons.get(other) ?? [];
    if (!list.some((r) => r.type === reason.type && r.value === reason.value)) list.push(reason);
    reasons.set(other, list);
  };

  const verifiedPhones = new Set(me.phones);
  const phones = new Set([...me.phones, ...owned.flatMap((identity) => (identity.phone ? [identity.phone] : []))]);
  for (const phone of phones) {
    const mine = verifiedPhones.has(phone);
    const onContacts = await db.select({ id: contacts.id }).from(contacts).where(and(sql`${contacts.phones} @> ${JSON.stringify([phone])}::jsonb`, sql`${contacts.mergedInto} is null`, ne(contacts.id, contactId)));
    for (const row of onContacts) {
      // Both sides verified and phone in merge.auto: that is a merge, not a suggestion (unless a human split them).
      if (!(mine && policy.auto.includes('phone'))) add(row.id, { type: 'phone', value: phone, verified: mine });
    }
    const onIdentities = await db
      .select({ id: identities.contactId, verified: identities.phoneVerified })
      .from(identities)
      .where(and(eq(identities.phone, phone), ne(identities.contactId, contactId)));
    for (const row of onIdentities) {
      const both = mine && row.verified;
      if (!(both && policy.auto.includes('phone'))) add(row.id, { type: 'phone', value: phone, verified: both });
    }
  }
  if (!policy.auto.includes('email')) {
    for (const email of me.emails) {
      const rows = await db.select({ id: contacts.id }).from(contacts).where(and(sql`${contacts.emails} @> ${JSON.stringify([email])}::jsonb`, sql`${contacts.mergedInto} is null`));
      for (const row of rows) add(row.id, { type: 'email', value: email, verified: false });
    }
  }
  // A platform id whose namespace is not in merge.auto: the same id on another contact is a strong hint.
  for (const key of owned.flatMap((identity) => identityEvidence(identity).filter((k) => isPlatformId(k) && !policy.auto.includes(k.type)))) {
    const evidence = JSON.stringify([{ type: key.type, value: key.value }]);
    const rows = await db.select({ id: identities.contactId }).from(identities).where(sql`${identities.evidence} @> ${evidence}::jsonb`);
    for (const row of rows) add(row.id, { type: key.type, value: key.value, verified: true });
  }
  if (me.displayName) {
    const rows = await db
      .select({ id: contacts.id })
      .from(contacts)
      .where(and(sql`lower(${contacts.displayName}) = lower(${me.displayName})`, sql`${contacts.mergedInto} is null`))
      .limit(MAX_SUGGESTIONS + 1);
    for (const row of rows) add(row.id, { type: 'name', value: me.displayName, verified: false });
  }

  const blocked = await blockedBetween(db, [contactId, ...reasons.keys()]);
  const ranked = [...reasons.entries()]
    .filter(([other]) => !blocked(contactId, other))
    .map(([other, list]) => ({ other, list, score: list.reduce((sum, r) => sum + (WEIGHT[r.type] ?? PLATFORM_ID_WEIGHT) + (r.verified ? 1 : 0), 0) }))
    .sort((a, b) => b.score - a.score || (a.other < b.other ? -1 : 1))
    .slice(0, MAX_SUGGESTIONS);
  const profiles = new Map((await loadProfiles(db, ranked.map((r) => r.other), now)).map((p) => [p.id, p]));
  return ranked.flatMap((r) => (profiles.has(r.other) ? [{ contact: profiles.get(r.other)!, reasons: r.list, score: r.score }] : []));
}
