/**
 * Listing and searching contacts (`GET /v1/contacts`, `api.contact.list`): newest activity
 * first, cursor paging. A contact's activity is the latest `last_seen` of its identities,
 * which ingest already keeps: nothing extra is written per message. A page walks
 * `identities_seen_idx` (or `identities_account_seen_idx`) backwards and keeps each contact's
 * top identity only (a NOT EXISTS on `identities_contact_idx`), so a page costs the same at a
 * hundred or a million contacts.
 *
 * `q` is looked up by index first (see contact-search.ts). A few matches (at most
 * {@link SEARCH_CANDIDATE_CAP}) are paged from their identities; more (a common name prefix)
 * means matches are dense, so the walk above filters by the same condition and stops early.
 * Both ways give the same order, so a client never sees the difference.
 */
import { inArray, sql, type SQL } from 'drizzle-orm';
import type { Db } from '../core/storage/db.ts';
import { contacts, identities } from '../core/storage/schema.ts';
import { OmniError } from '../core/errors.ts';
import type { ContactListRequest, ContactSummary } from '../core/schemas/api.ts';
import { rowsOf, type MergePolicy } from './evidence.ts';
import { searchContacts, nameMatches, type SearchMatches } from './contact-search.ts';

/** Above this many contacts matching `q`, the page walks the activity index instead. */
export const SEARCH_CANDIDATE_CAP = 2000;

/** A position in a contact list: just after (older than) this identity's activity. */
export interface ContactCursor {
  /** last_seen in microseconds since the epoch (PostgreSQL keeps microseconds, a JS Date does not). */
  micros: string;
  identityId: string;
}

/** What the page query filters on besides the cursor. */
export interface ContactPageFilter {
  channel?: string | undefined;
  account?: string | undefined;
  activeSince?: string | undefined;
  /** Only these contacts (the matches of `q`, when few). */
  contactIds?: ReadonlyArray<string> | undefined;
  /** Walking with a dense `q`: contacts matching this tsquery by name, or in `orContactIds`. */
  nameQuery?: string | undefined;
  orContactIds?: ReadonlyArray<string> | undefined;
}

interface PageRow {
  identity_id: string;
  contact_id: string;
  micros: string;
  last_seen: string;
}

const ISO = sql.raw(`'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'`);
const asJson = (ids: ReadonlyArray<string>) => JSON.stringify(ids);

/** One page of contacts; `cursor` is a `nextCursor` from an earlier page. `cap`: see {@link SEARCH_CANDIDATE_CAP}. */
export async function listContacts(
  db: Db,
  policy: MergePolicy,
  request: ContactListRequest,
  cap: number = SEARCH_CANDIDATE_CAP,
): Promise<{ items: ContactSummary[]; nextCursor: string | null }> {
  const cursor = request.cursor === undefined ? null : decodeContactCursor(request.cursor);
  const filter: ContactPageFilter = { channel: request.channel, account: request.account, activeSince: request.activeSince };
  if (request.q !== undefined) {
    const matches = await searchContacts(db, policy, request.q, cap);
    if (!matches.dense && matches.contactIds.length === 0) return { items: [], nextCursor: null };
    Object.assign(filter, pageFilterOf(matches));
  }
  const rows = rowsOf<PageRow>(await db.execute(contactPageQuery(filter, cursor, request.limit + 1)));
  const page = rows.slice(0, request.limit);
  const items = await summaries(db, page);
  const last = page[page.length - 1];
  return { items, nextCursor: rows.length > page.length && last ? encodeContactCursor({ micros: last.micros, identityId: last.identity_id }) : null };
}

function pageFilterOf(matches: SearchMatches): Partial<ContactPageFilter> {
  return matches.dense ? { nameQuery: matches.nameQuery!, orContactIds: matches.contactIds } : { contactIds: matches.contactIds };
}

/**
 * The page query: identities newest `last_seen` first, each the top one of its contact among
 * those the filter admits. Exported for the EXPLAIN test and the bench.
 */
export function contactPageQuery(filter: ContactPageFilter, cursor: ContactCursor | null, take: number): SQL {
  const scope = (alias: string): SQL => {
    const parts: SQL[] = [];
    if (filter.channel !== undefined) parts.push(sql`and ${sql.raw(alias)}.channel = ${filter.channel}`);
    if (filter.account !== undefined) parts.push(sql`and ${sql.raw(alias)}.account = ${filter.account}`);
    return sql.join(parts, sql` `);
  };
  const conditions: SQL[] = [];
  if (cursor) {
    conditions.push(sql`and (i.last_seen, i.id) < (timestamptz 'epoch' + ${cursor.micros}::bigint * interval '1 microsecond', ${cursor.identityId})`);
  }
  if (filter.activeSince !== undefined) conditions.push(sql`and i.last_seen >= ${filter.activeSince}::timestamptz`);
  if (filter.contactIds !== undefined) {
    conditions.push(sql`and i.contact_id = any(array(select jsonb_array_elements_text(${asJson(filter.contactIds)}::jsonb)))`);
  }
  if (filter.nameQuery !== undefined) {
    const others = filter.orContactIds?.length ? sql`or i.contact_id = any(array(select jsonb_array_elements_text(${asJson(filter.orContactIds)}::jsonb)))` : sql``;
    conditions.push(sql`and (${nameMatches('i', filter.nameQuery)} ${others})`);
  }
  return sql`
    select i.id as identity_id, i.contact_id,
           (extract(epoch from i.last_seen) * 1000000)::bigint::text as micros,
           to_char(i.last_seen at time zone 'UTC', ${ISO}) as last_seen
    from identities i
    where true ${scope('i')} ${sql.join(conditions, sql` `)}
      and not exists (
        select 1 from identities j
        where j.contact_id = i.contact_id ${scope('j')} and (j.last_seen, j.id) > (i.last_seen, i.id))
    order by i.last_seen desc, i.id desc
    limit ${take}`;
}

/** The list items of a page, in page order. */
async function summaries(db: Db, page: ReadonlyArray<PageRow>): Promise<ContactSummary[]> {
  if (page.length === 0) return [];
  const ids = page.map((row) => row.contact_id);
  const [contactRows, identityRows] = await Promise.all([
    db.select().from(contacts).where(inArray(contacts.id, ids)),
    db.select().from(identities).where(inArray(identities.contactId, ids)),
  ]);
  const byId = new Map(contactRows.map((row) => [row.id, row]));
  const owned = new Map<string, Array<typeof identities.$inferSelect>>();
  for (const identity of identityRows) owned.set(identity.contactId, [...(owned.get(identity.contactId) ?? []), identity]);
  return page.flatMap((row) => {
    const contact = byId.get(row.contact_id);
    // Merged away between the two reads: the survivor shows up on a later read.
    if (!contact || contact.mergedInto !== null) return [];
    const held = (owned.get(row.contact_id) ?? []).sort((a, b) => b.lastSeen.getTime() - a.lastSeen.getTime() || (a.id < b.id ? 1 : -1));
    return [
      {
        id: contact.id,
        displayName: contact.displayName,
        phones: contact.phones,
        emails: contact.emails,
        lastActivityAt: row.last_seen,
        identities: held.map((identity) => ({
          id: identity.id,
          channel: identity.channel,
          account: identity.account,
          externalId: identity.externalId,
          displayName: identity.displayName,
          lastSeenAt: identity.lastSeen.toISOString(),
        })),
      },
    ];
  });
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
