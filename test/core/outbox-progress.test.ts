/**
 * The relay's progress without a mark per row, against real PostgreSQL and JetStream: what the
 * snapshot diffs must get right (a transaction that took its ids first and commits last, rows
 * held for media and the rows behind them, a diff larger than a batch, a relay that lost its
 * lease, rows an operator hands back, rows written before the upgrade).
 */
import { cp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import postgres from 'postgres';
import { drizzle } from 'drizzle-orm/postgres-js';
import { migrate } from 'drizzle-orm/postgres-js/migrator';
import { pino } from 'pino';
import { openDatabase, type Database } from '../../src/core/storage/db.ts';
import { openBus, type Bus } from '../../src/core/nats/bus.ts';
import { OutboxRelay } from '../../src/core/outbox-relay.ts';
import { saveRelayProgress } from '../../src/core/outbox-progress.ts';
import { outboxStats } from '../../src/core/outbox-stats.ts';
import { createMetrics } from '../../src/core/metrics.ts';
import { createTestDatabase, natsUrl, tempDir, uniquePrefix } from '../support/services.ts';
import { openMigratedTestDatabase, type MigratedTestDatabase } from '../support/migrated-database.ts';
import { readStream } from '../support/stream.ts';
import { insertOutboxRow, pendingOutboxRows } from '../support/outbox.ts';

const logger = pino({ level: 'silent' });

describe('outbox progress by snapshot', () => {
  let store: MigratedTestDatabase;
  let db: Database;
  let bus: Bus;
  let sql: postgres.Sql;
  const prefix = uniquePrefix();
  let subject: string;
  let n = 0;
  const relays: OutboxRelay[] = [];
  const metricsOf = new Map<OutboxRelay, ReturnType<typeof createMetrics>>();

  const relay = (holder = 'relay-a', batchSize = 500) => {
    const metrics = createMetrics();
    const made = new OutboxRelay(db.db, () => bus.js, holder, logger, metrics, { batchSize });
    relays.push(made);
    metricsOf.set(made, metrics);
    return made;
  };
  /** Publishes JetStream absorbed as duplicates: a row published twice. */
  const duplicatesOf = async (made: OutboxRelay) =>
    (await metricsOf.get(made)!.registry.getSingleMetric('omnibus_outbox_publish_duplicates_total')!.get()).values[0]?.value ?? 0;
  /** A fresh msg id and the row for it. */
  const row = (orderingKey: string, held = false) => ({ subject, msgId: `m${++n}`, payload: { n }, orderingKey, held });
  const published = async () => (await readStream(natsUrl(), prefix, `${prefix}.v1.evt.>`)).map((e) => e.msgId);
  const idOf = async (msgId: string) => Number((await sql<{ id: string }[]>`select id from outbox where msg_id = ${msgId}`)[0]!.id);

  beforeAll(async () => {
    store = await openMigratedTestDatabase();
    ({ db, sql } = store);
    bus = await openBus({ servers: natsUrl(), prefix, logger });
    subject = bus.subjects.evt.messageIn('whatsapp', 'progress');
  });
  afterAll(async () => {
    for (const each of relays) await each.stop().catch(() => {});
    await bus?.close();
    await store?.close();
  });

  it('a transaction that took its id first and commits last is published once it commits', async () => {
    const early = row('k-early');
    const late = row('k-late');
    let commit!: () => void;
    const gate = new Promise<void>((resolve) => (commit = resolve));
    let inserted!: () => void;
    const insertedEarly = new Promise<void>((resolve) => (inserted = resolve));
    const open = sql.begin(async (tx) => {
      await insertOutboxRow(tx as unknown as postgres.Sql, early);
      inserted();
      await gate;
    });
    await insertedEarly;
    await insertOutboxRow(sql, late);
    expect(await idOf(late.msgId)).toBeGreaterThan(0);

    const a = relay();
    await a.drainOnce();
    expect(await published()).toEqual([late.msgId]);

    commit();
    await open;
    expect(await idOf(early.msgId)).toBeLessThan(await idOf(late.msgId));
    expect(await pendingOutboxRows(sql)).toBe(1);
    await a.drainOnce();
    expect(await published()).toEqual([late.msgId, early.msgId]);
    expect(await pendingOutboxRows(sql)).toBe(0);
    expect(await duplicatesOf(a)).toBe(0);
    // Nothing was marked row by row.
    const [marked] = await sql<{ n: number }[]>`select count(*)::int as n from outbox where published_at is not null`;
    expect(marked!.n).toBe(0);
  });

  it('a held row defers the rows behind it in its conversation; the others go on; released, they follow in order', async () => {
    const before = await published();
    const held = row('k-held', true);
    const behind1 = row('k-held');
    const other = row('k-other');
    const behind2 = row('k-held');
    for (const each of [held, behind1, other, behind2]) await insertOutboxRow(sql, each);
    const a = relay();
    await a.drainOnce();
    expect((await published()).slice(before.length)).toEqual([other.msgId]);
    const deferred = await sql<{ msg_id: string }[]>`select msg_id from outbox where deferred and published_at is null order by id`;
    expect(deferred.map((r) => r.msg_id)).toEqual([held.msgId, behind1.msgId, behind2.msgId]);
    const stats = await outboxStats(db.db);
    expect(stats.pending).toBe(3);

    // A new row of the conversation waits behind them too.
    const behind3 = row('k-held');
    await insertOutboxRow(sql, behind3);
    await a.drainOnce();
    expect((await published()).slice(before.length)).toEqual([other.msgId]);

    await sql`update outbox set held = false where msg_id = ${held.msgId}`;
    await a.drainOnce();
    await a.drainOnce();
    expect((await published()).slice(before.length)).toEqual([other.msgId, held.msgId, behind1.msgId, behind2.msgId, behind3.msgId]);
    expect(await pendingOutboxRows(sql)).toBe(0);
    // Once nothing of the conversation is deferred, its rows go in order again, unmarked.
    const after = row('k-held');
    await insertOutboxRow(sql, after);
    await a.drainOnce();
    expect((await published()).at(-1)).toBe(after.msgId);
    const [state] = await sql<{ deferred: boolean; published: boolean }[]>`select deferred, published_at is not null as published from outbox where msg_id = ${after.msgId}`;
    expect(state).toEqual({ deferred: false, published: false });
    expect(await duplicatesOf(a)).toBe(0);
  });

  it('a diff larger than a batch is published in id order across batches', async () => {
    const before = await published();
    const rows = Array.from({ length: 10 }, (_, i) => row(`k-big-${i % 3}`));
    await sql.begin(async (tx) => {
      for (const each of rows.slice(0, 7)) await insertOutboxRow(tx as unknown as postgres.Sql, each);
    });
    for (const each of rows.slice(7)) await insertOutboxRow(sql, each);
    const small = relay('relay-a', 3);
    expect(await small.drainOnce()).toBe(10);
    expect((await published()).slice(before.length)).toEqual(rows.map((r) => r.msgId));
    const [progress] = await sql<{ target: string | null; cursor: string }[]>`select target::text, cursor from outbox_progress`;
    expect(progress).toEqual({ target: null, cursor: '0' });
    expect(await duplicatesOf(small)).toBe(0);
  });

  it('a diff of exactly two batches is finished by an empty read, and the next rows go out', async () => {
    const before = await published();
    const rows = Array.from({ length: 6 }, (_, i) => row(`k-even-${i}`));
    await sql.begin(async (tx) => {
      for (const each of rows) await insertOutboxRow(tx as unknown as postgres.Sql, each);
    });
    const small = relay('relay-a', 3);
    await small.drainOnce();
    const [progress] = await sql<{ target: string | null }[]>`select target::text from outbox_progress`;
    expect(progress!.target).toBeNull();
    const next = row('k-even-next');
    await insertOutboxRow(sql, next);
    await small.drainOnce();
    expect((await published()).slice(before.length)).toEqual([...rows, next].map((r) => r.msgId));
  });

  it('a relay that lost its lease records nothing; the next holder publishes from the last progress, without duplicates in the stream', async () => {
    const before = await published();
    const a = relay('relay-a');
    await a.drainOnce();
    const [progress0] = await sql<{ done: string }[]>`select done::text from outbox_progress`;
    const rows = [row('k-lease'), row('k-lease', true), row('k-lease')];
    for (const each of rows) await insertOutboxRow(sql, each);
    expect(await saveRelayProgress(db.db, { name: 'outbox-relay', holder: 'relay-b', ttlMs: 10_000 }, { target: '1:1:', finished: true, cursor: 0, defer: [await idOf(rows[2]!.msgId)], published: [] })).toBe(false);
    // relay-b takes the lease while relay-a still believes it holds it (its last renewal is recent).
    await sql`update leases set holder = 'relay-b' where name = 'outbox-relay'`;
    await a.drainOnce();
    expect(a.isLeader).toBe(false);
    const [progress1] = await sql<{ done: string; target: string | null }[]>`select done::text, target::text from outbox_progress`;
    expect(progress1!.done).toBe(progress0!.done);
    const [deferred] = await sql<{ n: number }[]>`select count(*)::int as n from outbox where deferred and msg_id = any(${rows.map((r) => r.msgId)})`;
    expect(deferred!.n).toBe(0);

    const b = relay('relay-b');
    await b.drainOnce();
    const after = (await published()).slice(before.length);
    expect(after).toEqual([rows[0]!.msgId]);
    // relay-a's publish of the first row was not recorded: relay-b sent it again.
    expect(await duplicatesOf(b)).toBe(1);
    expect(await pendingOutboxRows(sql)).toBe(2);
    await sql`update outbox set held = false where msg_id = ${rows[1]!.msgId}`;
    await b.drainOnce();
    expect((await published()).slice(before.length)).toEqual(rows.map((r) => r.msgId));
  });

  it('rows an operator hands back (deferred, published_at cleared) are published again and marked', async () => {
    const again = (await sql<{ msg_id: string }[]>`select msg_id from outbox where published_at is null and not deferred order by id limit 2`).map((r) => r.msg_id);
    expect(again.length).toBe(2);
    await sql`update outbox set published_at = null, deferred = true where msg_id = any(${again})`;
    expect(await pendingOutboxRows(sql)).toBe(2);
    const metrics = createMetrics();
    const a = new OutboxRelay(db.db, () => bus.js, 'relay-b', logger, metrics);
    relays.push(a);
    await a.drainOnce();
    expect(await pendingOutboxRows(sql)).toBe(0);
    const marked = await sql<{ msg_id: string }[]>`select msg_id from outbox where msg_id = any(${again}) and published_at is not null`;
    expect(marked.length).toBe(2);
    // Inside the stream's duplicate window they are absorbed, not stored twice.
    expect((await metrics.registry.getSingleMetric('omnibus_outbox_publish_duplicates_total')?.get())?.values[0]?.value).toBe(2);
  });

  it('rows written before the upgrade: the unpublished ones (deferred by the migration) go out, the published ones stay put', async () => {
    const before = await published();
    const old = row('k-old');
    const done = row('k-old');
    await insertOutboxRow(sql, old);
    await insertOutboxRow(sql, done);
    // What migration 0011 does to the rows it finds.
    await sql`update outbox set txid = '2', deferred = (published_at is null and msg_id = ${old.msgId}), published_at = case when msg_id = ${done.msgId} then now() else published_at end
      where msg_id in (${old.msgId}, ${done.msgId})`;
    const a = relay('relay-b');
    await a.drainOnce();
    expect((await published()).slice(before.length)).toEqual([old.msgId]);
  });

  it('a batch that outlived its lease still records its progress when nobody took the lease over', async () => {
    const before = await published();
    const a = relay('relay-b');
    await a.drainOnce();
    await sql`update leases set expires_at = now() - interval '1 second' where name = 'outbox-relay'`;
    const late = row('k-slow');
    await insertOutboxRow(sql, late);
    await a.drainOnce();
    expect((await published()).slice(before.length)).toEqual([late.msgId]);
    expect(await pendingOutboxRows(sql)).toBe(0);
    const [lease] = await sql<{ live: boolean; holder: string }[]>`select expires_at > now() as live, holder from leases where name = 'outbox-relay'`;
    expect(lease).toEqual({ live: true, holder: 'relay-b' });
    expect(await duplicatesOf(a)).toBe(0);
  });

  it('a database restored into another cluster (transaction ids from elsewhere) is re-based: nothing still to go is lost', async () => {
    const before = await published();
    // As a dump from a cluster whose ids were near 90 million would look after its restore.
    await sql`update outbox set txid = '89999990'`;
    const pendingThere = row('k-restored');
    await insertOutboxRow(sql, pendingThere);
    await sql`update outbox set txid = '90000005' where msg_id = ${pendingThere.msgId}`;
    await sql`update outbox_progress set done = '90000000:90000000:', target = null, cursor = 0`;
    // A row this cluster writes before the relay starts: by the old progress it looks published.
    const writtenHere = row('k-here');
    await insertOutboxRow(sql, writtenHere);

    const fresh = relay('relay-b');
    await fresh.drainOnce();
    expect((await published()).slice(before.length)).toEqual([pendingThere.msgId, writtenHere.msgId]);
    expect(await duplicatesOf(fresh)).toBe(0);
    const [progress] = await sql<{ behind: boolean }[]>`select pg_snapshot_xmax(done) <= pg_snapshot_xmax(pg_current_snapshot()) as behind from outbox_progress`;
    expect(progress!.behind).toBe(true);
    // And the relay goes on normally afterwards.
    const next = row('k-here');
    await insertOutboxRow(sql, next);
    await fresh.drainOnce();
    expect((await published()).at(-1)).toBe(next.msgId);
    expect(await pendingOutboxRows(sql)).toBe(0);
  });
});

describe('upgrading a database whose relay marked every row', () => {
  it('publishes the rows left unpublished before migration 0011, and none of those already published', async () => {
    const database = await createTestDatabase();
    const sql = postgres(database.url, { max: 1, onnotice: () => {} });
    const prefix = uniquePrefix();
    let db: Database | undefined;
    let bus: Bus | undefined;
    let relay: OutboxRelay | undefined;
    try {
      // The migrations as they were before 0011.
      const old = join(await tempDir(), 'drizzle');
      await cp(new URL('../../drizzle', import.meta.url), old, { recursive: true });
      const journalPath = join(old, 'meta', '_journal.json');
      const journal = JSON.parse(await readFile(journalPath, 'utf8')) as { entries: Array<{ tag: string }> };
      journal.entries = journal.entries.filter((entry) => entry.tag < '0011');
      await writeFile(journalPath, JSON.stringify(journal));
      // Its own client: drizzle changes how the client it is given serializes json.
      const migrator = postgres(database.url, { max: 1, onnotice: () => {} });
      await migrate(drizzle(migrator), { migrationsFolder: old }).finally(() => migrator.end({ timeout: 5 }));

      const subject = `${prefix}.v1.evt.message.in.whatsapp.upgrade`;
      const insert = (msgId: string, published: boolean, held = false) =>
        sql`insert into outbox (subject, msg_id, payload, ordering_key, held, created_at, published_at)
          values (${subject}, ${msgId}, ${sql.json({ msgId })}, 'cv-upgrade', ${held}, now(), ${published ? sql`now()` : null})`;
      await insert('old-published', true);
      await insert('old-pending', false);
      await insert('old-held', false, true);
      await insert('old-behind-held', false);

      db = await openDatabase({ url: database.url, dataDir: '/nonexistent', logger });
      await db.migrate();
      expect(await pendingOutboxRows(sql)).toBe(3);
      bus = await openBus({ servers: natsUrl(), prefix, logger });
      relay = new OutboxRelay(db.db, () => bus!.js, 'relay-upgrade', logger, createMetrics());
      await insertOutboxRow(sql, { subject, msgId: 'new-after-upgrade', payload: {}, orderingKey: 'cv-other' });
      await relay.drainOnce();
      const ids = async () => (await readStream(natsUrl(), prefix, `${prefix}.v1.evt.>`)).map((e) => e.msgId);
      expect(await ids()).toEqual(['old-pending', 'new-after-upgrade']);
      await sql`update outbox set held = false where msg_id = 'old-held'`;
      await relay.drainOnce();
      expect(await ids()).toEqual(['old-pending', 'new-after-upgrade', 'old-held', 'old-behind-held']);
      expect(await pendingOutboxRows(sql)).toBe(0);
    } finally {
      await relay?.stop();
      await bus?.close();
      await db?.close();
      await sql.end({ timeout: 5 });
      await database.drop();
    }
  });
});
