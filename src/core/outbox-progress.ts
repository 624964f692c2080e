/**
 * How far the relay has got through the outbox, without a mark on every row it publishes.
 *
 * Every outbox row carries the id of the transaction that wrote it (`txid`). The relay takes a
 * snapshot (`pg_current_snapshot()`) and publishes, in id order, the rows of the transactions
 * that are visible in it and were not visible in the previous one: the transactions that
 * committed between the two. Each committed transaction falls between exactly two snapshots,
 * so each row is read once, also a row whose id is lower than rows already published (its
 * transaction took the id first and committed later), and also the rows of other replicas.
 * The single `outbox_progress` row holds the last snapshot done (`done`), the one being worked
 * through (`target`) and the last id published of it (`cursor`); it is written once per batch,
 * only by the holder of the relay lease, in the same statement that defers rows.
 *
 * A row the relay must not publish in order is deferred (`deferred = true`): held for its media,
 * behind a deferred row of its conversation, or handed back by an operator. Deferred rows are
 * published one by one, in id order, once nothing held is ahead of them, and get
 * `published_at`. So a row is published when `published_at` is set, or when it is not deferred
 * and its transaction is visible in `done` ({@link unpublished} is the opposite).
 */
import { sql, type SQL } from 'drizzle-orm';
import type { Db } from './storage/db.ts';
import { runStatement } from './storage/statement.ts';
import { rowsOf } from './storage/lease.ts';

/** One outbox row the relay may publish. */
export interface RelayRow {
  id: number;
  subject: string;
  msgId: string;
  /** The event as JSON text, as stored (published as it is unless it must be bounded). */
  payload: string;
  orderingKey: string;
  /** Waiting for media (only rows of the snapshot diff come back held). */
  held: boolean;
  /** Behind an unpublished deferred row of its conversation. */
  blocked: boolean;
  /** Where it came from: the deferred rows, or the transactions of the current snapshot diff. */
  source: 'deferred' | 'diff';
}

/** What one read gives: deferred rows, the next rows of the diff, and where the diff stands. */
export interface RelayRead {
  deferred: RelayRow[];
  diff: RelayRow[];
  /** The snapshot being worked through (taken by this read when none was). */
  target: string;
  /** The last id of the diff published before this read (0 for a new snapshot). */
  cursor: number;
  /** `target` was stored by an earlier batch (so finishing it must be recorded, even with no row). */
  targetStored: boolean;
  /** The diff has no row left after these: `target` becomes `done`. */
  diffFinished: boolean;
}

type Wire = {
  source: 'p' | 'd' | 'n';
  target: string | null;
  cursor: string | number | null;
  stored: boolean | null;
  id: string | number | null;
  subject: string | null;
  msg_id: string | null;
  payload: string | null;
  ordering_key: string | null;
  held: boolean | null;
  blocked: boolean | null;
};

// `offset 0` keeps each `not exists`/`exists` a per-row probe of outbox_deferred_idx (it stops
// PostgreSQL from flattening it into an anti-join that scans the table; docs/performance.md).
//
// The rows of the diff are found one of two ways, and the statement text fixes which, because a
// prepared statement's generic plan otherwise picks by table statistics: on a small outbox it
// walked the primary key through every row kept for replays (12 ms per read at 3,000 rows,
// growing with the table). A new diff is found through outbox_txid_idx (the materialized CTE
// has no order for the planner to walk an index for) and sorted; a diff already begun walks the
// primary key on from the cursor, so each batch of a large diff (a backlog after NATS was
// down) does not sort all of it again. The cursor is a scalar subquery there: taken from the
// CTE, it was only a filter, and the walk started at the table's first row (160–290 ms per
// read at 500,000 rows). Rows already marked (dead-lettered) are not read again.
const DIFF_NEW = `k as materialized (
    select o.id from outbox o, p
    where o.txid >= pg_snapshot_xmin(p.done) and o.txid < pg_snapshot_xmax(p.target) and o.id > p.cursor
      and not pg_visible_in_snapshot(o.txid, p.done) and pg_visible_in_snapshot(o.txid, p.target) and o.published_at is null
  ),
  diff as (select o.* from outbox o where o.id in (select id from k order by id limit $1))`;
const DIFF_NEXT = `diff as (
    select o.* from outbox o, p
    where o.id > (select case when target is null then 0 else cursor end from outbox_progress where id = 1)
      and not pg_visible_in_snapshot(o.txid, p.done) and pg_visible_in_snapshot(o.txid, p.target) and o.published_at is null
    order by o.id limit $1
  )`;

const read = (diff: string) => `with p as (
    select done, coalesce(target, pg_current_snapshot()) as target, case when target is null then 0 else cursor end as cursor,
      target is not null as stored
    from outbox_progress where id = 1
  ),
  d as (
    select o.id, o.subject, o.msg_id, o.payload, o.ordering_key from outbox o
    where o.deferred and o.published_at is null and not o.held
      and not exists (select 1 from outbox h where h.deferred and h.published_at is null and h.held and h.ordering_key = o.ordering_key and h.id < o.id offset 0)
    order by o.id limit $1
  ),
  ${diff},
  n as (
    select o.id, o.subject, o.msg_id, o.payload, o.ordering_key, o.held or o.deferred as held,
      exists (select 1 from outbox b where b.deferred and b.published_at is null and b.ordering_key = o.ordering_key and b.id < o.id offset 0) as blocked
    from diff o
  )
  select 'p' as source, p.target::text as target, p.cursor, p.stored, null::bigint as id, null as subject, null as msg_id, null::text as payload, null as ordering_key, null::boolean as held, null::boolean as blocked from p
  union all select 'd', null, null, null, id, subject, msg_id, payload::text, ordering_key, false, false from d
  union all select 'n', null, null, null, id, subject, msg_id, payload::text, ordering_key, held, blocked from n`;
const READ_NEW = read(DIFF_NEW);
const READ_NEXT = read(DIFF_NEXT);

/**
 * Reads the deferred rows ready to go and the next `limit` rows of the snapshot diff. `begun`:
 * this relay stored a target and a cursor in its last batch (only a hint for the query plan;
 * either text reads the same rows).
 */
export async function readRelayRows(db: Db, limit: number, begun = false): Promise<RelayRead> {
  const rows = await runStatement<Wire>(db, begun ? READ_NEXT : READ_NEW, [limit]);
  const read: RelayRead = { deferred: [], diff: [], target: '', cursor: 0, targetStored: false, diffFinished: false };
  for (const row of rows) {
    if (row.source === 'p') {
      read.target = row.target!;
      read.cursor = Number(row.cursor);
      read.targetStored = row.stored === true;
      continue;
    }
    // int8 comes back as text (postgres.js) or a bigint (PGlite); ids stay far below 2^53.
    const each: RelayRow = {
      id: Number(row.id),
      subject: row.subject!,
      msgId: row.msg_id!,
      payload: row.payload!,
      orderingKey: row.ordering_key!,
      held: row.held === true,
      blocked: row.blocked === true,
      source: row.source === 'd' ? 'deferred' : 'diff',
    };
    (row.source === 'd' ? read.deferred : read.diff).push(each);
  }
  if (!read.target) throw new Error('outbox_progress has no row: the migrations did not run');
  read.diff.sort((a, b) => a.id - b.id);
  read.deferred.sort((a, b) => a.id - b.id);
  read.diffFinished = read.diff.length < limit;
  return read;
}

/** What a batch did, to be written in one statement. */
export interface RelayProgress {
  /** The snapshot the batch worked through. */
  target: string;
  /** Every row of the diff is done: `target` becomes `done`. */
  finished: boolean;
  /** The last id of the diff done with (when not finished). */
  cursor: number;
  /** Rows of the diff up to `cursor` that are deferred instead of published. */
  defer: number[];
  /** Deferred rows that were published (dead-lettered ones are marked by the dead-lettering). */
  published: number[];
}

// The lease row is locked, so a replica taking the lease over waits for this statement (and
// then reads its progress) or makes it a no-op; and it is renewed, so a batch that took longer
// than the lease's time to live still records its progress when nobody took over meanwhile.
const RENEW_LEASE = `lease as (
    update leases set expires_at = greatest(expires_at, now() + ($5::bigint * interval '1 millisecond'))
    where name = $1 and holder = $2 returning 1
  )`;
const SAVE_PROGRESS = `update outbox_progress set
    done = case when $3 then $4::pg_snapshot else done end,
    target = case when $3 then null else $4::pg_snapshot end,
    cursor = case when $3 then 0 else $6::bigint end,
    updated_at = now()
  where id = 1 and exists (select 1 from lease)
  returning 1`;
// Most batches defer nothing and publish no deferred row. Their statement has no id arrays, so
// PostgreSQL settles on one generic plan for it; with the arrays, an empty one makes every custom
// plan look cheaper than the generic one, and the statement was planned anew on every batch
// (0.3 ms of PostgreSQL's CPU each time, more than running it).
const SAVE_PLAIN = `with ${RENEW_LEASE} ${SAVE_PROGRESS}`;
const SAVE_WITH_ROWS = `with ${RENEW_LEASE},
  deferring as (
    update outbox set deferred = true where id = any($7::bigint[]) and exists (select 1 from lease) returning id
  ),
  marking as (
    update outbox set published_at = now() where id = any($8::bigint[]) and published_at is null returning id
  )
  ${SAVE_PROGRESS}`;

/**
 * Writes a batch's progress and deferrals, and renews the lease, only while `holder` still holds
 * it (a relay that lost it leaves both to the new holder, which publishes those rows again:
 * duplicates the stream absorbs by `Nats-Msg-Id`). Deferred rows published are marked either
 * way. Returns false when the lease had gone to another holder.
 */
export async function saveRelayProgress(db: Db, lease: { name: string; holder: string; ttlMs: number }, progress: RelayProgress): Promise<boolean> {
  const list = (ids: number[]) => `{${ids.join(',')}}`;
  const params: unknown[] = [lease.name, lease.holder, progress.finished, progress.target, lease.ttlMs, progress.cursor];
  const plain = progress.defer.length === 0 && progress.published.length === 0;
  const rows = plain
    ? await runStatement(db, SAVE_PLAIN, params)
    : await runStatement(db, SAVE_WITH_ROWS, [...params, list(progress.defer), list(progress.published)]);
  return rows.length > 0;
}

/**
 * True for an outbox row (`alias`) that may still be published: a deferred row without
 * `published_at`, or a row of a transaction the relay has not finished (not visible in its
 * `done` snapshot). It also counts rows of the batch in progress, so it errs on the side of "not
 * yet": the erasure and the unsend use it to scrub what the relay could still send.
 *
 * `committed`: only rows other transactions committed (for counts and ages). The upper bound it
 * adds makes the txid condition a range, which PostgreSQL estimates at a few rows instead of a
 * third of the table: with the open-ended one, a count planned as costly enough to be
 * JIT-compiled (15–60 ms per call instead of under 1 ms).
 */
export function unpublished(alias: string, options: { committed?: boolean } = {}): SQL {
  const o = sql.raw(alias);
  const below = options.committed ? sql` and ${o}.txid < pg_snapshot_xmax(pg_current_snapshot())` : sql``;
  return sql`(${o}.published_at is null and (${o}.deferred or (${o}.txid >= (select pg_snapshot_xmin(done) from outbox_progress where id = 1)${below}
    and not pg_visible_in_snapshot(${o}.txid, (select done from outbox_progress where id = 1)))))`;
}

// The progress and the rows' txids are transaction ids of the cluster that wrote them. A
// database restored from a dump into another cluster (or moved by logical replication) keeps
// them while the new cluster counts from its own, usually far lower: new rows would look
// published already, and restored unpublished ones would never come round. Detected by a `done`
// ahead of the cluster's own next id; then, in one statement (one snapshot): every row still
// to go by the old progress, and every row a transaction of this cluster wrote, is deferred;
// every txid becomes 2 (before every snapshot); and `done` becomes this statement's snapshot.
// Errs towards publishing twice (old events the stream already had) over never.
const REBASE = `with p as (
    select done from outbox_progress where id = 1 and pg_snapshot_xmax(done) > pg_snapshot_xmax(pg_current_snapshot()) for update
  ),
  moved as (
    update outbox o set txid = '2',
      deferred = o.deferred or (o.published_at is null
        and (not pg_visible_in_snapshot(o.txid, p.done) or o.txid < pg_snapshot_xmax(pg_current_snapshot())))
    from p returning o.deferred
  )
  update outbox_progress set done = pg_current_snapshot(), target = null, cursor = 0, updated_at = now()
  where id = 1 and exists (select 1 from p)
  returning (select count(*) from moved where deferred) as deferred`;

/**
 * Re-bases the progress when the database came from another cluster (see REBASE); the relay runs
 * it when it takes the lease. Returns the rows handed back as deferred, or null when nothing
 * was off.
 */
export async function rebaseAfterRestore(db: Db): Promise<number | null> {
  const rows = await runStatement<{ deferred: string | number }>(db, REBASE, []);
  return rows.length > 0 ? Number(rows[0]!.deferred) : null;
}

/** Rows one step of the relay's prune looks at. */
export const PRUNE_CHUNK = 2_000;

/** What one step of the prune did. */
export interface PruneStep {
  deleted: number;
  /** The last id the step looked at: the next step goes on after it. */
  lastId: number;
  /** The step reached the end of the table or rows too young to delete: the run is over. */
  done: boolean;
}

/**
 * One step of the relay's prune: of the `limit` rows after id `after`, in id order through the
 * primary key, deletes the published ones written before `before`. Ids grow with time, so the
 * run is over at the first step that meets a row too young to delete (a row a little out of
 * order is deleted by a later run). A step costs one short index walk whatever the table's size;
 * a single `delete … where created_at < …` scanned the whole outbox every minute. Rows still to
 * publish are kept, however old.
 */
export async function prunePublished(db: Db, before: Date, after = 0, limit = PRUNE_CHUNK): Promise<PruneStep> {
  const [row] = rowsOf<{ deleted: string | number; last_id: string | number | null; seen: string | number; young: string | number }>(
    await db.execute(sql`with head as (
        select o.id, o.created_at < ${before.toISOString()}::timestamptz as old, ${unpublished('o')} as waiting
        from outbox o where o.id > ${after} order by o.id limit ${limit}
      ),
      gone as (delete from outbox o using head h where o.id = h.id and h.old and not h.waiting returning 1)
      select (select count(*) from gone) as deleted, (select max(id) from head) as last_id,
        (select count(*) from head) as seen, (select count(*) from head where not old) as young`),
  );
  const seen = Number(row?.seen ?? 0);
  return {
    deleted: Number(row?.deleted ?? 0),
    lastId: row?.last_id == null ? after : Number(row.last_id),
    done: seen < limit || Number(row?.young ?? 0) > 0,
  };
}
