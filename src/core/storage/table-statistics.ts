/**
 * Planner statistics for the tables ingest reads. The set-based look-ups of a batch ask for
 * "these keys on this account"; without statistics the planner takes `channel = … and account
 * = …` for rare (it assumes 0.5 % each, where one value is usually every row) and walks a
 * whole account per batch instead of probing the unique index. PostgreSQL's autovacuum
 * gathers statistics within a minute or so, but PGlite runs no autovacuum at all, and a fresh
 * install fills its tables faster than a minute. So the daemon analyzes, itself, a table that
 * was never analyzed or has doubled in size since: a catalog query every interval, and right
 * away once enough events were recorded since the last look (a fresh install's first burst).
 * `ANALYZE (SKIP_LOCKED)` samples a bounded number of rows, so it stays cheap on large tables
 * and never waits for autovacuum or another replica doing the same.
 */
import { sql } from 'drizzle-orm';
import type { Logger } from 'pino';
import type { Db } from './db.ts';
import { rowsOf } from './lease.ts';
import { BackgroundLoop } from '../wakeup.ts';

/** The tables whose plans ingest depends on. */
export const INGEST_TABLES = ['messages', 'identities', 'contacts', 'conversations', 'session_windows', 'outbox', 'status_receipts', 'media'] as const;

/** Pages a table must exceed before growth alone triggers another analyze (8 KiB each). */
const MIN_PAGES = 2;

export interface TableStatisticsOptions {
  db: Db;
  logger: Logger;
  /** Between looks (default 30 s). */
  intervalMs?: number;
  /** Events recorded since the last look that trigger one now (default 500). */
  eventsBeforeLook?: number;
}

/** Tables of `tables` that were never analyzed or have at least doubled in pages since. */
export async function staleTables(db: Db, tables: ReadonlyArray<string>): Promise<string[]> {
  const rows = rowsOf<{ relname: string }>(
    await db.execute(sql`select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = current_schema() and c.relkind = 'r' and c.relname = any(array(select jsonb_array_elements_text(${JSON.stringify(tables)}::jsonb)))
        and (c.reltuples < 0 or pg_relation_size(c.oid) / current_setting('block_size')::int > 2 * greatest(c.relpages, ${MIN_PAGES}))`),
  );
  return rows.map((row) => row.relname).sort();
}

/** Analyzes the stale ones of `tables`; returns the names it analyzed. */
export async function refreshStatistics(db: Db, tables: ReadonlyArray<string> = INGEST_TABLES): Promise<string[]> {
  const stale = await staleTables(db, tables);
  // Names come from the fixed list above, never from input; quoted all the same.
  for (const table of stale) await db.execute(sql.raw(`analyze (skip_locked) "${table.replaceAll('"', '""')}"`));
  return stale;
}

/** Keeps the ingest tables' statistics fresh; `recorded` counts events toward an early look. */
export class TableStatistics extends BackgroundLoop {
  private readonly intervalMs: number;
  private readonly eventsBeforeLook: number;
  private sinceLook = 0;

  constructor(private readonly options: TableStatisticsOptions) {
    super();
    this.intervalMs = options.intervalMs ?? 30_000;
    this.eventsBeforeLook = options.eventsBeforeLook ?? 500;
  }

  /** Events were recorded: after enough of them, look now rather than at the next interval. */
  recorded(events: number): void {
    this.sinceLook += events;
    if (this.sinceLook >= this.eventsBeforeLook) this.notify();
  }

  stop(): Promise<void> {
    return this.halt();
  }

  protected async run(): Promise<void> {
    while (this.running) {
      this.sinceLook = 0;
      try {
        const analyzed = await refreshStatistics(this.options.db);
        if (analyzed.length > 0) this.options.logger.debug({ tables: analyzed }, 'planner statistics refreshed');
      } catch (error) {
        // A busy or restarting database: the next look tries again; ingest never waits for this.
        this.options.logger.warn({ err: error }, 'planner statistics could not be refreshed; next look tries again');
      }
      await this.wakeup.sleep(this.intervalMs);
    }
  }
}
