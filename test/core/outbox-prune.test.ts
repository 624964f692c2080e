/**
 * The relay's prune of published outbox rows, against real PostgreSQL and JetStream: rows past
 * the retention go, oldest first and a bounded step at a time; rows still to publish and young
 * rows stay; the relay's own loop prunes and counts what it deleted.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type postgres from 'postgres';
import { pino } from 'pino';
import type { Database } from '../../src/core/storage/db.ts';
import { openBus, type Bus } from '../../src/core/nats/bus.ts';
import { OutboxRelay } from '../../src/core/outbox-relay.ts';
import { prunePublished } from '../../src/core/outbox-progress.ts';
import { createMetrics } from '../../src/core/metrics.ts';
import { natsUrl, uniquePrefix, waitFor } from '../support/services.ts';
import { openMigratedTestDatabase, type MigratedTestDatabase } from '../support/migrated-database.ts';
import { insertOutboxRow } from '../support/outbox.ts';

const logger = pino({ level: 'silent' });
const DAY = 24 * 3600_000;

describe('outbox prune', () => {
  let store: MigratedTestDatabase;
  let db: Database;
  let bus: Bus;
  let sql: postgres.Sql;
  const prefix = uniquePrefix();
  let subject: string;
  let n = 0;
  const relays: OutboxRelay[] = [];

  /** Rows written `daysAgo` days ago, in id order; their msg ids. */
  const write = async (count: number, daysAgo: number, held = false): Promise<string[]> => {
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      const msgId = `p${++n}`;
      await insertOutboxRow(sql, { subject, msgId, payload: { n }, orderingKey: `k${n}`, held, createdAt: new Date(Date.now() - daysAgo * DAY) });
      ids.push(msgId);
    }
    return ids;
  };
  /** Publishes everything publishable, as the relay's holder does. */
  const publishAll = async () => {
    const made = new OutboxRelay(db.db, () => bus.js, 'prune-publisher', logger, createMetrics());
    relays.push(made);
    await made.drainOnce();
    await made.stop();
  };
  const left = async (msgIds: string[]) => (await sql<{ msg_id: string }[]>`select msg_id from outbox where msg_id = any(${msgIds}) order by id`).map((r) => r.msg_id);
  /** Runs prune steps of `limit` rows until the run is over; the rows deleted and the steps taken. */
  const pruneRun = async (before: Date, limit: number) => {
    let after = 0;
    let deleted = 0;
    for (let steps = 1; ; steps++) {
      const step = await prunePublished(db.db, before, after, limit);
      deleted += step.deleted;
      if (step.done) return { deleted, steps };
      expect(step.lastId).toBeGreaterThan(after);
      after = step.lastId;
    }
  };

  beforeAll(async () => {
    store = await openMigratedTestDatabase();
    ({ db, sql } = store);
    bus = await openBus({ servers: natsUrl(), prefix, logger });
    subject = bus.subjects.evt.messageIn('whatsapp', 'prune');
  });
  beforeEach(async () => {
    await sql`delete from outbox`;
  });
  afterAll(async () => {
    for (const each of relays) await each.stop().catch(() => {});
    await bus?.close();
    await store?.close();
  });

  it('deletes published rows past the retention in bounded steps, and keeps held and young rows', async () => {
    const old = await write(25, 9);
    const held = await write(1, 9, true);
    const oldToo = await write(5, 8);
    await publishAll();
    const young = await write(15, 1);
    await publishAll();

    // Steps of 10 rows: 31 old rows take four steps, and the fourth, meeting young rows, ends the
    // run although more rows follow.
    const run = await pruneRun(new Date(Date.now() - 7 * DAY), 10);
    expect(run.deleted).toBe(30);
    expect(run.steps).toBe(4);
    expect(await left([...old, ...oldToo])).toEqual([]);
    // The held row is still to publish (its media never came): never deleted, however old.
    expect(await left(held)).toEqual(held);
    expect(await left(young)).toEqual(young);

    // Nothing more to do: one step, which sees the held row and then the young ones.
    expect(await pruneRun(new Date(Date.now() - 7 * DAY), 10)).toEqual({ deleted: 0, steps: 1 });
  });

  it('an empty outbox is one step and deletes nothing', async () => {
    expect(await prunePublished(db.db, new Date(), 0, 10)).toEqual({ deleted: 0, lastId: 0, done: true });
  });

  it('rows not yet published are kept even past the retention', async () => {
    const unpublished = await write(3, 10);
    expect(await pruneRun(new Date(Date.now() - 7 * DAY), 10)).toEqual({ deleted: 0, steps: 1 });
    expect(await left(unpublished)).toEqual(unpublished);
    await publishAll();
    expect((await pruneRun(new Date(Date.now() - 7 * DAY), 10)).deleted).toBe(3);
    expect(await left(unpublished)).toEqual([]);
  });

  it("the relay's loop prunes what is past its retention and counts it", async () => {
    const old = await write(12, 2);
    const young = await write(2, 0);
    const metrics = createMetrics();
    const relay = new OutboxRelay(db.db, () => bus.js, 'prune-relay', logger, metrics, { retentionMs: DAY, idleMs: 20 });
    relays.push(relay);
    relay.start();
    // The first turn publishes them and starts a prune run (the next one would be a minute later).
    await waitFor(async () => (await left(old)).length === 0, { timeoutMs: 20_000, description: 'the old rows pruned' });
    await relay.stop();
    expect(await left(young)).toEqual(young);
    const pruned = (await metrics.registry.getSingleMetric('omnibus_outbox_pruned_total')!.get()).values[0]?.value;
    expect(pruned).toBe(12);
  });

  it('a prune that fails is not a publishing failure: events keep going out', async () => {
    const old = await write(3, 2);
    await publishAll();
    await sql.unsafe(`create function refuse_delete() returns trigger language plpgsql as $$ begin raise exception 'no deletes today'; end $$`);
    await sql.unsafe('create trigger refuse_delete before delete on outbox for each row execute function refuse_delete()');
    try {
      const metrics = createMetrics();
      const relay = new OutboxRelay(db.db, () => bus.js, 'prune-failing', logger, metrics, { retentionMs: DAY, idleMs: 20 });
      relays.push(relay);
      relay.start();
      const fresh = await write(2, 0);
      await waitFor(async () => (await sql`select count(*)::int as n from outbox_unpublished`)[0]!.n === 0, { timeoutMs: 20_000, description: 'the new rows published' });
      await relay.stop();
      expect(await left([...old, ...fresh])).toEqual([...old, ...fresh]);
      const failures = (await metrics.registry.getSingleMetric('omnibus_outbox_publish_failures_total')!.get()).values[0]?.value ?? 0;
      expect(failures).toBe(0);
    } finally {
      await sql.unsafe('drop trigger refuse_delete on outbox');
      await sql.unsafe('drop function refuse_delete()');
    }
  });
});
