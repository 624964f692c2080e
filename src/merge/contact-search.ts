/**
 * What `q` of a contact list matches, each kind through its own index: names by any word's
 * prefix (a GIN full-text index with the `simple` configuration, built into PostgreSQL and
 * PGlite alike: no extension), phones in E.164 (`identities_phone_idx`, `contacts_phones_idx`),
 * emails (`contacts_emails_idx`), platform ids on any account (`identities_external_id_idx`,
 * `identity_aliases_alias_idx`) and contact ids (merged-away ids name their survivor).
 */
import { sql, type SQL } from 'drizzle-orm';
import type { Db } from '../core/storage/db.ts';
import { normalizeEmail, normalizePhone, rowsOf, type MergePolicy } from './evidence.ts';
import { resolveContactId } from './store.ts';

/** The contacts `q` matches. */
export interface SearchMatches {
  /** The contacts found by exact keys, and by name while there were few. */
  contactIds: string[];
  /** More than the cap matched by name: the page filters by `nameQuery` as it walks. */
  dense: boolean;
  /** The tsquery of the name words (null when `q` has no word). */
  nameQuery: string | null;
}

/** The match conditions, exported for the EXPLAIN test. */
export const searchQueries = {
  /** Live contacts whose name has words starting with the query's words. */
  contactNames: (tsquery: string, take: number): SQL => sql`
    select c.id as contact_id from contacts c
    where c.merged_into is null and ${nameVector('c')} @@ to_tsquery('simple', ${tsquery})
    limit ${take}`,
  /** Identities whose own name matches (a Telegram name beside the contact's WhatsApp one). */
  identityNames: (tsquery: string, take: number): SQL => sql`
    select k.contact_id from identities k where ${nameVector('k')} @@ to_tsquery('simple', ${tsquery}) limit ${take}`,
  phone: (phone: string): SQL => sql`
    select contact_id from identities where phone = ${phone}
    union select id from contacts where merged_into is null and phones @> ${JSON.stringify([phone])}::jsonb`,
  email: (email: string): SQL => sql`
    select id as contact_id from contacts where merged_into is null and emails @> ${JSON.stringify([email])}::jsonb`,
  externalId: (externalId: string): SQL => sql`
    select contact_id from identities where external_id = ${externalId}
    union select i.contact_id from identity_aliases a join identities i on i.id = a.identity_id where a.alias = ${externalId}`,
};

/** Finds what `q` matches; `cap` bounds the name matches read (more: `dense`). */
export async function searchContacts(db: Db, policy: MergePolicy, q: string, cap: number): Promise<SearchMatches> {
  const text = q.trim();
  const exact: SQL[] = [searchQueries.externalId(text)];
  for (const phone of phonesOf(text, policy)) exact.push(searchQueries.phone(phone));
  if (text.includes('@')) exact.push(searchQueries.email(normalizeEmail(text)));
  const nameQuery = tsqueryOf(text);
  const named = nameQuery === null ? [] : [searchQueries.contactNames(nameQuery, cap + 1), searchQueries.identityNames(nameQuery, cap + 1)];
  // Every lookup at once (the pool has connections to spare): a page waits for the slowest only.
  const contactIdLike = /^ct_\S+$/.test(text) && text.length <= 200 ? resolveContactId(db, text) : Promise.resolve(null);
  const [survivor, exactRows, namedRows] = await Promise.all([
    contactIdLike,
    Promise.all(exact.map(async (query) => rowsOf<{ contact_id: string }>(await db.execute(query)))),
    Promise.all(named.map(async (query) => rowsOf<{ contact_id: string }>(await db.execute(query)))),
  ]);
  const ids = new Set<string>(exactRows.flat().map((row) => row.contact_id));
  if (survivor) ids.add(survivor);
  const byName = new Set(namedRows.flat().map((row) => row.contact_id));
  if (byName.size > cap) return { contactIds: [...ids], dense: true, nameQuery };
  for (const id of byName) ids.add(id);
  return { contactIds: [...ids], dense: false, nameQuery };
}

/**
 * The condition "the contact of identity `alias` matches the name query", on the contact's
 * name or any of its identities' names: what the walk of a dense search filters by.
 */
export function nameMatches(alias: string, tsquery: string): SQL {
  const owner = sql.raw(`${alias}.contact_id`);
  // `offset 0` keeps each EXISTS a per-row probe by primary key / contact index: without it the
  // planner turns them into hashed subplans that collect every match first (13,000 rows for
  // a one-letter prefix on 100,000 contacts), which is what this walk exists to avoid.
  return sql`(exists (select 1 from contacts nc where nc.id = ${owner} and ${nameVector('nc')} @@ to_tsquery('simple', ${tsquery}) offset 0)
    or exists (select 1 from identities nk where nk.contact_id = ${owner} and ${nameVector('nk')} @@ to_tsquery('simple', ${tsquery}) offset 0))`;
}

/** The indexed expression of `contacts_name_words_idx` / `identities_name_words_idx`, exactly. */
function nameVector(alias: string): SQL {
  return sql.raw(`to_tsvector('simple', coalesce(${alias}.display_name, ''))`);
}

/**
 * The words of `q` as a prefix tsquery (`kerry smi` → `kerry:* & smi:*`), or null when it has
 * none. Only letters and digits pass, so no text reaches tsquery syntax; at most 8 words.
 */
export function tsqueryOf(q: string): string | null {
  const words = q.toLowerCase().match(/[\p{L}\p{N}]+/gu);
  if (!words) return null;
  return words
    .slice(0, 8)
    .map((word) => `${word}:*`)
    .join(' & ');
}

/** `q` read as a phone number (E.164), with and without the configured default region. */
function phonesOf(q: string, policy: MergePolicy): string[] {
  if (!/^\+?[\d\s().-]+$/.test(q) || q.replace(/\D/g, '').length < 5) return [];
  const found = new Set<string>();
  for (const phone of [normalizePhone(q, { region: policy.defaultRegion }), normalizePhone(q, { international: true })]) {
    if (phone !== null) found.add(phone);
  }
  return [...found];
}
