/**
 * `npx tsx bench/profile-child.ts`: what a daemon in a process of its own costs per webhook, for
 * comparing two versions of the code (not a benchmark: `npm run bench` is). A durable PostgreSQL
 * (fsync on), the daemon as `omnibus start` runs it, 4,200 webhooks of warm-up, then N at C in
 * flight (N=8000 C=32 by default) from this process. Prints req/s, p99, the daemon's and
 * PostgreSQL's CPU ms per webhook (from /proc, so the load generator is not counted), the
 * latter split by PostgreSQL process (a connection named by the last statement it ran: the pool
 * hands connections round, so this tells busy connections apart rather than jobs), and the
 * daemon's write/read syscalls per webhook.
 *
 * The box is shared and noisy: compare versions in alternating runs in one sitting (A B A B A B)
 * rather than against a figure from another hour. Settings through the env:
 * - NODE_FLAGS: node flags for the daemon, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` (written
 *   when the daemon exits) or `--trace-gc`;
 * - PERF=FILE: `perf record -g` of the daemon during the measured run into FILE (PERF_ALL=1: the
 *   whole machine, PostgreSQL and nats-server included);
 * - DAEMON_OUT=FILE: the daemon's stdout and stderr into FILE (for `--trace-deopt` and the like);
 *   the byte range the measured run wrote is printed, so `tail -c +START FILE | head -c LEN`
 *   shows only what happened after the warm-up.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, readFileSync, statSync } from 'node:fs';
import postgres from 'postgres';
import { startTestNats, startTestPostgres } from '../test/support/global-setup.ts';
import { writeChildConfig } from '../test/support/child-daemon.ts';
import { freePort } from '../test/support/services.ts';
import { signedWebhooks, whatsappChannelYaml } from './fixtures.ts';
import { runLoad } from './load.ts';
import { clusterCpuByPid, clusterCpuMs, postmasterOf, processCpuMs } from './costs.ts';

const N = Number(process.env.N ?? 8000);
const C = Number(process.env.C ?? 32);
const SENDERS = 600;
const SENDER_OFFSET = 800_000;

/** syscw/syscr of a process so far. */
function syscalls(pid: number): { writes: number; reads: number } {
  const fields = Object.fromEntries(readFileSync(`/proc/${pid}/io`, 'utf8').trim().split('\n').map((line) => line.split(': ')));
  return { writes: Number(fields.syscw), reads: Number(fields.syscr) };
}

/**
 * PostgreSQL's CPU between two readings per process, in ms per webhook: a background process by
 * its type, a connection by the start of the last statement it ran (which tells the ingest lane
 * from the relay), the postmaster with the processes that exited during the run as one row.
 */
async function postgresCpuByProcess(db: postgres.Sql, before: Map<number, number>, after: Map<number, number>): Promise<Record<string, number>> {
  const rows = await db<{ pid: number; backend_type: string; query: string }[]>`
    select pid, backend_type, left(regexp_replace(query, '[[:space:]]+', ' ', 'g'), 72) as query from pg_stat_activity`;
  const labels = new Map(rows.map((row) => [row.pid, row.backend_type === 'client backend' ? `connection: ${row.query}` : row.backend_type]));
  const perLabel: Record<string, number> = {};
  for (const [pid, ms] of after) {
    const label = pid === 0 ? 'postmaster + processes that exited' : (labels.get(pid) ?? 'other');
    perLabel[label] = (perLabel[label] ?? 0) + (ms - (before.get(pid) ?? 0)) / N;
  }
  return Object.fromEntries(Object.entries(perLabel).filter(([, ms]) => ms >= 0.001).sort((a, b) => b[1] - a[1]).map(([label, ms]) => [label, Number(ms.toFixed(3))]));
}

async function waitReady(url: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 120_000;
  while (!(await fetch(`${url}/readyz`).then((r) => r.ok, () => false))) {
    if (child.exitCode !== null) throw new Error(`the daemon exited with ${child.exitCode}`);
    if (Date.now() > deadline) throw new Error('the daemon did not become ready in 120 s');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

const pg = await startTestPostgres({ durable: true });
const nats = await startTestNats();
const port = await freePort();
const dir = await writeChildConfig({ databaseUrl: pg.url, natsUrl: nats.url, prefix: 'profile', port, accounts: { 'bench-wa.yaml': whatsappChannelYaml() } });
const flags = (process.env.NODE_FLAGS ?? '').split(' ').filter(Boolean);
const out = process.env.DAEMON_OUT ? openSync(process.env.DAEMON_OUT, 'w') : 'ignore';
const child = spawn(process.execPath, [...flags, 'bin/omnibus.mjs', 'start', '--config', dir], { stdio: ['ignore', out, out] });
const outSize = (): number => (process.env.DAEMON_OUT ? statSync(process.env.DAEMON_OUT).size : 0);
const url = `http://127.0.0.1:${port}`;
const sql = postgres(pg.url, { max: 1, onnotice: () => {} });
try {
  const [backend] = await sql<{ pid: number }[]>`select pg_backend_pid() as pid`;
  const postmaster = postmasterOf(backend!.pid);
  await waitReady(url, child);
  await runLoad(url, signedWebhooks({ count: 2 * SENDERS, senders: SENDERS, tag: 'W', senderOffset: SENDER_OFFSET }), C);
  await runLoad(url, signedWebhooks({ count: 3_000, senders: SENDERS, tag: 'W2', senderOffset: SENDER_OFFSET }), C);
  const requests = signedWebhooks({ count: N, senders: SENDERS, tag: 'M', senderOffset: SENDER_OFFSET });
  const perf = process.env.PERF
    ? spawn('perf', ['record', '-F', '999', '-g', ...(process.env.PERF_ALL === '1' ? ['-a'] : ['-p', String(child.pid)]), '-o', process.env.PERF], { stdio: 'ignore' })
    : null;
  if (perf) await new Promise((resolve) => setTimeout(resolve, 500));
  const out0 = outSize();
  const io0 = syscalls(child.pid!);
  const daemon0 = processCpuMs(child.pid!);
  const pg0 = clusterCpuMs(postmaster);
  const pgByPid0 = clusterCpuByPid(postmaster);
  const run = await runLoad(url, requests, C);
  const daemonMs = (processCpuMs(child.pid!) - daemon0) / N;
  const pgMs = (clusterCpuMs(postmaster) - pg0) / N;
  const pgByPid1 = clusterCpuByPid(postmaster);
  const postgresByProcess = await postgresCpuByProcess(sql, pgByPid0, pgByPid1);
  const io1 = syscalls(child.pid!);
  const out1 = outSize();
  if (perf) {
    perf.kill('SIGINT');
    await new Promise((resolve) => perf.on('exit', resolve));
  }
  console.log(JSON.stringify({
    requestsPerSecond: Math.round(run.requestsPerSecond),
    p99: Number(run.p99.toFixed(1)),
    non2xx: run.non2xx,
    cpuMsPerWebhook: { daemon: Number(daemonMs.toFixed(3)), postgres: Number(pgMs.toFixed(3)) },
    postgresCpuMsPerWebhookByProcess: postgresByProcess,
    syscallsPerWebhook: { writes: Number(((io1.writes - io0.writes) / N).toFixed(2)), reads: Number(((io1.reads - io0.reads) / N).toFixed(2)) },
    ...(process.env.DAEMON_OUT ? { daemonOutDuringRun: { start: out0 + 1, length: out1 - out0 } } : {}),
  }));
} finally {
  await sql.end({ timeout: 2 });
  child.kill('SIGTERM');
  if (child.exitCode === null) await new Promise((resolve) => child.on('exit', resolve));
  await nats.stop();
  await pg.stop();
}
