/**
 * Looking contacts up (`GET /v1/contacts?...`, `api.contact.find`): by a channel identity
 * (its platform id or any alias of it), by phone (E.164 after normalisation) or by email.
 * Always answers live contacts; none found is an empty list.
 */
import { and, eq, inArray, sql } from 'drizzle-orm';
import type { Db, Tx } from '../core/storage/db.ts';
import { contacts, identities, identityAliases } from '../core/storage/schema.ts';
import type { ContactProfile } from '../core/schemas/events.ts';
import { apiPhone, normalizeEmail, type MergePolicy } from './evidence.ts';
import { loadProfiles } from './profile.ts';

/** A customer identity: one person on one account of one channel. */
export interface IdentityKey {
  channel: string;
  account: string;
  externalId: string;
}

/** One way to look contacts up. */
export type FindRequest = IdentityKey | { phone: string } | { email: string };

/** The identity row for a key, also when the key is one of its aliases. */
export async function findIdentityRow(db: Db | Tx, key: IdentityKey): Promise<typeof identities.$inferSelect | undefined> {
  const [direct] = await db
    .select()
    .from(identities)
    .where(and(eq(identities.channel, key.channel), eq(identities.account, key.account), eq(identities.externalId, key.externalId)))
    .limit(1);
  if (direct) return direct;
  const [viaAlias] = await db
    .select({ identity: identities })
    .from(identityAliases)
    .innerJoin(identities, eq(identities.id, identityAliases.identityId))
    .where(and(eq(identityAliases.channel, key.channel), eq(identityAliases.account, key.account), eq(identityAliases.alias, key.externalId)))
    .limit(1);
  return viaAlias?.identity;
}

/** Every live contact matching the request, oldest first. */
export async function findContacts(db: Db, policy: MergePolicy, request: FindRequest, now: Date): Promise<ContactProfile[]> {
  let ids: string[];
  if ('externalId' in request) {
    const identity = await findIdentityRow(db, request);
    ids = identity ? [identity.contactId] : [];
  } else if ('phone' in request) {
    const phone = apiPhone(request.phone, policy, 'phone');
    const [onContacts, onIdentities] = await Promise.all([
      db.select({ id: contacts.id }).from(contacts).where(and(sql`${contacts.phones} @> ${JSON.stringify([phone])}::jsonb`, sql`${contacts.mergedInto} is null`)),
      db.select({ id: identities.contactId }).from(identities).where(eq(identities.phone, phone)),
    ]);
    ids = [...onContacts, ...onIdentities].map((row) => row.id);
  } else {
    const email = normalizeEmail(request.email);
    const rows = await db.select({ id: contacts.id }).from(contacts).where(and(sql`${contacts.emails} @> ${JSON.stringify([email])}::jsonb`, sql`${contacts.mergedInto} is null`));
    ids = rows.map((row) => row.id);
  }
  if (ids.length === 0) return [];
  const ordered = await db.select({ id: contacts.id }).from(contacts).where(inArray(contacts.id, [...new Set(ids)])).orderBy(contacts.createdAt, contacts.id);
  return loadProfiles(db, ordered.map((row) => row.id), now);
}
