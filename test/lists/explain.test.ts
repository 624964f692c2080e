/**
 * Every list and search kind reads through an index, never a table scan: the plans PostgreSQL
 * chooses for the exact queries the API runs, on a seeded store of 20,000 contacts. Sequential
 * scans are switched off for the check (`enable_seqscan = off`), which turns "the planner may
 * prefer a scan on this small table" into "a scan is only left when no index can serve the
 * query": the test is about which indexes exist and match, not about timing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { sql, type SQL, type SQLWrapper } from 'drizzle-orm';
import { openDatabase, type Database } from '../../src/core/storage/db.ts';
import { rowsOf } from '../../src/core/storage/lease.ts';
import { contactListStatement, contactPageQuery, listContacts, type SearchWays } from '../../src/merge/contact-list.ts';
import type { MergePolicy } from '../../src/merge/evidence.ts';
import { contactListRequestSchema } from '../../src/core/schemas/api.ts';
import { contactSearchOf, searchQueries, tsqueryOf } from '../../src/merge/contact-search.ts';
import { conversationListStatement, conversationPageQuery } from '../../src/outbound/conversation-list.ts';
import { conversationMessagesQuery } from '../../src/outbound/conversation-messages.ts';
import { createTestDatabase, type TestDatabase } from '../support/services.ts';
import { SEED_NOW, seedContactStore, seeded } from '../support/contact-store.ts';

/** The merge rules of a daemon on its defaults (phone numbers need no default region here). */
const DEFAULT_MERGE_POLICY: MergePolicy = { auto: ['phone', 'wechat_unionid'], defaultRegion: null };

const TABLES = ['contacts', 'identities', 'identity_aliases', 'conversations', 'session_windows', 'messages'];
let created: TestDatabase;
let database: Database;

beforeAll(async () => {
  created = await createTestDatabase();
  database = await openDatabase({ url: created.url, dataDir: '/nonexistent', logger: pino({ level: 'silent' }), poolSize: 2 });
  await database.migrate();
  await seedContactStore(database.db, { contacts: 20_000, messagesPerIdentity: 3 });
}, 120_000);
afterAll(async () => {
  await database?.close();
  await created?.drop();
});

/** The scans of a query's plan: node type, relation and index of each. */
async function scans(query: SQLWrapper): Promise<Array<{ type: string; relation?: string; index?: string }>> {
  return database.db.transaction(async (tx) => {
    await tx.execute(sql`set local enable_seqscan = off`);
    const [row] = rowsOf<{ 'QUERY PLAN': any }>(await tx.execute(sql`explain (format json) ${query}`));
    const out: Array<{ type: string; relation?: string; index?: string }> = [];
    const walk = (node: any) => {
      if (node['Relation Name'] || node['Index Name']) out.push({ type: node['Node Type'], relation: node['Relation Name'], index: node['Index Name'] });
      for (const child of node.Plans ?? []) walk(child);
    };
    walk(row!['QUERY PLAN'][0].Plan);
    return out;
  });
}

/**
 * Asserts no table scan of a store table, and that each index named is used; an entry that is
 * a list is satisfied by any of its indexes (where the planner may fairly pick either way).
 */
async function expectIndexed(query: SQLWrapper, indexes: Array<string | string[]>): Promise<void> {
  const found = await scans(query);
  const tableScans = found.filter((scan) => scan.type === 'Seq Scan' && TABLES.includes(scan.relation ?? ''));
  expect(tableScans, JSON.stringify(found)).toEqual([]);
  const used = found.map((scan) => scan.index);
  for (const index of indexes) {
    const anyOf = Array.isArray(index) ? index : [index];
    expect(anyOf.some((name) => used.includes(name)), `${anyOf.join(' or ')} in ${JSON.stringify(found)}`).toBe(true);
  }
}

const micros = (date: Date) => String(date.getTime() * 1000);

describe('list and search plans', () => {
  it('lists contacts by walking the activity index, also filtered and from a cursor', async () => {
    const cursor = { micros: micros(new Date(SEED_NOW.getTime() - 10_000_000)), identityId: 'idn_seed500' };
    await expectIndexed(contactPageQuery({}, null, 51), ['identities_seen_idx', 'identities_contact_idx']);
    await expectIndexed(contactPageQuery({}, cursor, 51), ['identities_seen_idx']);
    await expectIndexed(contactPageQuery({ account: 'seed-wa' }, cursor, 51), ['identities_account_seen_idx']);
    await expectIndexed(contactPageQuery({ activeSince: new Date(SEED_NOW.getTime() - 3_600_000).toISOString() }, null, 51), ['identities_seen_idx']);
  });

  it('finds names by word prefix through the full-text indexes, and walks for a dense one', async () => {
    const few = tsqueryOf(seeded(123).name)!;
    await expectIndexed(searchQueries.contactNames(few, 2001), ['contacts_name_words_idx']);
    await expectIndexed(searchQueries.identityNames(few, 2001), ['identities_name_words_idx']);
    // The page of a search holds both ways (few matches: sorted from identities_contact_idx;
    // dense: the walk); both must be indexed whichever one a count picks at run time.
    const search = (q: string) => ({ search: contactSearchOf(q, DEFAULT_MERGE_POLICY) });
    await expectIndexed(contactPageQuery(search(seeded(123).name), null, 51), [
      'contacts_name_words_idx',
      'identities_name_words_idx',
      'identities_contact_idx',
      'identities_seen_idx',
      'contacts_pkey',
    ]);
    await expectIndexed(contactPageQuery({ ...search('ke'), account: 'seed-wa' }, null, 51), ['identities_contact_idx', 'identities_account_seen_idx']);
  });

  it('finds phones, emails and platform ids (and former ones) by equality indexes', async () => {
    await expectIndexed(searchQueries.phone(seeded(42).phone), ['identities_phone_idx', 'contacts_phones_idx']);
    await expectIndexed(searchQueries.email(seeded(42).email), ['contacts_emails_idx']);
    await expectIndexed(searchQueries.externalId(seeded(42).externalId), ['identities_external_id_idx', 'identity_aliases_alias_idx']);
  });

  it('lists conversations (open windows first) and a conversation\'s messages by index', async () => {
    const cursor = { asOf: SEED_NOW.getTime(), open: 0 as const, micros: micros(new Date(SEED_NOW.getTime() - 5_000_000)), id: 'cv_seed9' };
    // Open windows: from the windows open now, or walking recent conversations and checking each.
    await expectIndexed(conversationPageQuery({}, 1, SEED_NOW, null, 51), [['session_windows_expires_idx', 'conversations_recent_idx'], 'session_windows_conversation_idx']);
    await expectIndexed(conversationPageQuery({}, 0, SEED_NOW, cursor, 51), ['conversations_recent_idx', 'session_windows_conversation_idx']);
    await expectIndexed(conversationPageQuery({ account: 'seed-tg' }, 0, SEED_NOW, null, 51), ['conversations_account_recent_idx']);
    await expectIndexed(conversationPageQuery({ contactId: 'ct_seed10' }, 0, SEED_NOW, null, 51), ['conversations_identity_idx', 'identities_contact_idx', 'contacts_pkey']);
    const page = conversationMessagesQuery(database.db, 'cv_seed10', { micros: micros(SEED_NOW), id: 'msg_seed10_2' }, 51);
    await expectIndexed(page, ['messages_conversation_time_idx', 'identities_pkey']);
  });

  it('reads a whole page (list items included) in one indexed statement', async () => {
    const cursor = { micros: micros(new Date(SEED_NOW.getTime() - 10_000_000)), identityId: 'idn_seed500' };
    await expectIndexed(contactListStatement({}, cursor, 51), ['identities_seen_idx', 'contacts_pkey', 'identities_contact_idx']);
    await expectIndexed(contactListStatement({ search: contactSearchOf('ke', DEFAULT_MERGE_POLICY) }, null, 51), ['contacts_name_words_idx', 'contacts_pkey']);
    await expectIndexed(contactListStatement({ search: contactSearchOf('ct_seed77', DEFAULT_MERGE_POLICY) }, null, 51), ['contacts_pkey', 'identities_contact_idx']);
    await expectIndexed(conversationListStatement({}, SEED_NOW, null, 51), ['session_windows_conversation_idx', 'conversations_recent_idx', 'contacts_pkey']);
    await expectIndexed(conversationListStatement({ contactId: 'ct_seed10' }, SEED_NOW, null, 51), ['conversations_identity_idx', 'contacts_pkey']);
  });

  it('pages a search the same whichever way it takes: few (sorted), many (walked, hashed) or dense (walked, probed)', async () => {
    for (const q of ['ke', 'kerry fisher', seeded(4321).name, 'alt 1']) {
      const request = contactListRequestSchema.parse({ q, limit: 7 });
      const pagesOf = async (ways: SearchWays) => {
        const out: string[] = [];
        let cursor: string | undefined;
        for (let page = 0; page < 4; page++) {
          const answer = await listContacts(database.db, DEFAULT_MERGE_POLICY, { ...request, ...(cursor ? { cursor } : {}) }, ways);
          out.push(...answer.items.map((item) => `${item.id}@${item.lastActivityAt}`));
          if (!answer.nextCursor) break;
          cursor = answer.nextCursor;
        }
        return out;
      };
      const sorted = await pagesOf({ cap: 100_000, sortedMatches: 100_000 });
      expect(sorted.length, q).toBeGreaterThan(0);
      expect(await pagesOf({ cap: 100_000, sortedMatches: 0 }), q).toEqual(sorted);
      expect(await pagesOf({ cap: 1, sortedMatches: 0 }), q).toEqual(sorted);
    }
  });

  it('reads pages of the right size from the seeded store', async () => {
    const first = rowsOf<{ contact_id: string }>(await database.db.execute(contactPageQuery({}, null, 51) as SQL));
    expect(first).toHaveLength(51);
    expect(new Set(first.map((row) => row.contact_id)).size).toBe(51);
  });
});
