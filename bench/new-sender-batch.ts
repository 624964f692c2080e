/**
 * One LINE webhook of 100 text events from 100 users nobody has seen, the batch LINE sends
 * under load, against a daemon on PostgreSQL: how long the answer takes and how many
 * statements and round trips it costs (counted on the wire, costs.ts). Run with the set-based
 * path and with the daemon option `ingestPerEventOnly` (the per-event path) in the same process, rounds
 * alternating, so both see the same box. `npx tsx bench/new-sender-batch.ts [rounds] [events]`.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { pino } from 'pino';
import { Daemon } from '../src/core/daemon.ts';
import { channels } from '../src/channels/index.ts';
import { identities } from '../src/extensions.ts';
import { lineSignature } from '../src/channels/line/verify.ts';
import { startTestNats, startTestPostgres } from '../test/support/global-setup.ts';
import { startWireCounter } from './costs.ts';
import { num, table } from './report.ts';

const SECRET = '8c570fa6dd201bb328f1c1eac23a96d8';
const EVENTS = Number(process.argv[3] ?? 100);
const ROUNDS = Number(process.argv[2] ?? 7);

async function startLineDaemon(natsUrl: string, prefix: string, databaseUrl: string, perEvent: boolean) {
  const dir = await mkdtemp(path.join(tmpdir(), 'omnibus-bench-line-'));
  await mkdir(path.join(dir, 'channels'));
  const yaml = ['http: { host: 127.0.0.1, port: 0 }', `nats: { url: "${natsUrl}", prefix: ${prefix} }`, `database: { url: "${databaseUrl}" }`, `dataDir: "${path.join(dir, 'data')}"`, 'log: { level: error }'];
  await writeFile(path.join(dir, 'omnibus.yaml'), `${yaml.join('\n')}\n`);
  await writeFile(path.join(dir, 'channels', 'bench-line.yaml'), ['id: bench-line', 'channel: line', `channelSecret: ${SECRET}`, 'channelAccessToken: bench-long-lived-channel-access-token-0123456789'].join('\n') + '\n');
  const daemon = await Daemon.start({ configDir: dir, channels, identities, env: {}, checkCredentials: false, watch: false, logDestination: pino.destination(2), ingestPerEventOnly: perEvent });
  return { daemon, stop: async () => { await daemon.stop(); await rm(dir, { recursive: true, force: true }); } };
}

let serial = 0;
/** A signed LINE batch of `EVENTS` text messages, each from a user never seen before. */
function newUsersBatch(tag: string): string {
  const now = Date.now();
  const events = Array.from({ length: EVENTS }, (_, i) => {
    serial++;
    return {
      type: 'message', mode: 'active', timestamp: now - 1_000 + i,
      source: { type: 'user', userId: `U${tag}${String(serial).padStart(32 - tag.length, '0')}` },
      webhookEventId: `01JBENCH${tag}${String(serial).padStart(18 - tag.length, '0')}`,
      deliveryContext: { isRedelivery: false },
      replyToken: `reply${String(serial).padStart(27, '0')}`,
      message: { id: String(800000000000000 + serial), type: 'text', quoteToken: `q${serial}`, text: `hello ${i}` },
    };
  });
  return JSON.stringify({ destination: 'U0123456789abcdef0123456789abcdef', events });
}

const nats = await startTestNats();
const pg = await startTestPostgres();
try {
  const admin = postgres(pg.url, { max: 1, onnotice: () => {} });
  const modes = [{ name: 'set-based', perEvent: false }, { name: 'per event (ingestPerEventOnly)', perEvent: true }];
  interface Run {
    mode: (typeof modes)[number];
    counter: Awaited<ReturnType<typeof startWireCounter>>;
    /** Timed: straight to PostgreSQL (the counting proxy would add its own latency). */
    timed: Awaited<ReturnType<typeof startLineDaemon>>;
    /** Counted: through the proxy, on the same database. */
    counted: Awaited<ReturnType<typeof startLineDaemon>>;
    times: number[];
    statements: number[];
    roundTrips: number[];
  }
  const runs: Run[] = [];
  for (const [index, mode] of modes.entries()) {
    const name = `omnibus_bench_newsenders_${index}`;
    await admin.unsafe(`create database ${name}`);
    const url = new URL(pg.url);
    url.pathname = `/${name}`;
    const counter = await startWireCounter(url.toString());
    const timed = await startLineDaemon(nats.url, `benchns${index}`, url.toString(), mode.perEvent);
    const counted = await startLineDaemon(nats.url, `benchnsc${index}`, counter.url, mode.perEvent);
    runs.push({ mode, counter, timed, counted, times: [], statements: [], roundTrips: [] });
  }
  const send = async (daemon: Daemon, tag: string) => {
    const body = newUsersBatch(tag);
    const started = performance.now();
    const response = await fetch(`${daemon.url}/webhooks/line/bench-line`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-line-signature': lineSignature(SECRET, body) }, body });
    await response.arrayBuffer();
    if (response.status !== 200) throw new Error(`LINE webhook answered ${response.status}`);
    return performance.now() - started;
  };
  const post = async (run: Run, tag: string) => {
    const ms = await send(run.timed.daemon, `${tag}T`);
    const before = run.counter.counts();
    await send(run.counted.daemon, `${tag}C`);
    const after = run.counter.counts();
    return { ms, statements: after.statements - before.statements, roundTrips: after.roundTrips - before.roundTrips };
  };
  // Warm-up: connections, prepared statements, JIT.
  for (const run of runs) for (let i = 0; i < 2; i++) await post(run, `W${runs.indexOf(run)}${i}`);
  const loadBefore = loadavg();
  for (let round = 0; round < ROUNDS; round++) {
    for (const run of round % 2 === 0 ? runs : [...runs].reverse()) {
      const r = await post(run, `R${runs.indexOf(run)}${round}`);
      run.times.push(r.ms);
      run.statements.push(r.statements);
      run.roundTrips.push(r.roundTrips);
    }
  }
  const loadAfter = loadavg();
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  console.log(`\nOne signed LINE POST of ${EVENTS} text events from ${EVENTS} new users, ${ROUNDS} rounds per path, PostgreSQL`);
  console.log(`load average before ${loadBefore.map((x) => x.toFixed(2)).join(' ')}, after ${loadAfter.map((x) => x.toFixed(2)).join(' ')}\n`);
  console.log(table(['path', 'answer median ms', 'min', 'max', 'statements', 'round trips'], runs.map((run) => [
    run.mode.name, num(median(run.times), 1), num(Math.min(...run.times), 1), num(Math.max(...run.times), 1), num(median(run.statements)), num(median(run.roundTrips)),
  ])));
  for (const run of runs) {
    await run.timed.stop();
    await run.counted.stop();
    await run.counter.close();
  }
  await admin.end();
} finally {
  await pg.stop();
  await nats.stop();
}
