/**
 * The batched side of identity resolution for ingest's set-based path: of a batch's senders,
 * which ones are already known and need nothing but their `last_seen` and names refreshed. Two
 * statements for the whole batch: the identities (locked, like the per-event path's update
 * locks them), then one evidence check for those that carry evidence, the same look-ups
 * `findMatches` does per identity (another live contact with the fact, or the own contact
 * lacking it). Anyone with something new goes through `resolveIdentity` and automatic merge.
 */
import type { InboundIdentity } from '../core/adapter.ts';
import type { Tx } from '../core/storage/db.ts';
import { runStatement } from '../core/storage/statement.ts';
import type { IdentityScope, KnownIdentity } from '../core/ports/identity-resolver.ts';
import { autoKeys, identityEvidence, isPlatformId, normalizePhone, storedEvidence, type EvidenceKey, type MergePolicy } from './evidence.ts';

interface Row {
  id: string;
  external_id: string;
  contact_id: string;
  display_name: string | null;
  username: string | null;
  phone: string | null;
  phone_verified: boolean;
  evidence: Array<{ type: string; value: string }>;
}

const sameKey = (a: EvidenceKey, b: EvidenceKey) => a.type === b.type && a.value === b.value;

const KNOWN_IDENTITIES = `select id, external_id, contact_id, display_name, username, phone, phone_verified, evidence from identities
  where channel = $1 and account = $2 and external_id = any(array(select jsonb_array_elements_text($3::jsonb)))
  order by id for update`;

/** The known identities among `who` that this sighting brings nothing new about, locked. */
export async function resolveKnownIdentities(tx: Tx, policy: MergePolicy, scope: IdentityScope, who: ReadonlyArray<InboundIdentity>): Promise<Map<string, KnownIdentity>> {
  const found = new Map<string, KnownIdentity>();
  const plain = who.filter((w) => !w.aliases || w.aliases.length === 0);
  if (plain.length === 0) return found;
  const ids = JSON.stringify([...new Set(plain.map((w) => w.externalId))]);
  const rows = await runStatement<Row>(tx, KNOWN_IDENTITIES, [scope.channel, scope.account, ids]);
  const byExternal = new Map(rows.map((row) => [row.external_id, row]));
  // Every sighting of the batch must bring nothing new, or the identity takes the full path.
  const fresh = new Set<string>();
  for (const w of plain) {
    const row = byExternal.get(w.externalId);
    if (row && !bringsNothingNew(row, w)) fresh.add(row.id);
  }
  const checks: MergeCheck[] = [];
  const unchanged = new Set<string>();
  for (const row of byExternal.values()) {
    if (fresh.has(row.id)) continue;
    unchanged.add(row.id);
    const facts = identityEvidence({ phone: row.phone, phoneVerified: row.phone_verified, evidence: row.evidence });
    if (facts.length > 0) checks.push({ id: row.id, contactId: row.contact_id, facts });
  }
  const needsMerge = await mergeCandidates(tx, policy, checks);
  for (const row of byExternal.values()) {
    if (!unchanged.has(row.id) || needsMerge.has(row.id)) continue;
    found.set(row.external_id, { identityId: row.id, contactId: row.contact_id, externalId: row.external_id, displayName: row.display_name, username: row.username, phone: row.phone });
  }
  return found;
}

/** True when resolving `who` would change nothing but `last_seen`, names and username. */
function bringsNothingNew(row: Row, who: InboundIdentity): boolean {
  const phone = who.phone ? (normalizePhone(who.phone, { international: true }) ?? who.phone) : null;
  if (phone !== null && phone !== row.phone) return false;
  const verified = phone !== null && (who.phoneVerified ?? false);
  if (verified && !row.phone_verified) return false;
  // Compared in the form identities store (a platform id under its namespace's name).
  const evidence = storedEvidence(who.evidence ?? []);
  if (!evidence.every((item) => row.evidence.some((e) => e.type === item.type && e.value === item.value))) return false;
  const known = identityEvidence({ phone: row.phone, phoneVerified: row.phone_verified, evidence: row.evidence });
  return identityEvidence({ phone, phoneVerified: verified, evidence }).every((key) => known.some((k) => sameKey(k, key)));
}

/** An identity's facts to check against the other live contacts; `contactId` '' for one not created yet. */
export interface MergeCheck {
  id: string;
  contactId: string;
  facts: EvidenceKey[];
}

/**
 * The `id`s of `checks` whose contact would merge or take a fact (what `autoMergeIdentity` acts
 * on). A check with `contactId` '' (a first sighting) has no own contact to lack a fact: only
 * another live contact sharing an automatic fact makes it a candidate.
 */
export async function mergeCandidates(tx: Tx, policy: MergePolicy, checks: ReadonlyArray<MergeCheck>): Promise<Set<string>> {
  if (checks.length === 0) return new Set();
  const input = JSON.stringify(
    checks.map(({ id, contactId, facts }) => {
      const auto = autoKeys(facts, policy);
      const of = (keys: EvidenceKey[], type: string) => keys.filter((k) => k.type === type).map((k) => k.value);
      return {
        id,
        contact_id: contactId,
        phones: of(facts, 'phone'),
        emails: of(facts, 'email'),
        auto_phones: of(auto, 'phone'),
        auto_emails: of(auto, 'email'),
        auto_platform_ids: auto.filter(isPlatformId).map((key) => [{ type: key.type, value: key.value }]),
      };
    }),
  );
  // Each fact is one probe of a GIN or btree index. On a small table (most installs, for a
  // long while) the planner prefers to scan every live contact per fact, because it prices a
  // jsonb containment test like an integer compare: measured 0.2-0.5 ms per sender at 600
  // contacts, against 0.03 ms through the indexes. Sequential scans are priced out for this one
  // statement (pipelined: no extra round trip), and restored for the rest of the transaction;
  // "merged into nothing" is spelled with coalesce so that the index on `merged_into` (every
  // live contact) is no way in either, which leaves the GIN indexes on the facts.
  const [, rows] = await Promise.all([
    runStatement(tx, 'set local enable_seqscan = off', []),
    runStatement<{ id: string }>(tx, MERGE_CANDIDATES, [input]),
    runStatement(tx, 'set local enable_seqscan to default', []),
  ]);
  return new Set(rows.map((row) => row.id));
}

const MERGE_CANDIDATES = `select f.id from jsonb_to_recordset($1::jsonb)
    as f(id text, contact_id text, phones jsonb, emails jsonb, auto_phones jsonb, auto_emails jsonb, auto_platform_ids jsonb)
  where exists (select 1 from contacts c where c.id = f.contact_id and not (c.phones @> f.phones and c.emails @> f.emails))
    or exists (select 1 from jsonb_array_elements(f.auto_phones) p(v) join contacts c on c.phones @> jsonb_build_array(p.v) and coalesce(c.merged_into, '') = '' and c.id <> f.contact_id)
    or exists (select 1 from jsonb_array_elements_text(f.auto_phones) p(v) join identities i on i.phone = p.v and i.phone_verified and i.contact_id <> f.contact_id)
    or exists (select 1 from jsonb_array_elements(f.auto_emails) e(v) join contacts c on c.emails @> jsonb_build_array(e.v) and coalesce(c.merged_into, '') = '' and c.id <> f.contact_id)
    or exists (select 1 from jsonb_array_elements(f.auto_platform_ids) u(v) join identities i on i.evidence @> u.v and i.contact_id <> f.contact_id)`;
