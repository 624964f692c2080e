/**
 * The 360° profile (docs/api.md, `omni.contact/v1`): a live contact with every
 * identity, when each was first and last seen, and whether its service window is open now.
 * Also the `contact.*` outbox rows, written in the caller's transaction so an event exists
 * exactly when the change it announces committed.
 */
import { asc, inArray, sql } from 'drizzle-orm';
import type { Db, Tx } from '../core/storage/db.ts';
import { contacts, identities, outbox, sessionWindows } from '../core/storage/schema.ts';
import type { ContactEvent, ContactProfile } from '../core/schemas/events.ts';
import type { Subjects } from '../core/schemas/subjects.ts';
import { OmniError } from '../core/errors.ts';
import type { ContactRow } from './store.ts';

/** An identity row with the end of its latest window. */
type IdentityWithSession = typeof identities.$inferSelect & { sessionExpiresAt: Date | null };

/** Profiles of live contacts, in the order asked; ids that are not live contacts are skipped. */
export async function loadProfiles(db: Db | Tx, ids: ReadonlyArray<string>, now: Date): Promise<ContactProfile[]> {
  if (ids.length === 0) return [];
  const unique = [...new Set(ids)];
  const rows = await db.select().from(contacts).where(inArray(contacts.id, unique));
  const live = rows.filter((row) => row.mergedInto === null);
  if (live.length === 0) return [];
  const liveIds = live.map((row) => row.id);
  const [idRows, aliasRows] = await Promise.all([
    db
      .select({
        identity: identities,
        // Direct conversations only: a group's windows are not this person's.
        sessionExpiresAt: sql<Date | null>`(select max(sw.expires_at) from conversations cv join session_windows sw on sw.conversation_id = cv.id where cv.identity_id = identities.id)`.mapWith(sessionWindows.expiresAt),
      })
      .from(identities)
      .where(inArray(identities.contactId, liveIds))
      .orderBy(asc(identities.firstSeen), asc(identities.id)),
    db.select({ id: contacts.id, mergedInto: contacts.mergedInto }).from(contacts).where(inArray(contacts.mergedInto, liveIds)).orderBy(asc(contacts.id)),
  ]);
  const byContact = new Map<string, IdentityWithSession[]>();
  for (const { identity, sessionExpiresAt } of idRows) {
    const list = byContact.get(identity.contactId) ?? [];
    list.push({ ...identity, sessionExpiresAt });
    byContact.set(identity.contactId, list);
  }
  const aliases = new Map<string, string[]>();
  for (const alias of aliasRows) aliases.set(alias.mergedInto!, [...(aliases.get(alias.mergedInto!) ?? []), alias.id]);
  const byId = new Map(live.map((row) => [row.id, toProfile(row, byContact.get(row.id) ?? [], aliases.get(row.id) ?? [], now)]));
  return unique.flatMap((id) => (byId.has(id) ? [byId.get(id)!] : []));
}

/** The profile of one live contact; `unknown_contact` when there is none. */
export async function loadProfile(db: Db | Tx, id: string, now: Date): Promise<ContactProfile> {
  const [profile] = await loadProfiles(db, [id], now);
  if (!profile) throw new OmniError('unknown_contact', 'no such contact', { details: { id } });
  return profile;
}

function toProfile(row: ContactRow, ids: IdentityWithSession[], mergedFrom: string[], now: Date): ContactProfile {
  return {
    id: row.id,
    displayName: row.displayName,
    phones: row.phones,
    emails: row.emails,
    identities: ids.map((identity) => ({
      channel: identity.channel,
      account: identity.account,
      externalId: identity.externalId,
      displayName: identity.displayName,
      ...(identity.username ? { username: identity.username } : {}),
      ...(identity.phone ? { phone: identity.phone } : {}),
      firstSeen: identity.firstSeen.toISOString(),
      lastSeen: identity.lastSeen.toISOString(),
      sessionOpen: identity.sessionExpiresAt !== null && identity.sessionExpiresAt.getTime() > now.getTime(),
      sessionExpiresAt: identity.sessionExpiresAt?.toISOString() ?? null,
    })),
    attributes: row.attributes,
    mergedFrom,
    conflicts: row.conflicts,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

/** What one `contact.*` event says beside the profile. */
export type ContactEventExtras = Omit<ContactEvent, 'schema' | 'event' | 'contact'>;

/**
 * Writes one `omni.contact/v1` outbox row. `msgId` must be derived from the change (a log
 * id, a revision) so a retried transaction or a second replica never announces it twice.
 */
export async function announce(
  tx: Tx,
  subjects: Subjects,
  event: ContactEvent['event'],
  contact: ContactProfile,
  msgId: string,
  at: Date,
  extras: ContactEventExtras = {},
): Promise<void> {
  const payload: ContactEvent = { schema: 'omni.contact/v1', event, contact, ...extras };
  await tx.insert(outbox).values({
    subject: subjects.evt.contact(event),
    msgId,
    payload,
    // One ordering key for every contact event: a merge names contacts created just before it.
    orderingKey: 'contacts',
    createdAt: at,
  });
}
