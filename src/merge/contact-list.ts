/**
 * Listing and searching contacts (`GET /v1/contacts`, `api.contact.list`): newest activity
 * first, cursor paging. A contact's activity is the latest `last_seen` of its identities,
 * which ingest already keeps: nothing extra is written per message. A page walks
 * `identities_seen_idx` (or `identities_account_seen_idx`) backwards and keeps each contact's
 * top identity only (a NOT EXISTS on `identities_contact_idx`), so a page costs the same at a
 * hundred or a million contacts.
 *
 * A page is one statement, search and list items included: one round trip, one plan. For
 * `q` (see contact-search.ts), the name matches are read first from the name indexes (each
 * side up to {@link SEARCH_CANDIDATE_CAP} + 1), which picks one of three ways:
 * - few ({@link SORTED_MATCHES}): each match's top identity is read from
 *   `identities_contact_idx` and the page sorted from those;
 * - many: the walk above, checking each identity against the matches collected once (a hash);
 * - dense (over the cap on a side, a common name prefix): the walk above, probing each
 *   contact's names as it goes, so the collected matches are not needed.
 * All give the same order, so a client never sees the difference; the ways not taken are never
 * executed (one-time filters).
 */
import { sql, type SQL } from 'drizzle-orm';
import type { Db } from '../core/storage/db.ts';
import { OmniError } from '../core/errors.ts';
import type { ContactListRequest, ContactSummary } from '../core/schemas/api.ts';
import { rowsOf, type MergePolicy } from './evidence.ts';
import { contactSearchOf, nameMatches, searchQueries, type ContactSearch } from './contact-search.ts';

/**
 * Above this many name matches on either side (contacts' names, identities' names), matches
 * are dense: the page walks the activity index and probes each contact's names as it goes.
 */
export const SEARCH_CANDIDATE_CAP = 2000;

/**
 * Up to this many name matches (both sides), each match's top identity is read and the page
 * sorted from those. Above it the walk of the activity index is cheaper: it checks each
 * identity against the matches collected once (a hash), and meets a page of them after about
 * `page size × identities / matches` rows, which no longer grows with the matches' count.
 */
export const SORTED_MATCHES = 1000;

/** Where a search changes ways (tests set them to force each way). */
export interface SearchWays {
  cap: number;
  sortedMatches: number;
}

/**
 * The most rows a page reads (the API's largest limit + 1). The parts of a page are limited
 * by this constant and the page by the request's: a generic plan (postgres.js prepares every
 * statement) then still knows each part is small, instead of guessing a tenth of the table.
 */
const MAX_PAGE_ROWS = 201;

/** A position in a contact list: just after (older than) this identity's activity. */
export interface ContactCursor {
  /** last_seen in microseconds since the epoch (PostgreSQL keeps microseconds, a JS Date does not). */
  micros: string;
  identityId: string;
}

/** What the page filters on besides the cursor. */
export interface ContactPageFilter {
  channel?: string | undefined;
  account?: string | undefined;
  activeSince?: string | undefined;
  /** The lookups of `q`. */
  search?: ContactSearch | undefined;
  /** See {@link SEARCH_CANDIDATE_CAP} and {@link SORTED_MATCHES}. */
  ways?: SearchWays | undefined;
}

interface PageRow {
  identity_id: string;
  contact_id: string;
  micros: string;
  last_seen: string;
  display_name: string | null;
  phones: string[] | null;
  emails: string[] | null;
  /** Null for a contact no longer there (erased between the walk and the join: same statement, so never in practice). */
  live: boolean | null;
  identities: ContactSummary['identities'] | null;
}

const ISO = sql.raw(`'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'`);

/** One page of contacts; `cursor` is a `nextCursor` from an earlier page. */
export async function listContacts(
  db: Db,
  policy: MergePolicy,
  request: ContactListRequest,
  ways: SearchWays = { cap: SEARCH_CANDIDATE_CAP, sortedMatches: SORTED_MATCHES },
): Promise<{ items: ContactSummary[]; nextCursor: string | null }> {
  const cursor = request.cursor === undefined ? null : decodeContactCursor(request.cursor);
  const filter: ContactPageFilter = { channel: request.channel, account: request.account, activeSince: request.activeSince, ways };
  if (request.q !== undefined) filter.search = contactSearchOf(request.q, policy);
  const rows = rowsOf<PageRow>(await db.execute(contactListStatement(filter, cursor, request.limit + 1)));
  const page = rows.slice(0, request.limit);
  const items = page.flatMap((row): ContactSummary[] =>
    // Merged away or gone: identities point at live contacts, so only a broken row lands here.
    row.live
      ? [
          {
            id: row.contact_id,
            displayName: row.display_name,
            phones: row.phones ?? [],
            emails: row.emails ?? [],
            lastActivityAt: row.last_seen,
            identities: row.identities ?? [],
          },
        ]
      : [],
  );
  const last = page[page.length - 1];
  return { items, nextCursor: rows.length > page.length && last ? encodeContactCursor({ micros: last.micros, identityId: last.identity_id }) : null };
}

/**
 * A whole page: the page rows ({@link contactPageQuery}) with each contact's fields and its
 * identities, latest seen first, in page order.
 */
export function contactListStatement(filter: ContactPageFilter, cursor: ContactCursor | null, take: number): SQL {
  const { ctes, page } = pageParts(filter, cursor, take);
  return sql`
    with ${ctes}page as (${page})
    select p.identity_id, p.contact_id,
           (extract(epoch from p.seen) * 1000000)::bigint::text as micros,
           to_char(p.seen at time zone 'UTC', ${ISO}) as last_seen,
           c.display_name, c.phones, c.emails, c.merged_into is null as live,
           (select json_agg(json_build_object(
                     'id', k.id, 'channel', k.channel, 'account', k.account, 'externalId', k.external_id,
                     'displayName', k.display_name, 'lastSeenAt', to_char(k.last_seen at time zone 'UTC', ${ISO}))
                   order by k.last_seen desc, k.id desc)
            from identities k where k.contact_id = p.contact_id) as identities
    from page p left join contacts c on c.id = p.contact_id
    order by p.seen desc, p.identity_id desc`;
}

/**
 * The page rows alone (`identity_id`, `contact_id`, `seen`): identities newest `last_seen`
 * first, each the top one of its contact among those the filter admits. Exported for the
 * EXPLAIN test.
 */
export function contactPageQuery(filter: ContactPageFilter, cursor: ContactCursor | null, take: number): SQL {
  const { ctes, page } = pageParts(filter, cursor, take);
  return sql`with ${ctes}page as (${page}) select * from page`;
}

/** The CTEs (ending in a comma, or empty) and the page select of {@link contactPageQuery}. */
function pageParts(filter: ContactPageFilter, cursor: ContactCursor | null, take: number): { ctes: SQL; page: SQL } {
  const { search } = filter;
  if (!search) return { ctes: sql``, page: walk(filter, cursor, sql``, take) };
  const exact = sql`exact as materialized (${search.exact}),`;
  if (search.nameQuery === null) {
    return { ctes: exact, page: sql`${sorted(filter, cursor, sql`select contact_id from exact`)} limit ${take}` };
  }
  const { cap, sortedMatches } = filter.ways ?? { cap: SEARCH_CANDIDATE_CAP, sortedMatches: SORTED_MATCHES };
  const q = search.nameQuery;
  const matches = sql`select contact_id from exact union select contact_id from by_name`;
  // `is true` keeps the IN a hashed subplan (built once, probed per row) instead of a join the
  // planner may turn into the sorted way.
  const inMatches = sql`and (i.contact_id in (${matches})) is true`;
  const orExact = sql`and (${nameMatches('i', q)} or i.contact_id = any(array(select contact_id from exact)))`;
  const way = (name: string) => sql`(select way from way) = ${sql.raw(`'${name}'`)}`;
  return {
    // Each side is read once (up to cap + 1 matches): its count picks the way, its ids feed it.
    ctes: sql`${exact}
      contact_names as materialized (${searchQueries.contactNames(q, cap + 1)}),
      identity_names as materialized (${searchQueries.identityNames(q, cap + 1)}),
      way as materialized (
        select case when c > ${cap} or k > ${cap} then 'dense' when c + k <= ${sortedMatches} then 'few' else 'many' end as way
        from (select (select count(*) from contact_names) as c, (select count(*) from identity_names) as k) n),
      by_name as materialized (select contact_id from contact_names union select contact_id from identity_names),`,
    // Append reads its parts in order and the limit stops it; a part whose way is not taken is
    // never executed (a one-time filter).
    page: sql`
      select * from (${sorted(filter, cursor, matches)} limit ${MAX_PAGE_ROWS}) few where ${way('few')}
      union all
      select * from (${walk(filter, cursor, inMatches, MAX_PAGE_ROWS)}) many where ${way('many')}
      union all
      select * from (${walk(filter, cursor, orExact, MAX_PAGE_ROWS)}) dense where ${way('dense')}
      limit ${take}`,
  };
}

/** `channel` / `account` conditions on identities `alias`. */
function scope(filter: ContactPageFilter, alias: string): SQL {
  const parts: SQL[] = [];
  if (filter.channel !== undefined) parts.push(sql`and ${sql.raw(alias)}.channel = ${filter.channel}`);
  if (filter.account !== undefined) parts.push(sql`and ${sql.raw(alias)}.account = ${filter.account}`);
  return sql.join(parts, sql` `);
}

/** Cursor and `activeSince` conditions on a page row `alias` (its `last_seen`, `id`). */
function position(filter: ContactPageFilter, cursor: ContactCursor | null, alias: string): SQL {
  const a = sql.raw(alias);
  const parts: SQL[] = [];
  if (cursor) {
    parts.push(sql`and (${a}.last_seen, ${a}.id) < (timestamptz 'epoch' + ${cursor.micros}::bigint * interval '1 microsecond', ${cursor.identityId})`);
  }
  if (filter.activeSince !== undefined) parts.push(sql`and ${a}.last_seen >= ${filter.activeSince}::timestamptz`);
  return sql.join(parts, sql` `);
}

/**
 * Few matches: each contact of `contactIds` (a statement of `contact_id`s) with its top
 * identity in scope (a backward probe of `identities_contact_idx`), newest first.
 */
function sorted(filter: ContactPageFilter, cursor: ContactCursor | null, contactIds: SQL): SQL {
  return sql`
    select t.id as identity_id, t.contact_id, t.last_seen as seen
    from (${contactIds}) m
    cross join lateral (
      select i.id, i.contact_id, i.last_seen from identities i
      where i.contact_id = m.contact_id ${scope(filter, 'i')}
      order by i.last_seen desc, i.id desc limit 1) t
    where true ${position(filter, cursor, 't')}
    order by t.last_seen desc, t.id desc`;
}

/** The walk of the activity index, keeping each contact's top identity in scope that passes `matching`. */
function walk(filter: ContactPageFilter, cursor: ContactCursor | null, matching: SQL, take: number): SQL {
  return sql`
    select i.id as identity_id, i.contact_id, i.last_seen as seen
    from identities i
    where true ${scope(filter, 'i')} ${position(filter, cursor, 'i')} ${matching}
      and not exists (
        select 1 from identities j
        where j.contact_id = i.contact_id ${scope(filter, 'j')} and (j.last_seen, j.id) > (i.last_seen, i.id))
    order by i.last_seen desc, i.id desc
    limit ${take}`;
}

/** The opaque `nextCursor` of a contact list. */
export function encodeContactCursor(cursor: ContactCursor): string {
  return Buffer.from(`c1.${cursor.micros}.${cursor.identityId}`).toString('base64url');
}

/** Reads a contact list `nextCursor`; anything else is `invalid_request`. */
export function decodeContactCursor(text: string): ContactCursor {
  const match = /^c1\.(-?\d{1,20})\.(idn_\S{1,200})$/.exec(Buffer.from(text, 'base64url').toString());
  if (!match) throw new OmniError('invalid_request', 'cursor is not a cursor this API returned', { details: { field: 'cursor' } });
  return { micros: match[1]!, identityId: match[2]! };
}
