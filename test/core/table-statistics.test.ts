/**
 * The daemon's own planner statistics, against real PostgreSQL and PGlite (which has no
 * autovacuum): a table never analyzed, or grown to twice its pages since, is analyzed; a table
 * analyzed at its current size is left alone; and with statistics, the batch's redelivery probe
 * goes through the unique dedupe index instead of walking the account.
 */
import { sql } from 'drizzle-orm';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../src/core/storage/db.ts';
import { rowsOf } from '../../src/core/storage/lease.ts';
import { refreshStatistics, staleTables, TableStatistics } from '../../src/core/storage/table-statistics.ts';
import { createTestDatabase, tempDir, type TestDatabase } from '../support/services.ts';

const logger = pino({ level: 'silent' });

async function reltuples(db: Database, table: string): Promise<number> {
  const [row] = rowsOf<{ n: number }>(await db.db.execute(sql`select reltuples::float8 as n from pg_class where relname = ${table}`));
  return Number(row!.n);
}

/** 3,000 inbound messages on one account: far more than the planner guesses without statistics. */
async function fillMessages(db: Database, from: number, count: number): Promise<void> {
  await db.db.execute(sql`insert into contacts (id, created_at, updated_at) values ('ct_stats', now(), now()) on conflict do nothing`);
  await db.db.execute(sql`insert into identities (id, contact_id, channel, account, external_id, first_seen, last_seen)
    values ('idn_stats', 'ct_stats', 'whatsapp', 'stats', '1555', now(), now()) on conflict do nothing`);
  await db.db.execute(sql`insert into conversations (id, channel, account, external_id, kind, identity_id, created_at, last_message_at)
    values ('cv_stats', 'whatsapp', 'stats', '1555', 'direct', 'idn_stats', now(), now()) on conflict do nothing`);
  await db.db.execute(sql`insert into messages (id, direction, channel, account, conversation_id, identity_id, external_id, dedupe_key, "timestamp", received_at, parts)
    select 'msg_stats_' || g, 'in', 'whatsapp', 'stats', 'cv_stats', 'idn_stats', 'wamid.' || g, 'wamid.' || g, now(), now(), '[]'::jsonb
    from generate_series(${from}::int, ${from + count - 1}::int) g`);
}

for (const kind of ['postgres', 'pglite'] as const) {
  describe(`planner statistics on ${kind}`, () => {
    let database: TestDatabase | null = null;
    let db: Database;

    beforeAll(async () => {
      database = kind === 'postgres' ? await createTestDatabase() : null;
      db = await openDatabase({ url: database?.url ?? null, dataDir: await tempDir(), logger });
      await db.migrate();
    });
    afterAll(async () => {
      await db?.close();
      await database?.drop();
    });

    it('analyzes tables never analyzed, then only those that doubled in size', async () => {
      // Fresh from the migrations, every ingest table is stale.
      expect(await staleTables(db.db, ['messages', 'outbox'])).toEqual(['messages', 'outbox']);
      expect(await refreshStatistics(db.db, ['messages', 'outbox'])).toEqual(['messages', 'outbox']);
      expect(await staleTables(db.db, ['messages', 'outbox'])).toEqual([]);

      await fillMessages(db, 0, 3_000);
      expect(await staleTables(db.db, ['messages', 'outbox'])).toEqual(['messages']);
      expect(await refreshStatistics(db.db, ['messages', 'outbox'])).toEqual(['messages']);
      expect(await reltuples(db, 'messages')).toBeGreaterThan(2_500);
      // A few more rows do not double it: left alone.
      await fillMessages(db, 3_000, 50);
      expect(await staleTables(db.db, ['messages'])).toEqual([]);
    });

    it('probes redeliveries through the unique dedupe index once statistics exist', async () => {
      await refreshStatistics(db.db);
      const keys = JSON.stringify(['wamid.7', 'wamid.42', 'wamid.none']);
      const plan = rowsOf<Record<string, string>>(
        await db.db.execute(sql`explain select dedupe_key from messages where channel = 'whatsapp' and account = 'stats'
          and dedupe_key = any(array(select jsonb_array_elements_text(${keys}::jsonb)))`),
      )
        .map((row) => Object.values(row)[0])
        .join('\n');
      expect(plan).toContain('messages_dedupe_idx');
      expect(plan).toMatch(/Index Cond: .*dedupe_key = ANY/);
    });

    it('looks early once enough events were recorded, and stops cleanly', async () => {
      await fillMessages(db, 10_000, 6_000);
      const keeper = new TableStatistics({ db: db.db, logger, intervalMs: 3_600_000, eventsBeforeLook: 100 });
      keeper.start();
      // The first look runs at start; the growth above makes messages stale again until then.
      await expect.poll(() => staleTables(db.db, ['messages']), { timeout: 10_000 }).toEqual([]);
      await fillMessages(db, 20_000, 12_000);
      expect(await staleTables(db.db, ['messages'])).toEqual(['messages']);
      keeper.recorded(100);
      await expect.poll(() => staleTables(db.db, ['messages']), { timeout: 10_000 }).toEqual([]);
      await keeper.stop();
    });
  });
}
