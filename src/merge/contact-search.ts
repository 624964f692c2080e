/**
 * What `q` of a contact list matches, each kind through its own index: names by any word's
 * prefix (a GIN full-text index with the `simple` configuration, built into PostgreSQL and
 * PGlite alike: no extension), phones in E.164 (`identities_phone_idx`, `contacts_phones_idx`),
 * emails (`contacts_emails_idx`), platform ids on any account (`identities_external_id_idx`,
 * `identity_aliases_alias_idx`) and contact ids (merged-away ids name their survivor).
 *
 * Nothing here runs a query: it builds the parts of the one statement a contact list page is
 * (contact-list.ts), so a search costs one round trip and the matches never leave the server.
 */
import { sql, type SQL } from 'drizzle-orm';
import { normalizeEmail, normalizePhone, type MergePolicy } from './evidence.ts';

/** What a page filters by for `q`. */
export interface ContactSearch {
  /** The contacts found by exact keys: one statement of `contact_id`s (platform id, phone, email, contact id). */
  exact: SQL;
  /** The tsquery of the name words (null when `q` has no word). */
  nameQuery: string | null;
}

/** Merge chains are short (each merge adds one hop); this bounds a walk of a broken one. */
const MAX_SURVIVOR_HOPS = 32;

/** The match conditions, each a statement of `contact_id`s; exported for the EXPLAIN test. */
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
  /** The live end of the merge chain from `id` (itself when live), by primary key. */
  contactId: (id: string): SQL => sql`
    select s.id as contact_id from (
      with recursive chain(id, merged_into, depth) as (
        select id, merged_into, 0 from contacts where id = ${id}
        union all
        select c.id, c.merged_into, chain.depth + 1 from contacts c join chain on c.id = chain.merged_into where chain.depth < ${MAX_SURVIVOR_HOPS}
      )
      select id, merged_into from chain order by depth desc limit 1
    ) s where s.merged_into is null`,
};

/** What `q` is looked up as. */
export function contactSearchOf(q: string, policy: MergePolicy): ContactSearch {
  const text = q.trim();
  const exact: SQL[] = [searchQueries.externalId(text)];
  for (const phone of phonesOf(text, policy)) exact.push(searchQueries.phone(phone));
  if (text.includes('@')) exact.push(searchQueries.email(normalizeEmail(text)));
  if (/^ct_\S+$/.test(text) && text.length <= 200) exact.push(searchQueries.contactId(text));
  return { exact: sql.join(exact, sql` union `), nameQuery: tsqueryOf(text) };
}

/**
 * The condition "the contact of identity `alias` matches the name query": the identity's own
 * name (already read: free), the contact's name, or any of its other identities' names. What
 * the walk of a dense search filters by.
 */
export function nameMatches(alias: string, tsquery: string): SQL {
  const owner = sql.raw(`${alias}.contact_id`);
  // `offset 0` keeps each EXISTS a per-row probe by primary key / contact index: without it the
  // planner turns them into hashed subplans that collect every match first (13,000 rows for
  // a one-letter prefix on 100,000 contacts), which is what this walk exists to avoid.
  return sql`(${nameVector(alias)} @@ to_tsquery('simple', ${tsquery})
    or exists (select 1 from contacts nc where nc.id = ${owner} and ${nameVector('nc')} @@ to_tsquery('simple', ${tsquery}) offset 0)
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
