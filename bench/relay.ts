/**
 * Relay throughput: a pre-filled outbox drained by the daemon's own `OutboxRelay` (lease, batch
 * query, publish with `Nats-Msg-Id`, record progress), against the floor of what that work needs:
 * bare `js.publish` of the same payloads with an async window of 256 and a msgID, to a stream of
 * its own with the same settings.
 */
import { pino } from 'pino';
import { nanos } from '@nats-io/nats-core';
import { DiscardPolicy, RetentionPolicy, StorageType, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { sql } from 'drizzle-orm';
import { openDatabase, type Db } from '../src/core/storage/db.ts';
import { rowsOf } from '../src/core/storage/lease.ts';
import { outbox } from '../src/core/storage/schema.ts';
import { openBus } from '../src/core/nats/bus.ts';
import { OutboxRelay } from '../src/core/outbox-relay.ts';
import { createMetrics } from '../src/core/metrics.ts';
import { BENCH_ACCOUNT, outboxSeeds } from './fixtures.ts';

/** How long one drain took. */
export interface DrainResult {
  messages: number;
  /** From start until the stream holds every message, ms. */
  elapsedMs: number;
  messagesPerSecond: number;
  /** Relay only: until the relay's progress covers every outbox row, ms. */
  markedMs?: number;
  /** Messages in the stream afterwards (must equal `messages`: no loss, no duplicates). */
  inStream: number;
}

/** Everything the relay phase measured. */
export interface RelayBenchResult {
  rows: number;
  payloadBytes: number;
  insertRowsPerSecond: number;
  relay: DrainResult;
  /** The raw baseline, run once before and once after the relay (other load on the box drifts). */
  baselines: [DrainResult, DrainResult];
}

// Warnings and errors only, on stderr (stdout carries the results).
const QUIET_LOGGER = pino({ level: 'warn' }, pino.destination(2));
// Same duplicate window as the daemon's streams (src/core/nats/bus.ts), so dedupe costs the same.
const DUPLICATE_WINDOW_MS = 10 * 60_000;
const INSERT_ROWS_PER_STATEMENT = 1_000;
const BASELINE_WINDOW = 256;
/** A stalled relay fails the bench instead of hanging it. */
const DRAIN_TIMEOUT_MS = 120_000;

/** Fills a fresh outbox with `rows` rows; runs the raw baseline, the relay drain, the raw baseline again. */
export async function benchRelay(options: { databaseUrl: string; natsUrl: string; prefix: string; rows: number }): Promise<RelayBenchResult> {
  // dataDir is only used by PGlite; this is always PostgreSQL.
  const database = await openDatabase({ url: options.databaseUrl, dataDir: '/nonexistent', logger: QUIET_LOGGER });
  const bus = await openBus({ servers: options.natsUrl, prefix: options.prefix, logger: QUIET_LOGGER, name: 'omnibus-bench-relay' });
  try {
    await database.migrate();
    const subject = bus.subjects.evt.messageIn('whatsapp', BENCH_ACCOUNT.id);
    const seeds = outboxSeeds(options.rows, subject);
    const payloads = seeds.map((seed) => JSON.stringify(seed.payload));
    const payloadBytes = Math.round(payloads.reduce((sum, p) => sum + Buffer.byteLength(p), 0) / payloads.length);

    const createdAt = new Date();
    const insertStart = performance.now();
    for (let i = 0; i < seeds.length; i += INSERT_ROWS_PER_STATEMENT) {
      await database.db.insert(outbox).values(seeds.slice(i, i + INSERT_ROWS_PER_STATEMENT).map((seed) => ({ ...seed, createdAt })));
    }
    const insertMs = performance.now() - insertStart;
    // Fresh statistics, as autovacuum would have gathered on a table that filled up over time.
    await database.db.execute(sql`analyze outbox`);

    const before = await rawPublish(bus.js, bus.jsm, `${options.prefix}rawa`, payloads);
    const relay = await drainWithRelay(database.db, bus.js, bus.jsm, bus.streams.events, options.rows);
    const after = await rawPublish(bus.js, bus.jsm, `${options.prefix}rawb`, payloads);
    return { rows: options.rows, payloadBytes, insertRowsPerSecond: options.rows / (insertMs / 1000), relay, baselines: [before, after] };
  } finally {
    await bus.close();
    await database.close();
  }
}

async function drainWithRelay(
  db: Db,
  js: JetStreamClient,
  jsm: JetStreamManager,
  stream: string,
  rows: number,
): Promise<DrainResult> {
  const relay = new OutboxRelay(db, () => js, 'omnibus-bench-relay', QUIET_LOGGER, createMetrics());
  const start = performance.now();
  const deadline = start + DRAIN_TIMEOUT_MS;
  const overdue = (what: string) => {
    if (performance.now() > deadline) throw new Error(`relay drain: ${what} not done within ${DRAIN_TIMEOUT_MS} ms`);
  };
  relay.start();
  try {
    let inStream = 0;
    while (inStream < rows) {
      overdue(`${rows} messages in the stream (${inStream} so far)`);
      await pause(10);
      inStream = (await jsm.streams.info(stream)).state.messages;
    }
    const elapsedMs = performance.now() - start;
    // The last batch's progress is recorded after its acks come back.
    for (;;) {
      const [row] = rowsOf<{ pending: number }>(await db.execute(sql`select count(*)::int as pending from outbox_unpublished`));
      if (row?.pending === 0) break;
      overdue('progress covering every row');
      await pause(5);
    }
    const markedMs = performance.now() - start;
    inStream = (await jsm.streams.info(stream)).state.messages;
    return { messages: rows, elapsedMs, messagesPerSecond: rows / (elapsedMs / 1000), markedMs, inStream };
  } finally {
    await relay.stop();
  }
}

/** `js.publish` with at most BASELINE_WINDOW acks outstanding: the nats.js ceiling the relay sits on. */
async function rawPublish(js: JetStreamClient, jsm: JetStreamManager, prefix: string, payloads: string[]): Promise<DrainResult> {
  const stream = `${prefix.toUpperCase()}_RAW`;
  const subject = `${prefix}.v1.evt.message.in.whatsapp.${BENCH_ACCOUNT.id}`;
  await jsm.streams.add({
    name: stream,
    subjects: [`${prefix}.>`],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    duplicate_window: nanos(DUPLICATE_WINDOW_MS),
  });
  let next = 0;
  const start = performance.now();
  // BASELINE_WINDOW workers each awaiting their own ack = a window of that many in flight.
  const worker = async () => {
    for (;;) {
      const index = next++;
      if (index >= payloads.length) return;
      await js.publish(subject, payloads[index]!, { msgID: `raw-${index}`, timeout: 5_000 });
    }
  };
  await Promise.all(Array.from({ length: BASELINE_WINDOW }, worker));
  const elapsedMs = performance.now() - start;
  const inStream = (await jsm.streams.info(stream)).state.messages;
  return { messages: payloads.length, elapsedMs, messagesPerSecond: payloads.length / (elapsedMs / 1000), inStream };
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
