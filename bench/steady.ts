/**
 * Steady-state ingest: known senders at fixed rates (open loop, 1,000/s and 3,000/s) with
 * answer latency and time to published, on PostgreSQL with fsync and synchronous_commit ON
 * (production settings, the headline) and OFF (the test server); a POST of 1,000 messages
 * while other webhooks keep arriving; resident memory. Then the embedded PGlite as a child
 * process of its own, so its RSS is the daemon's alone: idle, after a c=32 run, and the time
 * of a 1,000-message POST.
 */
import { readFileSync } from 'node:fs';
import { Agent } from 'node:http';
import postgres from 'postgres';
import { connect } from '@nats-io/transport-node';
import type { TestServer } from '../test/support/global-setup.ts';
import { spawnDaemon, writeChildConfig } from '../test/support/child-daemon.ts';
import { freePort } from '../test/support/services.ts';
import { subjects as subjectsFor } from '../src/core/schemas/subjects.ts';
import { BENCH_ACCOUNT, signedBigWebhook, signedWebhooks, whatsappChannelYaml } from './fixtures.ts';
import { clusterCpuMs, postmasterOf, processCpuMs, selfCpuMs } from './costs.ts';
import { startBenchDaemon } from './daemon.ts';
import { runLoad } from './load.ts';
import { runOpenLoop, send, type OpenLoopResult } from './open-loop.ts';
import { num, type Cell } from './report.ts';

/** Known senders of the steady runs (each opened its conversation in the warm-up). */
const SENDERS = 600;
const SENDER_OFFSET = 500_000;
const SECONDS_PER_RATE = 3;
/** How long the daemon in its own process is driven at 1,000/s: long enough for its RSS to settle. */
const SUSTAINED_SECONDS = 20;
const RATES = [1_000, 3_000];

const mib = (bytes: number) => `${num(bytes / 2 ** 20)} MiB`;

/** How long a PGlite daemon is left alone after it is ready before its idle RSS is read. */
const IDLE_SETTLE_MS = 15_000;

/** VmRSS of a process, bytes. */
function rssOf(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'));
  return Number(line?.match(/\d+/)?.[0] ?? 0) * 1024;
}

async function postmasterPid(url: string): Promise<number> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const [row] = await sql<{ pid: number }[]>`select pg_backend_pid() as pid`;
    return postmasterOf(row!.pid);
  } finally {
    await sql.end({ timeout: 2 });
  }
}

/** Times one POST. */
async function timedPost(baseUrl: string, request: ReturnType<typeof signedBigWebhook>): Promise<{ ms: number; status: number }> {
  const agent = new Agent({ keepAlive: false });
  const started = performance.now();
  const status = await send(agent, new URL(baseUrl), request);
  agent.destroy();
  return { ms: performance.now() - started, status };
}

/** Rows for one PostgreSQL cluster. */
async function onPostgres(options: { label: string; databaseUrl: string; natsUrl: string; prefix: string; tag: string; log: (m: string) => void }): Promise<Cell[][]> {
  const { label, prefix, tag } = options;
  const postmaster = await postmasterPid(options.databaseUrl);
  const bench = await startBenchDaemon({ natsUrl: options.natsUrl, prefix, databaseUrl: options.databaseUrl });
  const nc = await connect({ servers: options.natsUrl });
  const subject = subjectsFor(prefix).evt.messageIn('whatsapp', BENCH_ACCOUNT.id);
  const rows: Cell[][] = [];
  try {
    const { url } = bench.daemon;
    const warm = await runLoad(url, signedWebhooks({ count: SENDERS, senders: SENDERS, tag: `${tag}W`, senderOffset: SENDER_OFFSET }), 32);
    if (warm.non2xx > 0) throw new Error(`${label}: ${warm.non2xx} warm-up webhooks not answered 2xx`);
    for (const rate of RATES) {
      options.log(`${label}: open loop at ${num(rate)}/s for ${SECONDS_PER_RATE} s (known senders)`);
      const requests = signedWebhooks({ count: rate * SECONDS_PER_RATE, senders: SENDERS, tag: `${tag}R${rate}`, senderOffset: SENDER_OFFSET });
      const self0 = selfCpuMs();
      const pg0 = clusterCpuMs(postmaster);
      const result = await runOpenLoop({ baseUrl: url, requests, rate, nc, subject });
      const selfMs = (selfCpuMs() - self0) / requests.length;
      const pgMs = (clusterCpuMs(postmaster) - pg0) / requests.length;
      rows.push(...rateRows(label, result, selfMs, pgMs, process.memoryUsage().rss));
    }
    options.log(`${label}: one POST of 1,000 messages while webhooks arrive at 200/s`);
    const big = signedBigWebhook({ count: 1_000, senders: SENDERS, tag: `${tag}BIG`, senderOffset: SENDER_OFFSET });
    const beside = signedWebhooks({ count: 400, senders: SENDERS, tag: `${tag}BESIDE`, senderOffset: SENDER_OFFSET });
    const [post, others] = await Promise.all([timedPost(url, big), runOpenLoop({ baseUrl: url, requests: beside, rate: 200, nc, subject })]);
    rows.push(
      [`${label}: POST of 1,000 messages (known senders), answered in ms`, `${num(post.ms)} (status ${post.status})`, null, null],
      ['  meanwhile 200 webhooks/s: p50 / p99 answer ms', `${num(others.answerP50, 1)} / ${num(others.answerP99, 1)}`, null, null],
    );
  } finally {
    await nc.close();
    await bench.stop();
  }
  return rows;
}

/** Where an open loop's slowest answers fall: the first second, or spread over the rest. */
function tailOf(windows: ReadonlyArray<number>): string {
  const first = windows.slice(0, 5);
  const rest = [...windows.slice(5)].sort((a, b) => a - b);
  if (rest.length === 0) return `${num(Math.max(0, ...first))} / —`;
  return `${num(Math.max(0, ...first))} / ${num(rest[rest.length >> 1]!)}, ${num(rest[rest.length - 1]!)}`;
}

function rateRows(label: string, r: OpenLoopResult, selfMs: number, pgMs: number, rss: number): Cell[][] {
  return [
    [`${label}: open loop ${num(r.rate)}/s, N=${num(r.requests)} (sent at ${num(r.sentRate)}/s): p50 / p99 answer ms`, `${num(r.answerP50, 1)} / ${num(r.answerP99, 1)}`, null, null],
    ['  time to published p50 / p99 ms; answered but not published', `${num(r.publishedP50, 1)} / ${num(r.publishedP99, 1)}; ${r.unpublished}`, null, null],
    ['  non-2xx', num(r.non2xx), null, null],
    ['  CPU ms per webhook: bench process (daemon + generator) / PostgreSQL', `${num(selfMs, 2)} / ${num(pgMs, 2)}`, null, null],
    ['  RSS of the bench process (daemon + generator) after the run', mib(rss), null, null],
  ];
}

/**
 * A daemon on PostgreSQL (fsync on) in a process of its own, driven at 1,000/s open loop: its
 * RSS and CPU are its own, without the load generator's (in sandbox mode, as `npm start` runs).
 */
async function onPostgresChild(options: { databaseUrl: string; natsUrl: string; prefix: string; tag: string; log: (m: string) => void }): Promise<Cell[][]> {
  const postmaster = await postmasterPid(options.databaseUrl);
  const port = await freePort();
  const dir = await writeChildConfig({ databaseUrl: options.databaseUrl, natsUrl: options.natsUrl, prefix: options.prefix, port, accounts: { 'bench-wa.yaml': whatsappChannelYaml() } });
  const child = spawnDaemon(dir, port);
  const nc = await connect({ servers: options.natsUrl });
  try {
    await child.waitReady(120_000);
    const warm = await runLoad(child.url, signedWebhooks({ count: SENDERS, senders: SENDERS, tag: `${options.tag}W`, senderOffset: 800_000 }), 32);
    if (warm.non2xx > 0) throw new Error(`PostgreSQL child: ${warm.non2xx} warm-up webhooks not answered 2xx`);
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const idle = rssOf(child.pid);
    const rate = RATES[0]!;
    options.log(`PostgreSQL child: open loop at ${num(rate)}/s for ${SUSTAINED_SECONDS} s`);
    const requests = signedWebhooks({ count: rate * SUSTAINED_SECONDS, senders: SENDERS, tag: `${options.tag}R`, senderOffset: 800_000 });
    const daemon0 = processCpuMs(child.pid);
    const pg0 = clusterCpuMs(postmaster);
    let peak = 0;
    const sampler = setInterval(() => (peak = Math.max(peak, rssOf(child.pid))), 250);
    const subject = subjectsFor(options.prefix).evt.messageIn('whatsapp', BENCH_ACCOUNT.id);
    const result = await runOpenLoop({ baseUrl: child.url, requests, rate, nc, subject }).finally(() => clearInterval(sampler));
    const daemonMs = (processCpuMs(child.pid) - daemon0) / requests.length;
    const pgMs = (clusterCpuMs(postmaster) - pg0) / requests.length;
    return [
      ['PostgreSQL daemon (own process, fsync on): RSS idle after a warm-up', mib(idle), null, null],
      [`  open loop ${num(rate)}/s, N=${num(requests.length)} (sent at ${num(result.sentRate)}/s): p50 / p99 answer ms`, `${num(result.answerP50, 1)} / ${num(result.answerP99, 1)}`, null, null],
      ['  time to published p50 / p99 ms; answered but not published; non-2xx', `${num(result.publishedP50, 1)} / ${num(result.publishedP99, 1)}; ${result.unpublished}; ${result.non2xx}`, null, null],
      ['  CPU ms per webhook: daemon process alone / PostgreSQL', `${num(daemonMs, 2)} / ${num(pgMs, 2)}`, null, null],
      ['  largest answer in each 200 ms, ms: first second (max) / afterwards (median, max)', tailOf(result.windowMaxMs), null, null],
      [`  RSS of the daemon during the ${SUSTAINED_SECONDS} s: peak / after`, `${mib(peak)} / ${mib(rssOf(child.pid))}`, null, null],
    ];
  } finally {
    await nc.close();
    await child.kill();
  }
}

/** The embedded PGlite in a daemon process of its own. */
export async function runPgliteChildBench(options: { natsUrl: string; prefix: string; tag: string; log: (m: string) => void }): Promise<Cell[][]> {
  const port = await freePort();
  const dir = await writeChildConfig({ databaseUrl: null, natsUrl: options.natsUrl, prefix: options.prefix, port, accounts: { 'bench-wa.yaml': whatsappChannelYaml() } });
  const child = spawnDaemon(dir, port);
  try {
    await child.waitReady(120_000);
    // Idle: once the start's own work (migrations, leases, template syncs) has settled.
    await new Promise((resolve) => setTimeout(resolve, IDLE_SETTLE_MS));
    const idle = rssOf(child.pid);
    options.log('PGlite child: c=32, 1,000 webhooks (1 in 6 from a new sender)');
    const run = await runLoad(child.url, signedWebhooks({ count: 1_000, senders: 170, tag: `${options.tag}L`, senderOffset: 700_000 }), 32);
    const loaded = rssOf(child.pid);
    // The first run after start is cold (V8 has compiled little of the path yet, and so has
    // PGlite's WASM): two more rounds from other senders, the last one reported as warm.
    options.log('PGlite child: two more rounds of 1,000 webhooks, warm');
    let warm = run;
    let warmCpuMs = 0;
    for (const round of [1, 2]) {
      const cpu0 = processCpuMs(child.pid);
      warm = await runLoad(child.url, signedWebhooks({ count: 1_000, senders: 170, tag: `${options.tag}L${round}`, senderOffset: 700_000 + round * 1_000 }), 32);
      warmCpuMs = (processCpuMs(child.pid) - cpu0) / 1_000;
    }
    options.log('PGlite child: one POST of 1,000 messages');
    const post = await timedPost(child.url, signedBigWebhook({ count: 1_000, senders: 170, tag: `${options.tag}LBIG`, senderOffset: 700_000 }));
    return [
      [`PGlite daemon (own process, new data directory): RSS idle ${IDLE_SETTLE_MS / 1000} s after start`, mib(idle), null, null],
      [`  c=32, N=1,000, the first run after start: req/s (non-2xx)`, `${num(run.requestsPerSecond)} (${run.non2xx})`, null, null],
      ['  RSS after that run', mib(loaded), null, null],
      [`  c=32, N=1,000, third round (warm): req/s (non-2xx); daemon CPU ms per webhook`, `${num(warm.requestsPerSecond)} (${warm.non2xx}); ${num(warmCpuMs, 2)}`, null, null],
      ['  POST of 1,000 messages (known senders), answered in ms', `${num(post.ms)} (status ${post.status})`, null, null],
    ];
  } finally {
    await child.kill();
  }
}

/** All steady-state rows (metric | omnibus | — | —). */
export async function runSteadyBench(options: {
  nats: TestServer;
  durable: TestServer;
  fast: TestServer;
  createDatabase(server: TestServer, name: string): Promise<string>;
  tag: string;
  log: (m: string) => void;
}): Promise<Cell[][]> {
  const t = options.tag.toLowerCase();
  const rows: Cell[][] = [];
  rows.push(...(await onPostgres({ label: 'PostgreSQL fsync+sync commit ON', databaseUrl: await options.createDatabase(options.durable, `omnibus_bench_steady_on_${t}`), natsUrl: options.nats.url, prefix: 'benchon', tag: `${options.tag}ON`, log: options.log })));
  rows.push(...(await onPostgres({ label: 'PostgreSQL fsync+sync commit OFF', databaseUrl: await options.createDatabase(options.fast, `omnibus_bench_steady_off_${t}`), natsUrl: options.nats.url, prefix: 'benchoff', tag: `${options.tag}OFF`, log: options.log })));
  rows.push(...(await onPostgresChild({ databaseUrl: await options.createDatabase(options.durable, `omnibus_bench_child_${t}`), natsUrl: options.nats.url, prefix: 'benchpgchild', tag: `${options.tag}PC`, log: options.log })));
  rows.push(...(await runPgliteChildBench({ natsUrl: options.nats.url, prefix: 'benchchild', tag: `${options.tag}CH`, log: options.log })));
  return rows;
}
