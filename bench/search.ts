/**
 * Lists and search (issue 13): a page of `GET /v1/contacts` for each search kind, the
 * conversation list and a conversation's messages, on a store of 100,000 contacts (110,000
 * identities and conversations) and 1,100,000 messages, timed as p50 / p99 of sequential calls
 * of the same functions the API runs (the HTTP/NATS envelope adds well under a millisecond).
 * The target is a search page p99 under 50 ms; `bench/run.ts` prints the table, and
 * test/lists/explain.test.ts proves the plans use indexes (this file only measures).
 *
 * `runSearchBench({ databaseUrl })` returns summary rows (metric, omnibus, baseline, ratio) for
 * bench/run.ts: each kind's p50 / p99, beside the round trip of `select 1` on the same pool in
 * the same run (the floor, which shows how loaded the box was). Run alone: `tsx bench/search.ts`
 * starts its own PostgreSQL.
 */
import { pathToFileURL } from 'node:url';
import { pino } from 'pino';
import { sql } from 'drizzle-orm';
import { openDatabase, type Db } from '../src/core/storage/db.ts';
import { rowsOf } from '../src/core/storage/lease.ts';
import type { MergePolicy } from '../src/merge/evidence.ts';
import { listContacts, encodeContactCursor } from '../src/merge/contact-list.ts';
import { listConversations } from '../src/outbound/conversation-list.ts';
import { conversationMessages, encodeMessageCursor } from '../src/outbound/conversation-messages.ts';
import type { OutboundDeps } from '../src/outbound/deps.ts';
import { contactListRequestSchema, conversationListRequestSchema, conversationMessagesRequestSchema } from '../src/core/schemas/api.ts';
import { SEED_NOW, seedContactStore, seeded } from '../test/support/contact-store.ts';
import { num, ratio, type Cell } from './report.ts';

/** The merge rules of a daemon on its defaults (phone numbers need no default region here). */
const DEFAULT_MERGE_POLICY: MergePolicy = { auto: ['phone', 'wechat_unionid'], defaultRegion: null };

/** Sizes; the defaults are the issue's 100,000 contacts and 1,000,000+ messages. */
export interface SearchBenchOptions {
  databaseUrl: string;
  contacts?: number;
  messagesPerIdentity?: number;
  /** Pages timed per kind. */
  pages?: number;
}

const SILENT = pino({ level: 'warn' }, pino.destination(2));
const say = (message: string) => process.stderr.write(`bench: search: ${message}\n`);

/** Fills the database, times each kind of page, and returns the summary rows. */
export async function runSearchBench(options: SearchBenchOptions): Promise<Cell[][]> {
  const count = options.contacts ?? 100_000;
  const perIdentity = options.messagesPerIdentity ?? 10;
  const pages = options.pages ?? 200;
  const database = await openDatabase({ url: options.databaseUrl, dataDir: '/nonexistent', logger: SILENT });
  try {
    await database.migrate();
    const db = database.db;
    say(`storing ${num(count)} contacts and ${num(Math.round(count * 1.1 * perIdentity))} messages`);
    const fillStart = performance.now();
    await seedContactStore(db, { contacts: count, messagesPerIdentity: perIdentity });
    say(`stored in ${num((performance.now() - fillStart) / 1000, 1)} s`);

    const pick = (i: number) => seeded(1 + ((i * 104_729) % count));
    const contacts = (request: Record<string, unknown>) => listContacts(db, DEFAULT_MERGE_POLICY, contactListRequestSchema.parse(request));
    const deep = await deepContactCursor(db, Math.floor(count / 2));
    const deps = { db, clock: { now: () => SEED_NOW }, accounts: { get: () => undefined, all: () => [] } } as unknown as OutboundDeps;
    const kinds: Array<[string, (i: number) => Promise<{ items: unknown[] }>, string]> = [
      ['contacts, no query, first page', () => contacts({}), ''],
      [`contacts, no query, page ${num(count / 2 / 50)} deep (cursor)`, () => contacts({ cursor: deep }), ''],
      ['contacts, account filter', () => contacts({ account: 'seed-tg' }), ''],
      ['contacts, activeSince (last hour)', () => contacts({ activeSince: new Date(SEED_NOW.getTime() - 3_600_000).toISOString() }), ''],
      ['search: full name', (i) => contacts({ q: pick(i).name }), `~${num(count / 2500)} matches`],
      ['search: name prefix, 2 letters', (i) => contacts({ q: pick(i).name.slice(0, 2) }), '1,000s of matches'],
      ['search: name prefix, 1 letter', (i) => contacts({ q: pick(i).name.slice(0, 1) }), 'dense: walks the activity index'],
      ['search: phone (+1 631 ... notation)', (i) => contacts({ q: pick(i).phone.replace(/^\+1631/, '+1 631 ') }), ''],
      ['search: email', (i) => contacts({ q: seeded(3 * (1 + (i % Math.floor(count / 3)))).email }), ''],
      ['search: platform id', (i) => contacts({ q: pick(i).externalId }), ''],
      ['search: former platform id (alias)', (i) => contacts({ q: `bsuid.${2 * (1 + (i % Math.floor(count / 2)))}` }), ''],
      ['search: no match', (i) => contacts({ q: `zz${i}qq` }), ''],
      ['conversations, all, first page', () => listConversations(deps, conversationListRequestSchema.parse({})), 'open first'],
      ['conversations of a contact', (i) => listConversations(deps, conversationListRequestSchema.parse({ contactId: `ct_seed${10 * (1 + (i % Math.floor(count / 10)))}` })), '2 identities'],
      ['messages of a conversation, first page', (i) => conversationMessages(deps, conversationMessagesRequestSchema.parse({ conversationId: `cv_seed${1 + (i % count)}` })), `${perIdentity} stored`],
      [
        'messages, cursor page',
        (i) =>
          conversationMessages(
            deps,
            conversationMessagesRequestSchema.parse({ conversationId: `cv_seed${1 + (i % count)}`, limit: 3, before: encodeMessageCursor({ micros: String((SEED_NOW.getTime() + 1) * 1000), id: 'msg_z' }) }),
          ),
        '',
      ],
    ];
    const floor = await time(pages, async () => {
      await db.execute(sql`select 1`);
      return { items: [1] };
    });
    const floorText = `${num(p(floor.ms, 0.5), 2)} / ${num(p(floor.ms, 0.99), 2)} (select 1)`;
    const rows: Cell[][] = [];
    let worstSearchP99 = 0;
    for (const [index, [label, work, note]] of kinds.entries()) {
      const timed = await time(pages, work);
      const p99 = p(timed.ms, 0.99);
      if (label.startsWith('search')) worstSearchP99 = Math.max(worstSearchP99, p99);
      const said = timed.items === 0 ? `${note}${note ? '; ' : ''}no items!` : note;
      rows.push([
        `${index === 0 ? `lists, ${num(count)} contacts, ${num(Math.round(count * 1.1 * perIdentity))} messages: ` : '  '}${label}${said ? ` (${said})` : ''}, p50 / p99 ms`,
        `${num(p(timed.ms, 0.5), 2)} / ${num(p99, 2)}`,
        index === 0 ? floorText : null,
        index === 0 ? ratio(p(timed.ms, 0.5), p(floor.ms, 0.5)) : null,
      ]);
    }
    say(`worst search page p99 ${num(worstSearchP99, 2)} ms (target < 50 ms); select 1 p99 ${num(p(floor.ms, 0.99), 2)} ms`);
    return rows;
  } finally {
    await database.close();
  }
}

/** A cursor `offset` contacts down the unfiltered list. */
async function deepContactCursor(db: Db, offset: number): Promise<string> {
  const [row] = rowsOf<{ id: string; micros: string }>(
    await db.execute(sql`select id, (extract(epoch from last_seen) * 1000000)::bigint::text as micros from identities order by last_seen desc, id desc offset ${offset} limit 1`),
  );
  return encodeContactCursor({ micros: row!.micros, identityId: row!.id });
}

const p = (values: number[], q: number) => values.slice().sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(q * values.length))]!;

/** Wall-clock milliseconds of `runs` sequential calls (after one warm-up), and items seen in all. */
async function time(runs: number, work: (i: number) => Promise<{ items: unknown[] }>): Promise<{ ms: number[]; items: number }> {
  await work(runs);
  const ms: number[] = [];
  let items = 0;
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    items += (await work(i)).items.length;
    ms.push(performance.now() - started);
  }
  return { ms, items };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { startTestPostgres } = await import('../test/support/global-setup.ts');
  const { table } = await import('./report.ts');
  const pg = await startTestPostgres();
  try {
    const rows = await runSearchBench({ databaseUrl: pg.url });
    process.stdout.write(`${table(['metric', 'omnibus', 'baseline', 'ratio'], rows)}\n`);
  } finally {
    await pg.stop();
  }
}
