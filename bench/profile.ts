/**
 * `npx tsx bench/profile.ts`: where one closed-loop ingest run spends its time, for finding the
 * next thing to make cheaper (not a benchmark: `npm run bench` is). A daemon on a durable
 * PostgreSQL with pg_stat_statements, 600 known senders warmed up, then N webhooks at C in flight
 * (N=6000 C=32 by default). Prints req/s and latency, CPU ms per webhook of this process and of
 * PostgreSQL, write/read syscalls per webhook (/proc/self/io), commits per webhook, the mean
 * batch size, the rows written per webhook by table (with the share of updates that were HOT, i.e.
 * touched no index), and the statements by total and planning time. PROF=1 also writes a V8 CPU profile to
 * /tmp/omnibus-ingest.cpuprofile (open it in Chrome DevTools). Settings through the env:
 * OMNIBUS_BENCH_LANES (group-commit lanes).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { loadavg } from 'node:os';
import postgres from 'postgres';
import { startTestNats, startTestPostgres } from '../test/support/global-setup.ts';
import { startBenchDaemon } from './daemon.ts';
import { runLoad } from './load.ts';
import { signedWebhooks } from './fixtures.ts';
import { clusterCpuMs, postmasterOf, selfCpuMs } from './costs.ts';

const N = Number(process.env.N ?? 6000);
const C = Number(process.env.C ?? 32);
const PROFILE = process.env.PROF === '1';
const SENDERS = 600;

/** syscr/syscw of this process so far. */
function syscalls(): { reads: number; writes: number } {
  const fields = Object.fromEntries(readFileSync('/proc/self/io', 'utf8').trim().split('\n').map((line) => line.split(': ')));
  return { reads: Number(fields.syscr), writes: Number(fields.syscw) };
}

type TableWrites = { inserts: number; updates: number; hotUpdates: number; deletes: number };

/** Rows inserted, updated (HOT among them) and deleted so far, by table. */
async function tableWrites(db: postgres.Sql): Promise<Map<string, TableWrites>> {
  await db`select pg_stat_clear_snapshot()`;
  const rows = await db<{ relname: string; ins: string; upd: string; hot: string; del: string }[]>`
    select relname, n_tup_ins as ins, n_tup_upd as upd, n_tup_hot_upd as hot, n_tup_del as del from pg_stat_user_tables`;
  return new Map(rows.map((row) => [row.relname, { inserts: Number(row.ins), updates: Number(row.upd), hotUpdates: Number(row.hot), deletes: Number(row.del) }]));
}

const pg = await startTestPostgres({ durable: true, settings: { shared_preload_libraries: 'pg_stat_statements', 'pg_stat_statements.track': 'all', 'pg_stat_statements.track_planning': 'on' } });
const nats = await startTestNats();
const bench = await startBenchDaemon({ natsUrl: nats.url, prefix: 'profile', databaseUrl: pg.url });
const sql = postgres(pg.url, { max: 1, onnotice: () => {} });
try {
  const url = bench.daemon.url;
  const [backend] = await sql<{ pid: number }[]>`select pg_backend_pid() as pid`;
  const postmaster = postmasterOf(backend!.pid);
  await runLoad(url, signedWebhooks({ count: 2 * SENDERS, senders: SENDERS, tag: 'W' }), C);
  await sql`create extension if not exists pg_stat_statements`;
  await sql`select pg_stat_statements_reset()`;
  const commits = async () => Number((await sql<{ c: string }[]>`select xact_commit::bigint as c from pg_stat_database where datname = current_database()`)[0]!.c);
  const session = new Session();
  if (PROFILE) {
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 200 });
    await session.post('Profiler.start');
  }
  const tableWrites0 = await tableWrites(sql);
  const commits0 = await commits();
  const io0 = syscalls();
  const self0 = selfCpuMs();
  const pg0 = clusterCpuMs(postmaster);
  const result = await runLoad(url, signedWebhooks({ count: N, senders: SENDERS, tag: 'P' }), C);
  const selfMs = (selfCpuMs() - self0) / N;
  const pgMs = (clusterCpuMs(postmaster) - pg0) / N;
  const io1 = syscalls();
  if (PROFILE) {
    const { profile } = await session.post('Profiler.stop');
    writeFileSync('/tmp/omnibus-ingest.cpuprofile', JSON.stringify(profile));
  }
  const metrics = await (await fetch(`${url}/metrics`)).text();
  const metric = (name: string) => Number(metrics.split('\n').find((line) => line.startsWith(`${name} `))?.split(' ')[1] ?? Number.NaN);
  const round = (value: number, digits = 2) => Number(value.toFixed(digits));
  console.log(JSON.stringify({
    requestsPerSecond: Math.round(result.requestsPerSecond), p50: round(result.p50, 1), p99: round(result.p99, 1), non2xx: result.non2xx,
    cpuMsPerWebhook: { benchProcess: round(selfMs), postgres: round(pgMs) },
    syscallsPerWebhook: { writes: round((io1.writes - io0.writes) / N), reads: round((io1.reads - io0.reads) / N) },
    commitsPerWebhook: round(((await commits()) - commits0) / N, 3),
    meanBatch: round(metric('omnibus_ingest_batch_size_sum') / metric('omnibus_ingest_batch_size_count'), 1),
    loadAverage: loadavg().map((v) => round(v)),
  }));
  const statements = await sql<{ calls: string; ms: string; plan: string; plans: string; rows: string; query: string }[]>`
    select calls, round(total_exec_time::numeric, 1) as ms, round(total_plan_time::numeric, 1) as plan, plans, rows, left(regexp_replace(query, '[[:space:]]+', ' ', 'g'), 140) as query
    from pg_stat_statements order by total_exec_time desc limit 15`;
  // Backends flush their table counters at most once a second; wait for the last flush.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const tableWrites1 = await tableWrites(sql);
  for (const [table, after] of tableWrites1) {
    const before = tableWrites0.get(table) ?? { inserts: 0, updates: 0, hotUpdates: 0, deletes: 0 };
    const inserts = (after.inserts - before.inserts) / N;
    const updates = (after.updates - before.updates) / N;
    const deletes = (after.deletes - before.deletes) / N;
    if (inserts + updates + deletes < 0.005) continue;
    const hot = updates > 0 ? `${Math.round((100 * (after.hotUpdates - before.hotUpdates)) / N / updates)}% HOT` : '';
    console.log(`${table.padEnd(22)} per webhook: ${inserts.toFixed(2)} inserts, ${updates.toFixed(2)} updates ${hot}, ${deletes.toFixed(2)} deletes`);
  }
  for (const row of statements) console.log(`${row.ms.padStart(9)} ms ${row.calls.padStart(6)} calls ${row.plan.padStart(7)} ms in ${row.plans.padStart(4)} plans ${row.rows.padStart(6)} rows  ${row.query}`);
} finally {
  await sql.end({ timeout: 2 });
  await bench.stop();
  await nats.stop();
  await pg.stop();
}
