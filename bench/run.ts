/**
 * `npm run bench`: the inbound path measured on this machine, each figure next to a baseline
 * taken in the same run on the same box, so a reader sees the daemon's cost rather than the
 * machine's speed. Starts its own PostgreSQL and nats-server (the test suite's helpers),
 * prints tables on stdout (progress on stderr), removes everything, exits 0. It never
 * asserts a timing: on a shared 2-core box figures move by ±20 % or far more from run to run,
 * with whatever else is running (the load average is printed for that reason).
 *
 * Phases: HTTP baselines (round 1) → daemon on PostgreSQL (ingest c=32 with publish lag, ingest
 * c=1, duplicate re-posts) → baselines (round 2) → daemon on PGlite → baselines (round 3) →
 * raw js.publish, relay drain of a pre-filled outbox, raw js.publish again.
 * See docs/performance.md for what each figure means.
 */
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { startTestNats, startTestPostgres, type TestServer } from '../test/support/global-setup.ts';
import { findNatsServer } from '../src/core/nats/local-server.ts';
import { streams as streamsFor, subjects as subjectsFor } from '../src/core/schemas/subjects.ts';
import { runLoad, type LoadResult, type PreparedRequest } from './load.ts';
import { BENCH_ACCOUNT, signedStatuses, signedWebhooks } from './fixtures.ts';
import { clusterCpuMs, postmasterOf, selfCpuMs, startWireCounter, type WireCounts } from './costs.ts';
import { startBenchDaemon } from './daemon.ts';
import { startBaselineServer } from './baseline-servers.ts';
import { benchRelay, type RelayBenchResult } from './relay.ts';
import { runOutboundBench } from './outbound.ts';
import { runContactsBench } from './contacts.ts';
import { runSearchBench } from './search.ts';
import { num, ratio, table, type Cell } from './report.ts';
import { runPgliteChildBench, runSteadyBench } from './steady.ts';

/** Sizes of each phase; small enough that the whole run stays under ~3 minutes on 2 cores. */
const SIZES = {
  /** Webhooks per concurrent ingest run, and in the same run against the baselines. */
  ingest: 3_000,
  concurrency: 32,
  /** Webhooks in the one-at-a-time run. */
  sequential: 1_000,
  /** Already-recorded webhooks posted again. */
  duplicates: 1_000,
  /** Webhooks in the embedded-PGlite run. */
  pglite: 1_000,
  /** Warm-up webhooks before each measured run (JIT, connection pool, first-insert costs). */
  warmup: 300,
  /** Rows pre-filled into the outbox for the relay drain. */
  relayRows: 50_000,
  /** Each sender sends this many of a run's messages: 1 of them opens the conversation. */
  messagesPerSender: 6,
  /** Webhooks of each kind in the statement-count phase (one at a time). */
  wireKind: 100,
};

/** `OMNIBUS_BENCH_ONLY=ingest`: baselines, the PostgreSQL ingest phase and the costs only (~1 min). */
const INGEST_ONLY = process.env.OMNIBUS_BENCH_ONLY === 'ingest';
/** `OMNIBUS_BENCH_ONLY=search`: the list and search pages alone (bench/search.ts, ~3 min with seeding). */
const SEARCH_ONLY = process.env.OMNIBUS_BENCH_ONLY === 'search';
/** `OMNIBUS_BENCH_ONLY=pglite`: bare-hono baselines and the PGlite phases only (~2 min). */
const PGLITE_ONLY = process.env.OMNIBUS_BENCH_ONLY === 'pglite';

/** CPU ms per webhook of one measured run: this process (daemon + load generator) and PostgreSQL. */
interface CpuCost {
  selfMsPerRequest: number;
  pgMsPerRequest: number | null;
}

/** The postmaster of the bench's PostgreSQL, for CPU figures (set in main). */
let postmasterPid = 0;

/** Runs one load and the CPU both sides spent on it. */
async function measuredLoad(url: string, requests: PreparedRequest[], concurrency: number, withPg: boolean): Promise<{ result: LoadResult; cpu: CpuCost }> {
  const self0 = selfCpuMs();
  const pg0 = withPg ? clusterCpuMs(postmasterPid) : 0;
  const result = await runLoad(url, requests, concurrency);
  const selfMs = selfCpuMs() - self0;
  const pgMs = withPg ? clusterCpuMs(postmasterPid) - pg0 : null;
  return { result, cpu: { selfMsPerRequest: selfMs / requests.length, pgMsPerRequest: pgMs === null ? null : pgMs / requests.length } };
}

const say = (message: string) => process.stderr.write(`bench: ${message}\n`);

/** Undone in reverse order at the end, on failure, and on Ctrl-C. */
const cleanups: Array<() => Promise<void>> = [];

async function cleanUp(): Promise<void> {
  while (cleanups.length > 0) {
    const cleanup = cleanups.pop()!;
    await cleanup().catch((error: unknown) => say(`cleanup failed: ${error instanceof Error ? error.message : String(error)}`));
  }
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    say(`${signal}: stopping servers`);
    void cleanUp().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  });
}

/** One round of the HTTP baselines. */
interface BaselineRound {
  bare: LoadResult;
  bareCpu: CpuCost;
  bareSequential: LoadResult;
  barePglite: LoadResult;
  verify: LoadResult;
  verifyCpu: CpuCost;
}

/** The run with the median throughput, so its latencies belong to one real run. */
function medianRun(results: LoadResult[]): LoadResult {
  const sorted = [...results].sort((a, b) => a.requestsPerSecond - b.requestsPerSecond);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** One labelled HTTP run, for the detail table. */
interface NamedRun {
  name: string;
  result: LoadResult;
}

/** What one daemon phase measured. */
interface DaemonPhase {
  concurrent: LoadResult;
  concurrentCpu: CpuCost;
  /** First webhook sent → every message.in event of the run in the stream, ms. */
  publishLagMs: number;
  /** Last answer read → every message.in event in the stream, ms. */
  publishTailMs: number;
  /** Every event the relay published during the run (message.in + session.opened + contact.created). */
  eventsPublished: number;
  sequential?: LoadResult;
  duplicates?: { result: LoadResult; newMessages: number; newOutboxRows: number; newEvents: number };
}

async function main(): Promise<void> {
  if (SEARCH_ONLY) return searchOnly();
  if (PGLITE_ONLY) return pgliteOnly();
  const started = performance.now();
  const facts = await machineFacts();
  say('starting PostgreSQL and nats-server');
  const [pg, durable, nats] = await Promise.all([startTestPostgres(), startTestPostgres({ durable: true }), startTestNats()]);
  cleanups.push(() => nats.stop(), () => pg.stop(), () => durable.stop());
  const pgVersion = await withAdmin(pg, async (sql) => (await sql<{ v: string }[]>`select version() as v`)[0]!.v);
  // Read while the backend is alive: its parent is the postmaster.
  postmasterPid = await withAdmin(pg, async (sql) => postmasterOf((await sql<{ pid: number }[]>`select pg_backend_pid() as pid`)[0]!.pid));
  const nc = await connect({ servers: nats.url, name: 'omnibus-bench' });
  cleanups.push(() => nc.close());
  const jsm = await jetstreamManager(nc);
  const tag = randomBytes(3).toString('hex').toUpperCase();

  const runs: NamedRun[] = [];
  const record = (name: string, result: LoadResult) => {
    runs.push({ name, result });
    say(`${name}: ${num(result.requestsPerSecond)} req/s, p99 ${num(result.p99, 1)} ms, non-2xx ${result.non2xx}`);
    return result;
  };

  // Baselines: the same HTTP stack and load generator, no daemon. Measured in three rounds (before,
  // between and after the daemon phases) because whatever else runs on the box drifts; the
  // summary takes the median round.
  const servers = { bare: await startBaselineServer('bare'), verify: await startBaselineServer('verify') };
  cleanups.push(() => servers.bare.close(), () => servers.verify.close());
  for (const server of Object.values(servers)) {
    await runLoad(server.url, webhooks(SIZES.warmup, `${tag}W`), SIZES.concurrency);
  }
  const rounds: BaselineRound[] = [];
  const baselineRound = async () => {
    const n = rounds.length + 1;
    const c = SIZES.concurrency;
    const bare = await measuredLoad(servers.bare.url, webhooks(SIZES.ingest, `${tag}A`), c, false);
    record(`bare hono (read body, 200), c=${c} [round ${n}]`, bare.result);
    const bareSequential = record(`bare hono (read body, 200), c=1 [round ${n}]`, await runLoad(servers.bare.url, webhooks(SIZES.sequential, `${tag}S`), 1));
    const barePglite = record(`bare hono (read body, 200), c=${c}, N=${num(SIZES.pglite)} [round ${n}]`, await runLoad(servers.bare.url, webhooks(SIZES.pglite, `${tag}L`), c));
    const verify = await measuredLoad(servers.verify.url, webhooks(SIZES.ingest, `${tag}A`), c, false);
    record(`hono + verify + parse (no DB), c=${c} [round ${n}]`, verify.result);
    rounds.push({ bare: bare.result, bareCpu: bare.cpu, bareSequential, barePglite, verify: verify.result, verifyCpu: verify.cpu });
  };

  await baselineRound();
  say(`daemon on PostgreSQL: ${SIZES.ingest} webhooks at c=${SIZES.concurrency}`);
  const ingestDb = await createDatabase(pg, `omnibus_bench_ingest_${tag.toLowerCase()}`);
  const onPostgres = await daemonPhase({ nats, jsm, databaseUrl: ingestDb, prefix: 'benchpg', tag, count: SIZES.ingest, full: true, record });

  say('costs: statements and round trips per webhook, through a counting proxy');
  const wire = await wirePhase({ nats, pg, prefix: 'benchwire', tag });

  say('steady state: open loop at fixed rates, fsync on and off; 1,000-message POSTs; RSS');
  const steady = await runSteadyBench({ nats, durable, fast: pg, createDatabase, tag, log: say });

  let onPglite: DaemonPhase | null = null;
  let relay: RelayBenchResult | null = null;
  const extra: Cell[][] = [];
  if (INGEST_ONLY) {
    await baselineRound();
  } else {
    await baselineRound();
    // The embedded default when database.url is null.
    say(`daemon on PGlite: ${SIZES.pglite} webhooks at c=${SIZES.concurrency}`);
    onPglite = await daemonPhase({ nats, jsm, databaseUrl: null, prefix: 'benchlite', tag, count: SIZES.pglite, full: false, record });
    await baselineRound();

    say(`relay: filling the outbox with ${num(SIZES.relayRows)} rows, then draining it`);
    const relayDb = await createDatabase(pg, `omnibus_bench_relay_${tag.toLowerCase()}`);
    relay = await benchRelay({ databaseUrl: relayDb, natsUrl: nats.url, prefix: 'benchrelay', rows: SIZES.relayRows });
    say(`relay: ${num(relay.relay.messagesPerSecond)} msgs/s; raw js.publish: ${relay.baselines.map((b) => num(b.messagesPerSecond)).join(' and ')} msgs/s`);

    say('outbound: sends at the configured rate, then with limits lifted');
    const outboundDb = await createDatabase(pg, `omnibus_bench_outbound_${tag.toLowerCase()}`);
    extra.push(...(await runOutboundBench({ natsUrl: nats.url, databaseUrl: outboundDb, log: say })));

    say('contacts: merges of contacts with 100,000 messages; timeline pages at 1,000,000 messages');
    const contactsDb = await createDatabase(pg, `omnibus_bench_contacts_${tag.toLowerCase()}`);
    extra.push(...(await runContactsBench({ databaseUrl: contactsDb })));

    say('lists: contact search, conversation and message pages at 100,000 contacts and 1,100,000 messages');
    const listsDb = await createDatabase(pg, `omnibus_bench_lists_${tag.toLowerCase()}`);
    extra.push(...(await runSearchBench({ databaseUrl: listsDb })));
  }

  const medianRound = [...rounds].sort((a, b) => a.bare.requestsPerSecond - b.bare.requestsPerSecond)[Math.floor(rounds.length / 2)]!;
  const baselines = {
    bareCpu: medianRound.bareCpu,
    verifyCpu: [...rounds].sort((a, b) => a.verify.requestsPerSecond - b.verify.requestsPerSecond)[Math.floor(rounds.length / 2)]!.verifyCpu,
    bare: medianRun(rounds.map((r) => r.bare)),
    bareSequential: medianRun(rounds.map((r) => r.bareSequential)),
    barePglite: medianRun(rounds.map((r) => r.barePglite)),
    verify: medianRun(rounds.map((r) => r.verify)),
  };
  const totalSeconds = (performance.now() - started) / 1000;
  print({ facts, pgVersion, runs, baselines, onPostgres, onPglite, relay, wire, totalSeconds, extra, steady });
}

/** `count` fresh signed webhooks for a run, `messagesPerSender` per sender. */
function webhooks(count: number, runTag: string, senderOffset = 0): PreparedRequest[] {
  return signedWebhooks({ count, senders: Math.ceil(count / SIZES.messagesPerSender), tag: runTag, senderOffset });
}

/** Starts a daemon, warms it up, measures ingest and publish lag (and, if `full`, c=1 and duplicates), stops it. */
async function daemonPhase(options: {
  nats: TestServer;
  jsm: JetStreamManager;
  databaseUrl: string | null;
  prefix: string;
  tag: string;
  count: number;
  full: boolean;
  record: (name: string, result: LoadResult) => LoadResult;
}): Promise<DaemonPhase> {
  const { jsm, prefix, record } = options;
  const kind = options.databaseUrl ? 'PostgreSQL' : 'PGlite';
  const bench = await startBenchDaemon({ natsUrl: options.nats.url, prefix, databaseUrl: options.databaseUrl });
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await bench.stop();
  };
  cleanups.push(stop);
  try {
    const { url } = bench.daemon;
    const stream = streamsFor(prefix).events;
    const messageIn = subjectsFor(prefix).evt.messageIn('whatsapp', BENCH_ACCOUNT.id);
    // Warm-up senders are not reused, so the measured run opens its own conversations.
    const warmup = await runLoad(url, webhooks(SIZES.warmup, `${options.tag}${prefix}W`, 900_000), SIZES.concurrency);
    if (warmup.non2xx > 0) throw new Error(`${kind} daemon answered ${warmup.non2xx} warm-up webhooks with non-2xx; see the log on stderr`);
    await waitForCount(jsm, stream, messageIn, SIZES.warmup);
    const eventsBefore = (await jsm.streams.info(stream)).state.messages;

    const requests = webhooks(options.count, `${options.tag}${prefix}A`);
    const expected = SIZES.warmup + options.count;
    const published = waitForCount(jsm, stream, messageIn, expected);
    const measured = await measuredLoad(url, requests, SIZES.concurrency, options.databaseUrl !== null);
    const concurrent = record(`omnibus on ${kind}, c=${SIZES.concurrency}`, measured.result);
    const publishedAt = await published;
    const eventsPublished = (await jsm.streams.info(stream)).state.messages - eventsBefore;
    const phase: DaemonPhase = {
      concurrent,
      concurrentCpu: measured.cpu,
      publishLagMs: publishedAt - concurrent.startedAt,
      publishTailMs: Math.max(0, publishedAt - concurrent.finishedAt),
      eventsPublished,
    };
    say(`${kind}: all ${options.count} message.in events in the stream ${num(phase.publishLagMs)} ms after the first webhook`);
    if (!options.full) return phase;

    phase.sequential = record(`omnibus on ${kind}, c=1`, await runLoad(url, webhooks(SIZES.sequential, `${options.tag}${prefix}S`), 1));
    await waitForCount(jsm, stream, messageIn, expected + SIZES.sequential);

    // Meta redelivers what it could not confirm: the same bytes, the same signature.
    const sql = postgres(options.databaseUrl!, { max: 1, onnotice: () => {} });
    try {
      const counts = async () => {
        const [row] = await sql<{ messages: number; outbox: number }[]>`
          select (select count(*)::int from messages) as messages, (select count(*)::int from outbox) as outbox`;
        return { ...row!, events: (await jsm.streams.info(stream)).state.messages };
      };
      const before = await counts();
      const result = record(`omnibus on ${kind}, duplicates, c=${SIZES.concurrency}`, await runLoad(url, requests.slice(0, SIZES.duplicates), SIZES.concurrency));
      // Anything a duplicate had wrongly recorded would be published well within this.
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      const after = await counts();
      phase.duplicates = {
        result,
        newMessages: after.messages - before.messages,
        newOutboxRows: after.outbox - before.outbox,
        newEvents: after.events - before.events,
      };
    } finally {
      await sql.end({ timeout: 2 });
    }
    return phase;
  } finally {
    await stop();
  }
}

/** Statements and round trips per webhook of one kind. */
interface WireKind {
  name: string;
  concurrency: number;
  statements: number;
  roundTrips: number;
  non2xx: number;
}

/**
 * Runs each kind of webhook through a daemon whose database URL points at a counting proxy,
 * with the relay stopped (its reads and marks would mix into the counts; they are the relay's
 * cost, measured by the drain). One at a time, then known senders at c=32, where webhooks can
 * share a transaction.
 */
async function wirePhase(options: { nats: TestServer; pg: TestServer; prefix: string; tag: string }): Promise<WireKind[]> {
  const db = await createDatabase(options.pg, `omnibus_bench_wire_${options.tag.toLowerCase()}`);
  const counter = await startWireCounter(db);
  cleanups.push(() => counter.close());
  const bench = await startBenchDaemon({ natsUrl: options.nats.url, prefix: options.prefix, databaseUrl: counter.url });
  try {
    await bench.daemon.relay.stop();
    const { url } = bench.daemon;
    const k = SIZES.wireKind;
    const t = `${options.tag}WIRE`;
    // Warm-up: connections open, JIT done, before anything is counted.
    await runLoad(url, signedWebhooks({ count: 100, senders: 20, tag: `${t}W`, senderOffset: 800_000 }), 4);
    const kinds: WireKind[] = [];
    const count = async (name: string, requests: PreparedRequest[], concurrency: number) => {
      const before: WireCounts = counter.counts();
      const result = await runLoad(url, requests, concurrency);
      const after = counter.counts();
      kinds.push({ name, concurrency, statements: (after.statements - before.statements) / requests.length, roundTrips: (after.roundTrips - before.roundTrips) / requests.length, non2xx: result.non2xx });
    };
    const known = signedWebhooks({ count: k, senders: k, tag: `${t}K` });
    await count('new sender (contact, conversation, session opened)', signedWebhooks({ count: k, senders: k, tag: `${t}N` }), 1);
    await count('known sender (follow-up message)', known, 1);
    await count('redelivery (same bytes again)', known, 1);
    await count('status (delivery receipt)', signedStatuses({ count: k, tag: `${t}S` }), 1);
    await count(`known sender, c=${SIZES.concurrency}`, signedWebhooks({ count: k * 5, senders: k, tag: `${t}C` }), SIZES.concurrency);
    return kinds;
  } finally {
    await bench.stop();
    await counter.close();
  }
}

/**
 * Polls the stream until `subject` holds `target` messages; resolves with performance.now()
 * at that moment. Polling every 10 ms bounds the error of the lag figure to about that.
 */
async function waitForCount(jsm: JetStreamManager, stream: string, subject: string, target: number, timeoutMs = 120_000): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const info = await jsm.streams.info(stream, { subjects_filter: subject });
    const count = info.state.subjects?.[subject] ?? 0;
    if (count >= target) return performance.now();
    if (performance.now() > deadline) throw new Error(`only ${count} of ${target} events reached ${subject} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Runs `work` on a short-lived connection to the server's `postgres` database. */
async function withAdmin<T>(server: TestServer, work: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const sql = postgres(server.url, { max: 1, onnotice: () => {} });
  try {
    return await work(sql);
  } finally {
    await sql.end({ timeout: 2 });
  }
}

/** The search phase alone, with the load average before and after (other work on the box moves every figure). */
async function searchOnly(): Promise<void> {
  const facts = await machineFacts();
  const pg = await startTestPostgres();
  cleanups.push(() => pg.stop());
  const rows = await runSearchBench({ databaseUrl: await createDatabase(pg, 'omnibus_bench_lists') });
  const out = ['# omnibus bench: lists and search only', '', table(['fact', 'value'], Object.entries(facts)), ''];
  out.push(`Load average at the end (1/5/15 min): ${loadavg().map((l) => num(l, 2)).join(' / ')}`, '');
  out.push(table(['metric', 'omnibus', 'baseline', 'ratio'], rows), '');
  process.stdout.write(out.join('\n'));
}

/**
 * The embedded database alone: bare hono before and after (the median of three runs is the
 * baseline), the in-process PGlite phase, then a PGlite daemon in a process of its own (RSS,
 * c=32, a 1,000-message POST). No PostgreSQL is started.
 */
async function pgliteOnly(): Promise<void> {
  const facts = await machineFacts();
  const nats = await startTestNats();
  cleanups.push(() => nats.stop());
  const nc = await connect({ servers: nats.url, name: 'omnibus-bench' });
  cleanups.push(() => nc.close());
  const jsm = await jetstreamManager(nc);
  const tag = randomBytes(3).toString('hex').toUpperCase();
  const runs: NamedRun[] = [];
  const record = (name: string, result: LoadResult) => {
    runs.push({ name, result });
    say(`${name}: ${num(result.requestsPerSecond)} req/s, p99 ${num(result.p99, 1)} ms, non-2xx ${result.non2xx}`);
    return result;
  };
  const bare = await startBaselineServer('bare');
  cleanups.push(() => bare.close());
  await runLoad(bare.url, webhooks(SIZES.warmup, `${tag}W`), SIZES.concurrency);
  const c = SIZES.concurrency;
  const bareRun = async (n: number) => record(`bare hono (read body, 200), c=${c}, N=${num(SIZES.pglite)} [round ${n}]`, await runLoad(bare.url, webhooks(SIZES.pglite, `${tag}L${n}`), c));
  const baselines = [await bareRun(1)];
  say(`daemon on PGlite: ${SIZES.pglite} webhooks at c=${c}`);
  const phase = await daemonPhase({ nats, jsm, databaseUrl: null, prefix: 'benchlite', tag, count: SIZES.pglite, full: false, record });
  baselines.push(await bareRun(2));
  say('PGlite daemon in its own process: RSS, c=32, a 1,000-message POST');
  const child = await runPgliteChildBench({ natsUrl: nats.url, prefix: 'benchchild', tag: `${tag}CH`, log: say });
  baselines.push(await bareRun(3));
  const base = medianRun(baselines);
  const lite = phase.concurrent;
  const rows: Cell[][] = [
    [`ingest on PGlite, c=${c}, N=${num(lite.requests)}: req/s`, num(lite.requestsPerSecond), `${num(base.requestsPerSecond)} (bare hono)`, ratio(lite.requestsPerSecond, base.requestsPerSecond)],
    ['  p50 / p99 latency, ms', `${num(lite.p50, 1)} / ${num(lite.p99, 1)}`, `${num(base.p50, 1)} / ${num(base.p99, 1)}`, ratio(lite.p99, base.p99)],
    ['  non-2xx', num(lite.non2xx), num(base.non2xx), null],
    [`publish lag, PGlite: 1st webhook → all ${num(lite.requests)} in stream, ms`, num(phase.publishLagMs), null, null],
    ['  after the last answer, ms', num(phase.publishTailMs), null, null],
    ...child.map((row) => [...row.slice(0, 2), null, null]),
  ];
  const out = ['# omnibus bench: PGlite only', '', table(['fact', 'value'], Object.entries(facts)), ''];
  out.push(`Load average at the end (1/5/15 min): ${loadavg().map((l) => num(l, 2)).join(' / ')}`, '');
  out.push(table(['run', 'N', 'req/s', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms', 'non-2xx'], runs.map(({ name, result: r }) => [
    name, r.requests, r.requestsPerSecond, num(r.p50, 2), num(r.p95, 2), num(r.p99, 2), num(r.max, 1), r.non2xx,
  ])), '');
  out.push(table(['metric', 'omnibus', 'baseline', 'ratio'], rows), '');
  process.stdout.write(out.join('\n'));
}

/** Creates an empty database on the throwaway server (removed with it) and returns its URL. */
async function createDatabase(server: TestServer, name: string): Promise<string> {
  await withAdmin(server, (sql) => sql.unsafe(`create database ${name}`));
  const url = new URL(server.url);
  url.pathname = `/${name}`;
  return url.toString();
}

/** Facts a reader needs to compare figures across machines. */
async function machineFacts(): Promise<Record<string, string>> {
  const binary = await findNatsServer();
  const nats = binary ? spawnSync(binary, ['--version'], { encoding: 'utf8' }) : null;
  return {
    node: process.version,
    nproc: String(availableParallelism()),
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    memory: `${num(totalmem() / 2 ** 30, 1)} GiB`,
    'nats-server': nats?.stdout?.trim().replace(/^nats-server:\s*/, '') || 'unknown',
    // Anything else running on the box takes cores from both the daemon and its baseline.
    'load average at start (1/5/15 min)': loadavg().map((l) => num(l, 2)).join(' / '),
  };
}

function print(data: {
  facts: Record<string, string>;
  pgVersion: string;
  runs: NamedRun[];
  baselines: Record<'bare' | 'bareSequential' | 'barePglite' | 'verify', LoadResult> & { bareCpu: CpuCost; verifyCpu: CpuCost };
  onPostgres: DaemonPhase;
  onPglite: DaemonPhase | null;
  relay: RelayBenchResult | null;
  wire: WireKind[];
  /** Rows of the outbound and contacts parts (metric | omnibus | baseline | ratio). */
  extra: Cell[][];
  /** Open-loop, 1,000-message POST and RSS rows (bench/steady.ts). */
  steady: Cell[][];
  totalSeconds: number;
}): void {
  const { facts, baselines, onPostgres: pgPhase, onPglite: litePhase, relay } = data;
  const out: string[] = [];
  out.push('', '## Machine', '');
  out.push(table(['fact', 'value'], [
    ...Object.entries(facts).map(([k, v]): Cell[] => [k, v]),
    ['PostgreSQL', data.pgVersion.split(' on ')[0]!],
    ['PostgreSQL settings', 'test server: fsync=off, synchronous_commit=off; steady-state headline: a second cluster with both on'],
    ['load generator', 'same process, node:http keep-alive, closed loop'],
    ['load average at end (1/5/15 min)', loadavg().map((l) => num(l, 2)).join(' / ')],
  ]));

  out.push('', '## HTTP runs (latency = request written → answer read)', '');
  out.push(table(['run', 'N', 'req/s', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms', 'non-2xx'], data.runs.map(({ name, result: r }) => [
    name, r.requests, r.requestsPerSecond, num(r.p50, 2), num(r.p95, 2), num(r.p99, 2), num(r.max, 1), r.non2xx,
  ])));

  const pg = pgPhase.concurrent;
  const seq = pgPhase.sequential!;
  const dup = pgPhase.duplicates!;
  const { bare, bareSequential: bare1, verify, barePglite: bareLite, bareCpu, verifyCpu } = baselines;
  const c = SIZES.concurrency;
  const cpu = pgPhase.concurrentCpu;
  const ms = (value: number | null) => (value === null ? null : num(value, 2));
  const rows: Cell[][] = [
    [`ingest on PostgreSQL, c=${c}, N=${num(pg.requests)}: req/s`, num(pg.requestsPerSecond), `${num(bare.requestsPerSecond)} (bare hono)`, ratio(pg.requestsPerSecond, bare.requestsPerSecond)],
    ['  p50 latency, ms', num(pg.p50, 1), num(bare.p50, 1), ratio(pg.p50, bare.p50)],
    ['  p95 latency, ms', num(pg.p95, 1), num(bare.p95, 1), ratio(pg.p95, bare.p95)],
    ['  p99 latency, ms', num(pg.p99, 1), num(bare.p99, 1), ratio(pg.p99, bare.p99)],
    ['  non-2xx', num(pg.non2xx), num(bare.non2xx), null],
    ['  CPU ms per webhook, bench process (daemon + load generator)', ms(cpu.selfMsPerRequest), `${ms(bareCpu.selfMsPerRequest)} (bare hono + load generator)`, ratio(cpu.selfMsPerRequest, bareCpu.selfMsPerRequest)],
    ['  CPU ms per webhook, daemon alone (bench process − bare hono)', ms(cpu.selfMsPerRequest - bareCpu.selfMsPerRequest), null, null],
    ['  CPU ms per webhook, PostgreSQL cluster (all its processes)', ms(cpu.pgMsPerRequest), null, null],
    [`  same load, verify + parse only (no DB): req/s`, null, `${num(verify.requestsPerSecond)} (hono+verify)`, ratio(pg.requestsPerSecond, verify.requestsPerSecond)],
    ['  same load, verify + parse only: CPU ms per webhook (bench process)', null, ms(verifyCpu.selfMsPerRequest), ratio(cpu.selfMsPerRequest, verifyCpu.selfMsPerRequest)],
    [`ingest on PostgreSQL, c=1, N=${num(seq.requests)}: req/s`, num(seq.requestsPerSecond), `${num(bare1.requestsPerSecond)} (bare hono)`, ratio(seq.requestsPerSecond, bare1.requestsPerSecond)],
    ['  p50 / p99 latency, ms', `${num(seq.p50, 2)} / ${num(seq.p99, 2)}`, `${num(bare1.p50, 2)} / ${num(bare1.p99, 2)}`, ratio(seq.p50, bare1.p50)],
    [`publish lag, PostgreSQL: 1st webhook → all ${num(pg.requests)} in stream, ms`, num(pgPhase.publishLagMs), null, null],
    ['  after the last answer, ms', num(pgPhase.publishTailMs), null, null],
    ['  events published by the relay meanwhile, events/s', `${num(pgPhase.eventsPublished / (pgPhase.publishLagMs / 1000))} (${num(pgPhase.eventsPublished)} events)`, null, null],
  ];
  if (litePhase) {
    const lite = litePhase.concurrent;
    rows.push(
      [`ingest on PGlite, c=${c}, N=${num(lite.requests)}: req/s`, num(lite.requestsPerSecond), `${num(bareLite.requestsPerSecond)} (bare hono)`, ratio(lite.requestsPerSecond, bareLite.requestsPerSecond)],
      ['  p50 / p99 latency, ms', `${num(lite.p50, 1)} / ${num(lite.p99, 1)}`, `${num(bareLite.p50, 1)} / ${num(bareLite.p99, 1)}`, ratio(lite.p99, bareLite.p99)],
      ['  non-2xx', num(lite.non2xx), num(bareLite.non2xx), null],
      [`publish lag, PGlite: 1st webhook → all ${num(lite.requests)} in stream, ms`, num(litePhase.publishLagMs), null, null],
      ['  after the last answer, ms', num(litePhase.publishTailMs), null, null],
    );
  }
  if (relay) {
    // The mean of the raw runs before and after the relay's drain.
    const [rawBefore, rawAfter] = relay.baselines;
    const rawRate = (rawBefore.messagesPerSecond + rawAfter.messagesPerSecond) / 2;
    const rawMs = (rawBefore.elapsedMs + rawAfter.elapsedMs) / 2;
    rows.push(
      [`relay drain, ${num(relay.rows)} rows × ${num(relay.payloadBytes)} B: msgs/s`, num(relay.relay.messagesPerSecond), `${num(rawRate)} (js.publish, window 256; ${num(rawBefore.messagesPerSecond)} before, ${num(rawAfter.messagesPerSecond)} after)`, ratio(relay.relay.messagesPerSecond, rawRate)],
      ['  time to drain, s', num(relay.relay.elapsedMs / 1000, 2), num(rawMs / 1000, 2), ratio(relay.relay.elapsedMs, rawMs)],
      ['  until the relay progress covers every row, s', num(relay.relay.markedMs! / 1000, 2), null, null],
      ['  messages in stream afterwards', num(relay.relay.inStream), `${num(rawBefore.inStream)} / ${num(rawAfter.inStream)}`, null],
    );
  }
  rows.push(
    [`duplicate re-posts on PostgreSQL, c=${c}, N=${num(dup.result.requests)}: req/s`, num(dup.result.requestsPerSecond), `${num(bare.requestsPerSecond)} (bare hono)`, ratio(dup.result.requestsPerSecond, bare.requestsPerSecond)],
    ['  p99 latency, ms', num(dup.result.p99, 1), num(bare.p99, 1), ratio(dup.result.p99, bare.p99)],
    ['  new message rows / outbox rows / stream events', `${dup.newMessages} / ${dup.newOutboxRows} / ${dup.newEvents}`, null, null],
    ['  non-2xx', num(dup.result.non2xx), null, null],
    ...data.extra,
  );
  out.push('', '## Summary (ratio = omnibus ÷ baseline; HTTP baselines are the median of the rounds)', '');
  out.push(table(['metric', 'omnibus', 'baseline', 'ratio'], rows));
  out.push('', `## Statements and round trips per webhook (${num(SIZES.wireKind)} of each kind, relay stopped, counted on the wire)`, '');
  out.push(table(['webhook', 'in flight', 'statements', 'round trips', 'non-2xx'], data.wire.map((k) => [k.name, k.concurrency, num(k.statements, 1), num(k.roundTrips, 1), k.non2xx])));
  out.push('', '## Steady state: known senders, open loop (latency from the moment a request was due)', '');
  out.push(table(['metric', 'omnibus', '', ''], data.steady));
  if (relay) out.push('', `Outbox bulk insert before the drain: ${num(relay.insertRowsPerSecond)} rows/s (1,000 rows per statement).`);
  out.push('', `Total bench time: ${num(data.totalSeconds, 1)} s.`, '');
  process.stdout.write(out.join('\n'));
}

try {
  await main();
} catch (error) {
  process.exitCode = 1;
  say(`failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
} finally {
  await cleanUp();
}
