/**
 * Erasing a person's data when the platform asks (WeChat: "开发者收到用户取消关注事件时需要删除该用户的
 * 所有信息" — on unsubscribe, delete all of the user's information). Runs inside the ingest
 * transaction of the event that asked, for ONE identity: other identities of a merged contact
 * keep their data.
 *
 * Kept: a tombstone of its platform ids (core/erasure-tombstones.ts: a keyed hash and the time,
 * nothing personal), so later sends are refused as unreachable and late retries are dropped.
 *
 * Deleted: the identity's messages in both directions (with their status receipts, media rows,
 * send jobs and outbox rows, published or not), its direct conversations and their session
 * windows (and their unpublished events), its aliases and the identity row itself. Re-appearing
 * later (a new follow) therefore creates a fresh identity and contact. Its facts (display name,
 * phones, emails, UnionIDs) are taken off what stays: the contact, the contact it came with,
 * merge log snapshots and evidence, and unpublished contact events — unless another identity of
 * the same contact still carries them. A contact left without identities is deleted with its
 * aliases and merge blocks (every API answers 404 for those ids).
 *
 * One `contact.updated` is announced: the profile without the identity, or — when the contact
 * is gone — a tombstone profile with no identities (docs/contacts.md, "Erasure"). Finding no
 * identity (a redelivered unsubscribe) changes nothing and announces nothing. Media bytes are
 * not touched here: the caller deletes unreferenced keys after commit (core/media/purge.ts).
 */
import { eq, inArray, or, sql, type SQL } from 'drizzle-orm';
import type { InboundIdentity } from '../core/adapter.ts';
import type { Tx } from '../core/storage/db.ts';
import { contacts, identities, identityAliases, mergeBlocks, mergeLog } from '../core/storage/schema.ts';
import { recordTombstones } from '../core/erasure-tombstones.ts';
import { unpublished } from '../core/outbox-progress.ts';
import type { Subjects } from '../core/schemas/subjects.ts';
import type { ContactProfile } from '../core/schemas/events.ts';
import { forgetPhones, identityEvidence, isPlatformId, lockEvidence, normalizePhone, rowsOf, type EvidenceKey } from './evidence.ts';
import { findIdentityRow, type IdentityKey } from './find.ts';
import { announce, loadProfile } from './profile.ts';
import { StaleReadError, fieldsOf, writeFields, type ContactFields, type ContactRow } from './store.ts';
import { sameJson } from './combine.ts';

type IdentityRow = typeof identities.$inferSelect;

/** What one erase removed; counts only, so it can be logged (never the platform id or content). */
export interface EraseResult {
  /** False when no such identity exists (already erased, or never seen): nothing changed. */
  erased: boolean;
  /** The daemon's id of the erased identity (not the platform's). */
  identityId: string | null;
  contactId: string | null;
  /** True when the contact had no other identity and was deleted with its aliases. */
  contactRemoved: boolean;
  counts: { messages: number; media: number; receipts: number; conversations: number; sessionWindows: number; outbox: number; aliases: number };
  /** Storage keys of the deleted media rows; delete the bytes of those no other row names, after commit. */
  mediaKeys: string[];
}

/** Status suffixes of the per-message outbox ids (`<message id><suffix>`, see ingest, outbound, receipts). */
const MESSAGE_EVENT_SUFFIXES = [':in', ':out', ':deadletter', ':deleted', ':status:queued', ':status:sent', ':status:delivered', ':status:read', ':status:failed'];

/** How often a lock on the identity's contact is retried when a merge moved it meanwhile. */
const MAX_ROUNDS = 8;

/**
 * Erases the identity the event names on this account, if there is one. Lock order as
 * everywhere: evidence, then the contact row, then what hangs off it.
 */
export async function eraseIdentity(
  tx: Tx,
  subjects: Subjects,
  scope: { channel: string; account: string },
  who: InboundIdentity,
  at: Date,
): Promise<EraseResult> {
  const result: EraseResult = {
    erased: false,
    identityId: null,
    contactId: null,
    contactRemoved: false,
    counts: { messages: 0, media: 0, receipts: 0, conversations: 0, sessionWindows: 0, outbox: 0, aliases: 0 },
    mediaKeys: [],
  };
  // The tombstone first, whether or not the person is still on file: a send to them is refused
  // as unreachable, and a late retry of what they sent before is not recorded.
  await recordTombstones(tx, scope, [who.externalId, ...(who.aliases ?? [])], at);
  const found = await findTarget(tx, scope, who);
  if (!found) return result;
  await lockEvidence(tx, identityEvidence(found));
  const locked = await lockTarget(tx, found);
  if (!locked) return result;
  const { identity, contact } = locked;
  result.erased = true;
  result.identityId = identity.id;
  result.contactId = contact.id;

  const aliases = await tx.select({ alias: identityAliases.alias }).from(identityAliases).where(eq(identityAliases.identityId, identity.id));
  await recordTombstones(tx, scope, [identity.externalId, ...aliases.map((row) => row.alias)], at);
  await deleteIdentityData(tx, identity, result);

  const remaining = await tx.select().from(identities).where(eq(identities.contactId, contact.id)).orderBy(identities.firstSeen, identities.id);
  const facts = erasedFacts(identity, remaining);
  // The parse cache holds numbers as they came in: the erased person's leave it too.
  forgetPhones([...(identity.phone ? [identity.phone] : []), ...facts.phones]);
  const aliasIds = (await tx.select({ id: contacts.id }).from(contacts).where(eq(contacts.mergedInto, contact.id)).orderBy(contacts.id)).map((row) => row.id);
  const related = [...new Set([contact.id, ...aliasIds, ...(identity.originContactId ? [identity.originContactId] : [])])];
  const removed = new Set<string>();

  if (remaining.length === 0) {
    // No contact with zero identities stays: the contact and every id that resolved to it go.
    for (const id of [contact.id, ...aliasIds]) removed.add(id);
    await tx.delete(contacts).where(inArray(contacts.id, [...removed]));
    await tx.delete(mergeBlocks).where(or(inArray(mergeBlocks.contactA, [...removed]), inArray(mergeBlocks.contactB, [...removed])));
    result.contactRemoved = true;
  } else {
    const replacement = remaining.find((other) => other.displayName !== null)?.displayName ?? null;
    await writeFields(tx, contact.id, scrubFields(fieldsOf(contact), facts, replacement), at);
    // The contact the identity came with, kept as an alias of this one, still holds its fields as they were.
    const origin = identity.originContactId;
    if (origin && origin !== contact.id) {
      const [home] = await tx.select().from(contacts).where(eq(contacts.id, origin));
      if (home && home.mergedInto !== null) {
        const { createdAt: _createdAt, ...scrubbed } = scrubFields(fieldsOf(home), facts, null);
        await tx.update(contacts).set(scrubbed).where(eq(contacts.id, origin));
      }
    }
  }

  await scrubMergeLog(tx, identity.id, related, removed, facts);
  await scrubContactEvents(tx, { channel: identity.channel, account: identity.account, externalId: identity.externalId }, related);

  if (result.contactRemoved) {
    const tombstone: ContactProfile = {
      id: contact.id,
      displayName: null,
      phones: [],
      emails: [],
      identities: [],
      attributes: {},
      // The ids that resolved to it: they are gone too.
      mergedFrom: aliasIds,
      conflicts: [],
      createdAt: contact.createdAt.toISOString(),
      updatedAt: at.toISOString(),
    };
    await announce(tx, subjects, 'updated', tombstone, `${contact.id}:updated:${contact.revision + 1}`, at);
  } else {
    const [row] = await tx.select({ revision: contacts.revision }).from(contacts).where(eq(contacts.id, contact.id));
    await announce(tx, subjects, 'updated', await loadProfile(tx, contact.id, at), `${contact.id}:updated:${row!.revision}`, at);
  }
  return result;
}

/** The identity by its platform id or one of its aliases, without creating anything. */
async function findTarget(tx: Tx, scope: { channel: string; account: string }, who: InboundIdentity): Promise<IdentityRow | undefined> {
  for (const externalId of [who.externalId, ...(who.aliases ?? [])]) {
    if (!externalId) continue;
    const row = await findIdentityRow(tx, { ...scope, externalId });
    if (row) return row;
  }
  return undefined;
}

/**
 * Locks the identity's live contact, then the identity. Under the contact's lock nobody moves
 * the identity; if a merge moved it before we got the lock, the new contact is locked instead.
 * Null when the identity is gone meanwhile (a concurrent redelivery erased it).
 */
async function lockTarget(tx: Tx, found: IdentityRow): Promise<{ identity: IdentityRow; contact: ContactRow } | null> {
  let contactId = found.contactId;
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const [contact] = await tx.select().from(contacts).where(eq(contacts.id, contactId)).for('update');
    const [identity] = await tx.select().from(identities).where(eq(identities.id, found.id)).for('update');
    if (!identity) return null;
    if (contact && contact.mergedInto === null && identity.contactId === contact.id) return { identity, contact };
    contactId = identity.contactId;
  }
  throw new StaleReadError('identity moved between contacts while being erased');
}

/** Deletes everything that hangs off the identity, dependents first; fills in counts and media keys. */
async function deleteIdentityData(tx: Tx, identity: IdentityRow, result: EraseResult): Promise<void> {
  const id = identity.id;
  // Its messages both ways, also any other message in its direct conversations.
  const owned = sql`(select id from messages where identity_id = ${id} union select m.id from messages m join conversations c on c.id = m.conversation_id where c.identity_id = ${id})`;
  const conversationIds = sql`(select id from conversations where identity_id = ${id})`;
  const suffixes = sql.raw(`array[${MESSAGE_EVENT_SUFFIXES.map((suffix) => `'${suffix}'`).join(', ')}]::text[]`);
  const counts = result.counts;

  counts.receipts = await deleted(
    tx,
    sql`delete from status_receipts where message_id in ${owned}
          or (channel, account, external_id) in (select channel, account, external_id from messages where identity_id = ${id} and direction = 'out' and external_id is not null)`,
  );
  const media = rowsOf<{ storage_key: string | null }>(await tx.execute(sql`delete from media where message_id in ${owned} returning storage_key`));
  counts.media = media.length;
  result.mediaKeys = [...new Set(media.flatMap((row) => (row.storage_key ? [row.storage_key] : [])))];
  await tx.execute(sql`delete from send_jobs where message_id in ${owned}`);
  // Every event of those messages (also published ones: the outbox keeps them for replays), and
  // whatever of its conversations is still waiting to be published (session events).
  counts.outbox = await deleted(tx, sql`delete from outbox where msg_id in (select o.id || s.suffix from ${owned} as o cross join unnest(${suffixes}) as s(suffix))`);
  counts.outbox += await deleted(tx, sql`delete from outbox where ${unpublished('outbox')} and ordering_key in ${conversationIds}`);
  // Edits (`<id>:edited:<hash>`, one per edit) of its messages wherever they were written (a
  // group conversation too), while unpublished: they carry the new text.
  counts.outbox += await deleted(
    tx,
    sql`delete from outbox where ${unpublished('outbox')}
          and ordering_key in (select conversation_id from messages where id in ${owned})
          and msg_id like any (select replace(o.id, '_', '\\_') || ':edited:%' from ${owned} as o)`,
  );
  counts.sessionWindows = await deleted(tx, sql`delete from session_windows where conversation_id in ${conversationIds}`);
  counts.messages = await deleted(tx, sql`delete from messages where id in ${owned}`);
  counts.conversations = await deleted(tx, sql`delete from conversations where identity_id = ${id}`);
  counts.aliases = await deleted(tx, sql`delete from identity_aliases where identity_id = ${id}`);
  await tx.delete(identities).where(eq(identities.id, id));
}

async function deleted(tx: Tx, statement: SQL): Promise<number> {
  const rows = rowsOf<{ n: number | string }>(await tx.execute(sql`with gone as (${statement} returning 1) select count(*)::int as n from gone`));
  return Number(rows[0]?.n ?? 0);
}

/** The erased identity's facts that no remaining identity of its contact carries. */
export interface ErasedFacts {
  phones: ReadonlySet<string>;
  emails: ReadonlySet<string>;
  /** Platform ids (declared evidence namespaces), as `namespace NUL value`. */
  platformIds: ReadonlySet<string>;
  /** Its display name, unless a remaining identity has the same one. */
  displayName: string | null;
}

/** What to take off the contact, its snapshots and events. Pure; exported for tests. */
export function erasedFacts(identity: IdentityRow, remaining: ReadonlyArray<IdentityRow>): ErasedFacts {
  const valuesOf = (row: IdentityRow) => {
    const keys = identityEvidence(row);
    // An unverified phone is no evidence, but it is still the person's number.
    const phone = row.phone ? (normalizePhone(row.phone, { international: true }) ?? row.phone) : null;
    return {
      phones: [...keys.filter((k) => k.type === 'phone').map((k) => k.value), ...(phone ? [phone] : [])],
      emails: keys.filter((k) => k.type === 'email').map((k) => k.value),
      platformIds: keys.filter(isPlatformId).map(platformIdKey),
    };
  };
  const mine = valuesOf(identity);
  const kept = remaining.map(valuesOf);
  const notKept = (list: string[], pick: (v: ReturnType<typeof valuesOf>) => string[]) => new Set(list.filter((value) => !kept.some((other) => pick(other).includes(value))));
  const name = identity.displayName;
  return {
    phones: notKept(mine.phones, (v) => v.phones),
    emails: notKept(mine.emails, (v) => v.emails),
    platformIds: notKept(mine.platformIds, (v) => v.platformIds),
    displayName: name !== null && !remaining.some((other) => other.displayName === name) ? name : null,
  };
}

function platformIdKey(key: EvidenceKey): string {
  return `${key.type}\u0000${key.value}`;
}

/**
 * Contact fields without the erased facts: its phones and emails leave, its display name is
 * replaced (by `replacement`), conflicts holding that name are dropped. Pure; exported for tests.
 */
export function scrubFields(fields: ContactFields, facts: ErasedFacts, replacement: string | null): ContactFields {
  const name = facts.displayName;
  return {
    ...fields,
    displayName: name !== null && fields.displayName === name ? replacement : fields.displayName,
    phones: (fields.phones ?? []).filter((phone) => !facts.phones.has(phone)),
    emails: (fields.emails ?? []).filter((email) => !facts.emails.has(email)),
    conflicts: (fields.conflicts ?? []).filter((c) => !(name !== null && c.field === 'displayName' && c.value === name)),
  };
}

/**
 * The merge log keeps ids only for the erased identity: entries whose two contacts are both
 * gone are deleted; elsewhere the erased facts leave the evidence (`{ type }` stays) and the
 * snapshots, and a snapshot of a deleted contact becomes null (nothing can restore it).
 */
async function scrubMergeLog(tx: Tx, identityId: string, related: ReadonlyArray<string>, removed: ReadonlySet<string>, facts: ErasedFacts): Promise<void> {
  const values = [...facts.phones, ...facts.emails, ...[...facts.platformIds].map((key) => key.slice(key.indexOf('\u0000') + 1))];
  const entries = await tx
    .select()
    .from(mergeLog)
    .where(
      or(
        sql`${mergeLog.identityIds} @> ${JSON.stringify([identityId])}::jsonb`,
        inArray(mergeLog.contactId, [...related]),
        inArray(mergeLog.otherId, [...related]),
        ...(values.length > 0 ? [sql`${mergeLog.evidence}->>'value' in (${sql.join(values.map((value) => sql`${value}`), sql`, `)})`] : []),
      ),
    );
  const gone = (type: string, value: string) =>
    (type === 'phone' && facts.phones.has(value)) || (type === 'email' && facts.emails.has(value)) || facts.platformIds.has(platformIdKey({ type, value }));
  for (const entry of entries) {
    if (removed.has(entry.contactId) && removed.has(entry.otherId)) {
      await tx.delete(mergeLog).where(eq(mergeLog.id, entry.id));
      continue;
    }
    const evidence = entry.evidence.value !== undefined && gone(entry.evidence.type, entry.evidence.value) ? { type: entry.evidence.type } : entry.evidence;
    const before: Record<string, unknown> = { ...entry.before };
    for (const [side, contactId] of [['contact', entry.contactId], ['other', entry.otherId]] as const) {
      const snapshot = before[side] as ContactFields | null | undefined;
      if (snapshot === null || snapshot === undefined) continue;
      before[side] = removed.has(contactId) ? null : scrubFields(snapshot, facts, null);
    }
    if (!sameJson(evidence, entry.evidence) || !sameJson(before, entry.before)) {
      await tx.update(mergeLog).set({ evidence, before }).where(eq(mergeLog.id, entry.id));
    }
  }
}

/**
 * Unpublished contact events (ordering key `contacts`, or the contact id for those the ingest
 * writes) that list the identity lose it, so its platform id is not published after the erase.
 */
async function scrubContactEvents(tx: Tx, key: IdentityKey, related: ReadonlyArray<string>): Promise<void> {
  const probe = JSON.stringify({ channel: key.channel, account: key.account, externalId: key.externalId });
  const list = JSON.stringify([JSON.parse(probe)]);
  const keys = sql.join(['contacts', ...related].map((value) => sql`${value}`), sql`, `);
  for (const field of ['contact', 'detached']) {
    const path = `{${field},identities}`;
    await tx.execute(sql`
      update outbox set payload = jsonb_set(payload, ${path}::text[], coalesce(
        (select jsonb_agg(e) from jsonb_array_elements(payload->${field}->'identities') e where not e @> ${probe}::jsonb), '[]'::jsonb))
      where ${unpublished('outbox')} and ordering_key in (${keys}) and payload->${field}->'identities' @> ${list}::jsonb`);
  }
}
