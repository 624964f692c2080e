/**
 * Resolving a platform identity to its row and contact, creating both on first contact.
 * Runs inside the ingest transaction; safe when two webhooks for the same new person race
 * (the unique key decides, the loser reads the winner's row). When the identity brings a fact
 * it did not have (a verified phone, a UnionID), it first takes that fact's advisory lock, so
 * two first contacts of one person on two accounts queue up and the second one finds the first
 * (see auto-merge.ts).
 */
import { and, eq, inArray, sql } from 'drizzle-orm';
import type { InboundIdentity } from '../core/adapter.ts';
import type { Tx } from '../core/storage/db.ts';
import { contacts, identities, identityAliases } from '../core/storage/schema.ts';
import { newId } from '../core/ids.ts';
import { identityEvidence, lockEvidence, normalizePhone, storedEvidence, type EvidenceKey } from './evidence.ts';

/** The identity row an inbound event belongs to. */
export interface ResolvedIdentity {
  identityId: string;
  contactId: string;
  externalId: string;
  displayName: string | null;
  phone: string | null;
  /** True when this call created the contact (publish `contact.created`). */
  contactCreated: boolean;
  /** True when this call created the identity (the platform may be asked what else it knows). */
  identityCreated: boolean;
  /** The identity's strong evidence as stored now (verified phone, UnionID, email). */
  evidence: EvidenceKey[];
}

/** Finds or creates the identity (and on first contact its contact), refreshing what we know. */
export async function resolveIdentity(
  tx: Tx,
  scope: { channel: string; account: string },
  who: InboundIdentity,
  at: Date,
): Promise<ResolvedIdentity> {
  const { channel, account } = scope;
  // Platforms give international numbers; stored in E.164 so equal phones compare equal.
  const phone = who.phone ? (normalizePhone(who.phone, { international: true }) ?? who.phone) : null;
  const verified = phone !== null && (who.phoneVerified ?? false);
  const evidence = storedEvidence(who.evidence ?? []);
  const incoming = identityEvidence({ phone, phoneVerified: verified, evidence });
  let row = await findIdentity(tx, channel, account, who);
  // Only a fact the identity did not have yet can make it meet another contact: lock those.
  const known = row ? identityEvidence(row) : [];
  if (incoming.some((key) => !known.some((k) => k.type === key.type && k.value === key.value))) await lockEvidence(tx, incoming);
  let contactCreated = false;
  if (!row) {
    const contactId = newId('ct', at.getTime());
    const inserted = await tx
      .insert(identities)
      .values({
        id: newId('idn', at.getTime()),
        channel,
        account,
        externalId: who.externalId,
        contactId,
        displayName: who.displayName ?? null,
        username: who.username ?? null,
        phone,
        phoneVerified: verified,
        evidence,
        firstSeen: at,
        lastSeen: at,
        originContactId: contactId,
      })
      .onConflictDoNothing()
      .returning();
    if (inserted[0]) {
      row = inserted[0];
      contactCreated = true;
      await tx.insert(contacts).values({
        id: contactId,
        displayName: who.displayName ?? null,
        phones: incoming.filter((k) => k.type === 'phone').map((k) => k.value),
        emails: incoming.filter((k) => k.type === 'email').map((k) => k.value),
        createdAt: at,
        updatedAt: at,
      });
    } else {
      row = await findIdentity(tx, channel, account, who);
      if (!row) throw new Error('identity vanished during insert');
    }
  } else {
    const [updated] = await tx
      .update(identities)
      .set({
        lastSeen: sql`greatest(${identities.lastSeen}, ${at.toISOString()}::timestamptz)`,
        displayName: who.displayName ?? row.displayName,
        username: who.username ?? row.username,
        phone: phone ?? row.phone,
        phoneVerified: phone !== null ? verified || (row.phoneVerified && phone === row.phone) : row.phoneVerified,
        ...(evidence.length > 0 ? { evidence: mergeEvidence(row.evidence, evidence) } : {}),
      })
      .where(eq(identities.id, row.id))
      .returning();
    if (updated) row = updated;
  }
  const aliases = [who.externalId, ...(who.aliases ?? [])].filter((a) => a && a !== row!.externalId);
  if (aliases.length > 0) {
    await tx
      .insert(identityAliases)
      .values(aliases.map((alias) => ({ channel, account, alias, identityId: row!.id })))
      .onConflictDoNothing();
  }
  return {
    identityId: row.id,
    contactId: row.contactId,
    externalId: row.externalId,
    identityCreated: contactCreated,
    displayName: row.displayName,
    phone: row.phone,
    contactCreated,
    evidence: identityEvidence(row),
  };
}

/** The identity's evidence plus new items, without repeats. */
function mergeEvidence(
  current: ReadonlyArray<{ type: string; value: string }>,
  added: ReadonlyArray<{ type: string; value: string }>,
): Array<{ type: string; value: string }> {
  const out = [...current];
  for (const item of added) if (!out.some((e) => e.type === item.type && e.value === item.value)) out.push({ type: item.type, value: item.value });
  return out;
}

async function findIdentity(tx: Tx, channel: string, account: string, who: InboundIdentity) {
  const [direct] = await tx
    .select()
    .from(identities)
    .where(and(eq(identities.channel, channel), eq(identities.account, account), eq(identities.externalId, who.externalId)))
    .limit(1);
  if (direct) return direct;
  const candidates = [who.externalId, ...(who.aliases ?? [])];
  const [alias] = await tx
    .select({ identityId: identityAliases.identityId })
    .from(identityAliases)
    .where(and(eq(identityAliases.channel, channel), eq(identityAliases.account, account), inArray(identityAliases.alias, candidates)))
    .limit(1);
  if (alias) {
    const [viaAlias] = await tx.select().from(identities).where(eq(identities.id, alias.identityId)).limit(1);
    if (viaAlias) return viaAlias;
  }
  // The identity may be keyed on one of the aliases (first seen by wa_id, now with a BSUID).
  if (who.aliases && who.aliases.length > 0) {
    const [byAliasKey] = await tx
      .select()
      .from(identities)
      .where(and(eq(identities.channel, channel), eq(identities.account, account), inArray(identities.externalId, who.aliases)))
      .limit(1);
    if (byAliasKey) return byAliasKey;
  }
  return undefined;
}

/** Records that a platform id now also names an identity (changed number, new user id). */
export async function addIdentityAlias(
  tx: Tx,
  scope: { channel: string; account: string },
  identityId: string,
  alias: string,
): Promise<void> {
  await tx.insert(identityAliases).values({ ...scope, alias, identityId }).onConflictDoNothing();
}
