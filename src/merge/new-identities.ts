/**
 * The batched side of a first sighting for ingest's set-based path: which of a batch's senders
 * nobody on the account has seen (no identity, no alias), and inserting their identities and
 * contacts in one statement. What `resolveIdentity` writes for a first contact, row for row:
 * the identity with its phone (E.164), verification and evidence, and a contact holding the
 * verified facts. A sender whose evidence meets another live contact is left to the per-event
 * path, where `autoMergeIdentity` merges it; evidence is locked first, as `resolveIdentity`
 * locks it, so two first contacts of one person on two accounts still queue up.
 */
import { sql } from 'drizzle-orm';
import type { InboundIdentity } from '../core/adapter.ts';
import type { Tx } from '../core/storage/db.ts';
import { runStatement } from '../core/storage/statement.ts';
import type { IdentityScope, NewIdentity, NewIdentityRow } from '../core/ports/identity-resolver.ts';
import { autoKeys, identityEvidence, lockEvidence, normalizePhone, rowsOf, storedEvidence, type EvidenceKey, type MergePolicy } from './evidence.ts';
import { mergeCandidates } from './known-identities.ts';

/** The identity facts of one sighting in the form identities store them. */
function factsOf(who: InboundIdentity) {
  const phone = who.phone ? (normalizePhone(who.phone, { international: true }) ?? who.phone) : null;
  const phoneVerified = phone !== null && (who.phoneVerified ?? false);
  const evidence = storedEvidence(who.evidence ?? []);
  return { phone, phoneVerified, evidence, keys: identityEvidence({ phone, phoneVerified, evidence }) };
}

const sameFacts = (a: ReturnType<typeof factsOf>, b: ReturnType<typeof factsOf>) =>
  a.phone === b.phone && a.phoneVerified === b.phoneVerified && JSON.stringify(a.evidence) === JSON.stringify(b.evidence);

const NAMED_ON_ACCOUNT = `select external_id from identities where channel = $1 and account = $2
    and external_id = any(array(select jsonb_array_elements_text($3::jsonb)))
  union all
  select alias as external_id from identity_aliases where channel = $1 and account = $2
    and alias = any(array(select jsonb_array_elements_text($3::jsonb)))`;

/** The senders of `who` that are unknown on the account and have nothing to merge with. */
export async function findNewIdentities(tx: Tx, policy: MergePolicy, scope: IdentityScope, who: ReadonlyArray<InboundIdentity>): Promise<Map<string, NewIdentity>> {
  const found = new Map<string, NewIdentity>();
  // A sender whose sightings disagree (a phone, then another) changes its identity as it goes:
  // the per-event path replays that; here only senders whose facts hold still.
  const facts = new Map<string, ReturnType<typeof factsOf> | null>();
  for (const w of who) {
    if (w.aliases && w.aliases.length > 0) {
      facts.set(w.externalId, null);
      continue;
    }
    const mine = factsOf(w);
    const before = facts.get(w.externalId);
    facts.set(w.externalId, before === undefined ? mine : before !== null && sameFacts(before, mine) ? mine : null);
  }
  const ids = [...facts].flatMap(([id, f]) => (f ? [id] : []));
  if (ids.length === 0) return found;
  const named = await runStatement<{ external_id: string }>(tx, NAMED_ON_ACCOUNT, [scope.channel, scope.account, JSON.stringify(ids)]);
  const taken = new Set(named.map((row) => row.external_id));
  const fresh = ids.filter((id) => !taken.has(id));
  const withEvidence = fresh.filter((id) => facts.get(id)!.keys.length > 0);
  let meets = new Set<string>();
  if (withEvidence.length > 0) {
    // Locked before looking, so a concurrent first contact with the same fact is seen or waits.
    const keys: EvidenceKey[] = withEvidence.flatMap((id) => facts.get(id)!.keys);
    const [, candidates] = await Promise.all([
      lockEvidence(tx, keys),
      mergeCandidates(tx, policy, withEvidence.map((id) => ({ id, contactId: '', facts: facts.get(id)!.keys }))),
    ]);
    meets = candidates;
  }
  for (const id of fresh) if (!meets.has(id)) {
    const f = facts.get(id)!;
    found.set(id, { externalId: id, phone: f.phone, mergeKeys: autoKeys(f.keys, policy).map((k) => `${k.type}:${k.value}`) });
  }
  return found;
}

/** Inserts the identities and their contacts; returns the external ids actually inserted. */
export async function createNewIdentities(tx: Tx, scope: IdentityScope, rows: ReadonlyArray<NewIdentityRow>): Promise<Set<string>> {
  if (rows.length === 0) return new Set();
  // In one order on every replica (by platform id): two transactions inserting the same new
  // senders then wait for each other in line instead of deadlocking.
  const ordered = [...rows].sort((a, b) => (a.who.externalId < b.who.externalId ? -1 : a.who.externalId > b.who.externalId ? 1 : 0));
  const input = JSON.stringify(
    ordered.map(({ identityId, contactId, who, at }) => {
      const f = factsOf(who);
      return {
        id: identityId,
        contact_id: contactId,
        external_id: who.externalId,
        display_name: who.displayName ?? null,
        username: who.username ?? null,
        phone: f.phone,
        phone_verified: f.phoneVerified,
        evidence: f.evidence,
        at: at.toISOString(),
        phones: f.keys.filter((k) => k.type === 'phone').map((k) => k.value),
        emails: f.keys.filter((k) => k.type === 'email').map((k) => k.value),
      };
    }),
  );
  // A sender a concurrent transaction created meanwhile loses on the unique key: no identity,
  // and no contact either (only the inserted identities' contacts are written).
  const inserted = rowsOf<{ external_id: string }>(
    await tx.execute(sql`with
      x as (
        select * from jsonb_to_recordset(${input}::jsonb) as x(id text, contact_id text, external_id text, display_name text, username text,
          phone text, phone_verified boolean, evidence jsonb, at timestamptz, phones jsonb, emails jsonb)
      ),
      i as (
        insert into identities (id, channel, account, external_id, contact_id, display_name, username, phone, phone_verified, evidence, first_seen, last_seen, origin_contact_id)
        select x.id, ${scope.channel}, ${scope.account}, x.external_id, x.contact_id, x.display_name, x.username, x.phone, x.phone_verified, x.evidence, x.at, x.at, x.contact_id
        from x
        on conflict do nothing
        returning id, external_id
      ),
      c as (
        insert into contacts (id, display_name, phones, emails, created_at, updated_at)
        select x.contact_id, x.display_name, x.phones, x.emails, x.at, x.at from x join i on i.id = x.id
        returning 1
      )
      select external_id from i`),
  );
  return new Set(inserted.map((row) => row.external_id));
}
