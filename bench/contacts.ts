/**
 * Contacts (issue 4, point 6): a merge of two contacts holding 100,000 messages each, and a
 * timeline page with 1,000,000 messages stored, each next to a baseline measured in the same
 * database: the UPDATE a merge that moved message rows would need, and the plain
 * single-statement page query (`identity_id = any(...) order by ... limit`).
 *
 * `runContactsBench({ databaseUrl })` returns summary rows (metric, omnibus, baseline, ratio)
 * for bench/run.ts. Run alone: `tsx bench/contacts.ts` starts its own PostgreSQL.
 */
import { pathToFileURL } from 'node:url';
import { pino } from 'pino';
import { sql } from 'drizzle-orm';
import { openDatabase, type Db } from '../src/core/storage/db.ts';
import { subjects as subjectsFor } from '../src/core/schemas/subjects.ts';
import { mergeContacts } from '../src/merge/merge.ts';
import { timeline, encodeCursor } from '../src/merge/timeline.ts';
import { rowsOf } from '../src/merge/evidence.ts';
import { num, ratio, table, type Cell } from './report.ts';

/** Sizes; the defaults store 1,000,000 messages in ten contacts of 100,000. */
export interface ContactsBenchOptions {
  databaseUrl: string;
  messagesPerContact?: number;
  /** Contact pairs merged (each pair one timed merge); 2 × pairs contacts in all. */
  pairs?: number;
  /** Timeline pages timed per kind. */
  pages?: number;
}

const SILENT = pino({ level: 'warn' }, pino.destination(2));
const PAGE = 50;
const say = (message: string) => process.stderr.write(`bench: contacts: ${message}\n`);

/** Fills the database, times merges and timeline pages, and returns the summary rows. */
export async function runContactsBench(options: ContactsBenchOptions): Promise<Cell[][]> {
  const perContact = options.messagesPerContact ?? 100_000;
  const pairs = options.pairs ?? 5;
  const pages = options.pages ?? 200;
  const database = await openDatabase({ url: options.databaseUrl, dataDir: '/nonexistent', logger: SILENT });
  try {
    await database.migrate();
    const db = database.db;
    const total = perContact * pairs * 2;
    say(`storing ${num(total)} messages in ${pairs * 2} contacts`);
    const fillStart = performance.now();
    const ids = [];
    for (let c = 0; c < pairs * 2; c++) ids.push(await seedContact(db, c, perContact));
    await db.execute(sql`analyze`);
    say(`stored in ${num((performance.now() - fillStart) / 1000, 1)} s`);

    const ctx = { subjects: subjectsFor('bench'), now: () => new Date() };
    const mergeMs: number[] = [];
    for (let p = 0; p < pairs; p++) {
      const started = performance.now();
      await mergeContacts(db, ctx, { id: ids[2 * p]!.contact, otherId: ids[2 * p + 1]!.contact }, 'http');
      mergeMs.push(performance.now() - started);
    }
    // What a merge that re-pointed message rows would at least pay: one UPDATE of 100,000 rows.
    const updateStart = performance.now();
    await db.execute(sql`update messages set conversation_id = conversation_id where identity_id = ${ids[ids.length - 1]!.identity}`);
    const updateMs = performance.now() - updateStart;

    const merged = ids[0]!.contact;
    const owners = [ids[0]!.identity, ids[1]!.identity];
    const first = await time(pages, () => timeline(db, { id: merged, limit: PAGE }));
    const middle = rowsOf<{ micros: string; id: string }>(
      await db.execute(sql`select (extract(epoch from received_at) * 1000000)::bigint::text as micros, id from messages
        where identity_id = ${owners[0]} order by received_at desc, id desc offset ${Math.floor(perContact / 2)} limit 1`),
    )[0]!;
    const before = encodeCursor(middle);
    const deep = await time(pages, () => timeline(db, { id: merged, limit: PAGE, before }));
    const naive = await time(pages, () =>
      db.execute(sql`select id, parts, raw from messages where identity_id in (${owners[0]}, ${owners[1]}) order by received_at desc, id desc limit ${PAGE + 1}`),
    );
    const p = (values: number[], q: number) => values.slice().sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(q * values.length))]!;
    say(`merge p50 ${num(p(mergeMs, 0.5), 1)} ms; timeline p50 ${num(p(first, 0.5), 2)} ms`);
    return [
      [`contact merge, 2 × ${num(perContact)} messages (N=${pairs}): p50 ms`, num(p(mergeMs, 0.5), 1), `${num(updateMs, 0)} (UPDATE ${num(perContact)} message rows)`, ratio(p(mergeMs, 0.5), updateMs)],
      ['  max ms', num(Math.max(...mergeMs), 1), null, null],
      [`timeline, ${PAGE} per page, ${num(total)} stored, 2 identities: first page p50 ms`, num(p(first, 0.5), 2), `${num(p(naive, 0.5), 1)} (one query, any(...) + sort)`, ratio(p(first, 0.5), p(naive, 0.5))],
      ['  first page p99 ms', num(p(first, 0.99), 2), num(p(naive, 0.99), 1), ratio(p(first, 0.99), p(naive, 0.99))],
      [`  page ${num(perContact / 2 / PAGE)} deep (cursor) p50 / p99 ms`, `${num(p(deep, 0.5), 2)} / ${num(p(deep, 0.99), 2)}`, null, null],
    ];
  } finally {
    await database.close();
  }
}

/** One contact with one WhatsApp identity, one conversation and `count` messages, a second apart. */
async function seedContact(db: Db, index: number, count: number): Promise<{ contact: string; identity: string }> {
  const contact = `ct_bench${index}`;
  const identity = `idn_bench${index}`;
  const conversation = `cv_bench${index}`;
  const externalId = `1631555${String(index).padStart(4, '0')}`;
  // Contacts a day apart, so "the older survives" picks the even one of each pair.
  const created = new Date(Date.UTC(2025, 0, 1 + index));
  await db.execute(sql`insert into contacts (id, display_name, phones, created_at, updated_at)
    values (${contact}, ${`Bench ${index}`}, ${JSON.stringify([`+${externalId}`])}::jsonb, ${created.toISOString()}, ${created.toISOString()})`);
  await db.execute(sql`insert into identities (id, channel, account, external_id, contact_id, display_name, phone, phone_verified, first_seen, last_seen, origin_contact_id)
    values (${identity}, 'whatsapp', 'bench-wa', ${externalId}, ${contact}, ${`Bench ${index}`}, ${`+${externalId}`}, true, ${created.toISOString()}, ${created.toISOString()}, ${contact})`);
  await db.execute(sql`insert into conversations (id, channel, account, external_id, kind, identity_id, created_at, last_message_at)
    values (${conversation}, 'whatsapp', 'bench-wa', ${externalId}, 'direct', ${identity}, ${created.toISOString()}, ${created.toISOString()})`);
  await db.execute(sql`insert into messages (id, direction, channel, account, conversation_id, identity_id, external_id, dedupe_key, timestamp, received_at, parts, raw)
    select 'msg_bench' || ${index} || '_' || lpad(n::text, 7, '0'), case when n % 3 = 0 then 'out' else 'in' end, 'whatsapp', 'bench-wa',
           ${conversation}, ${identity}, 'wamid.bench' || ${index} || '.' || n, 'bench' || ${index} || '.' || n,
           ${created.toISOString()}::timestamptz + n * interval '1 second', ${created.toISOString()}::timestamptz + n * interval '1 second',
           jsonb_build_array(jsonb_build_object('type', 'text', 'text', 'message number ' || n)), '{}'::jsonb
    from generate_series(1, ${count}) as n`);
  return { contact, identity };
}

/** Wall-clock milliseconds of `runs` sequential calls. */
async function time(runs: number, work: () => Promise<unknown>): Promise<number[]> {
  await work();
  const out: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    await work();
    out.push(performance.now() - started);
  }
  return out;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { startTestPostgres } = await import('../test/support/global-setup.ts');
  const pg = await startTestPostgres();
  try {
    const rows = await runContactsBench({ databaseUrl: pg.url });
    process.stdout.write(`${table(['metric', 'omnibus', 'baseline', 'ratio'], rows)}\n`);
  } finally {
    await pg.stop();
  }
}
