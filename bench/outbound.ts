/**
 * The outbound part of `npm run bench`: a daemon in sandbox mode sends to its built-in fake
 * Graph API. (1) N sends to one account at its configured rate: the rate achieved, measured on
 * the fake's own request log, and how many 130429 the fake answered; (2) with the limits
 * lifted, the daemon's own ceiling in sends/s next to (3) a bare baseline: the same fake,
 * standalone, called directly at the same box. Messages are accepted first (over HTTP, itself
 * measured) while another holder has the account's sending lease, so the send figures start
 * from a full queue. Status webhooks are held back: the fake posts them one at a time.
 */
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { serve } from '@hono/node-server';
import { pino } from 'pino';
import postgres from 'postgres';
import { Daemon } from '../src/core/daemon.ts';
import { channels } from '../src/channels/index.ts';
import { identities } from '../src/extensions.ts';
import { createFake, type WhatsAppFake } from '../src/channels/whatsapp/sandbox.ts';
import { systemClock } from '../src/core/clock.ts';
import { createOutbound, type OutboundExtension } from '../src/outbound/index.ts';
import { queueRate } from '../src/outbound/account-queue.ts';
import { runLoad, type PreparedRequest } from './load.ts';
import { num, ratio, type Cell } from './report.ts';

/** Sizes of the outbound runs (about a minute in all on a 2-core box). */
export const OUTBOUND_SIZES = { rate: 80, seconds: 30, ceiling: 1_500, customers: 100, acceptConcurrency: 16, baselineConcurrency: 64 };

const TOKEN = 'bench-api-token-0123456789';
const ACCOUNTS = {
  paced: { id: 'bench-paced', phoneNumberId: '106540352242001' },
  open: { id: 'bench-open', phoneNumberId: '106540352242002' },
};
const SECRETS = { accessToken: 'bench-access-token', appSecret: 'bench-app-secret', verifyToken: 'bench-verify-token' };
const TEXT = 'Your order 4471 ships on Friday. Reply here if anything should change before then.';

/** Every call the fake's send endpoint answered. */
type Call = { at: number; phoneNumberId: string; status: number; code: number | null };

/**
 * Runs the outbound benchmark against `databaseUrl` (an empty database) and the nats-server at
 * `natsUrl`; returns rows for the summary table: `[metric, omnibus, baseline, ratio]`.
 */
export async function runOutboundBench(options: { natsUrl: string; databaseUrl: string; log?: (message: string) => void; sizes?: Partial<typeof OUTBOUND_SIZES> }): Promise<Cell[][]> {
  const sizes = { ...OUTBOUND_SIZES, ...options.sizes };
  const log = options.log ?? (() => undefined);
  const dir = await mkdtemp(path.join(tmpdir(), 'omnibus-bench-out-'));
  const sql = postgres(options.databaseUrl, { max: 2, onnotice: () => {} });
  const outbound = createOutbound();
  let daemon: Daemon | null = null;
  try {
    daemon = await startDaemon(dir, options, sizes.rate, outbound);
    const fake = daemon.fakes.get('whatsapp') as WhatsAppFake;
    fake.holdStatuses(true);
    fake.setThroughput(sizes.rate);
    const calls = recordCalls(fake);
    log(`outbound: ${sizes.customers} customers write to each of two accounts`);
    const customers = Array.from({ length: sizes.customers }, (_, i) => String(4_930_000_000 + i));
    for (const account of Object.values(ACCOUNTS)) {
      for (let i = 0; i < customers.length; i += 16) {
        await Promise.all(customers.slice(i, i + 16).map((from) => fake.simulateCustomer(account.phoneNumberId, { from, text: 'hi', name: `Customer ${from}` })));
      }
    }
    await hold(sql, outbound, Object.values(ACCOUNTS).map((a) => a.id));

    const paced = sizes.rate * sizes.seconds;
    log(`outbound: accepting ${paced + sizes.ceiling} sends over HTTP at c=${sizes.acceptConcurrency}`);
    const accept = await runLoad(daemon.url, [...sends(ACCOUNTS.paced.id, customers, paced), ...sends(ACCOUNTS.open.id, customers, sizes.ceiling)], sizes.acceptConcurrency);
    if (accept.non2xx > 0) throw new Error(`${accept.non2xx} sends were not accepted; see the log on stderr`);

    log(`outbound: ${paced} sends at ${sizes.rate}/s (about ${sizes.seconds} s)`);
    await release(sql, ACCOUNTS.paced.id);
    const pacedCalls = await until(calls, ACCOUNTS.paced.phoneNumberId, paced, sizes.seconds * 3_000);
    // Calls leave in bursts (a fifth of the rate every fifth of a second): N calls take N/rate
    // seconds counted from the first burst to the END of the last one, i.e. one interval past it.
    const drained = (pacedCalls.at(-1)!.at - pacedCalls[0]!.at + queueRate(sizes.rate).intervalMs) / 1000;
    const achieved = pacedCalls.length / drained;
    const throttled = pacedCalls.filter((c) => c.code === 130429).length;
    const busiest = busiestSecond(pacedCalls);
    log(`outbound: achieved ${num(achieved, 1)}/s of ${sizes.rate}/s, ${throttled} × 130429`);

    log(`outbound: ${sizes.ceiling} sends with the limits lifted`);
    fake.setThroughput(1_000_000_000);
    await release(sql, ACCOUNTS.open.id);
    const openCalls = await until(calls, ACCOUNTS.open.phoneNumberId, sizes.ceiling, 120_000);
    const ceiling = (openCalls.length - 1) / ((openCalls.at(-1)!.at - openCalls[0]!.at) / 1000);
    const accounts = [...daemon.config.accounts.values()] as unknown as Parameters<typeof createFake>[0]['accounts'];
    await daemon.stop();
    daemon = null;

    log(`outbound: baseline, the fake called directly at c=${sizes.baselineConcurrency}`);
    const baseline = await directBaseline(accounts, customers, sizes.ceiling, sizes.baselineConcurrency);
    log(`outbound: ceiling ${num(ceiling)} sends/s; fake alone ${num(baseline)} req/s`);
    return [
      [`outbound paced, rateLimit ${sizes.rate}/s, N=${num(paced)}: sends/s`, num(achieved, 1), `${sizes.rate} (configured)`, ratio(achieved, sizes.rate)],
      ['  130429 answers from the fake (its token bucket runs at the same rate)', num(throttled), '0', null],
      ['  busiest rolling second, sends', num(busiest), null, null],
      [`outbound ceiling, limits lifted, N=${num(sizes.ceiling)}: sends/s`, num(ceiling), `${num(baseline)} (fake called directly, c=${sizes.baselineConcurrency})`, ratio(ceiling, baseline)],
      [`accept, POST /v1/messages c=${sizes.acceptConcurrency}, N=${num(accept.requests)}: req/s`, num(accept.requestsPerSecond), null, null],
      ['  p50 / p99 latency, ms', `${num(accept.p50, 1)} / ${num(accept.p99, 1)}`, null, null],
    ];
  } finally {
    await daemon?.stop().catch(() => undefined);
    await sql.end({ timeout: 2 });
    await rm(dir, { recursive: true, force: true });
  }
}

async function startDaemon(dir: string, options: { natsUrl: string; databaseUrl: string }, rate: number, outbound: OutboundExtension): Promise<Daemon> {
  await mkdir(path.join(dir, 'channels'));
  const yaml = [
    'http: { host: 127.0.0.1, port: 0 }',
    `nats: { url: "${options.natsUrl}", prefix: benchout }`,
    `database: { url: "${options.databaseUrl}" }`,
    `dataDir: "${path.join(dir, 'data')}"`,
    `api: { tokens: [{ token: ${TOKEN}, scopes: [read, write] }] }`,
    'log: { level: warn }',
    'sandbox: true',
  ];
  await writeFile(path.join(dir, 'omnibus.yaml'), `${yaml.join('\n')}\n`);
  for (const [kind, account] of Object.entries(ACCOUNTS)) {
    const perSecond = kind === 'paced' ? rate : 100_000;
    const file = [`id: ${account.id}`, 'channel: whatsapp', `phoneNumberId: "${account.phoneNumberId}"`, ...Object.entries(SECRETS).map(([k, v]) => `${k}: ${v}`), `rateLimit: { perSecond: ${perSecond} }`];
    await writeFile(path.join(dir, 'channels', `${account.id}.yaml`), `${file.join('\n')}\n`);
  }
  return Daemon.start({ configDir: dir, channels, identities, env: {}, checkCredentials: false, watch: false, extensions: [outbound], logDestination: pino.destination(2) });
}

/** Wraps the fake's fetch to log every answer of its send endpoint. */
function recordCalls(fake: WhatsAppFake): Call[] {
  const calls: Call[] = [];
  const original = fake.fetch.bind(fake);
  fake.fetch = async (request: Request) => {
    const at = performance.now();
    const response = await original(request);
    const match = /\/([0-9]+)\/messages$/.exec(new URL(request.url).pathname);
    if (request.method === 'POST' && match) {
      const code = response.status === 200 ? null : (((await response.clone().json()) as { error?: { code?: number } }).error?.code ?? null);
      calls.push({ at, phoneNumberId: match[1]!, status: response.status, code });
    }
    return response;
  };
  return calls;
}

/** Prepared `POST /v1/messages` bodies: `count` texts, round robin over the customers. */
function sends(account: string, customers: string[], count: number): PreparedRequest[] {
  return Array.from({ length: count }, (_, i) => ({
    path: '/v1/messages',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: Buffer.from(JSON.stringify({ idempotencyKey: `${account}-${i}`, account, to: { externalId: customers[i % customers.length] }, parts: [{ type: 'text', text: TEXT }] })),
  }));
}

/** Takes the accounts' sending leases away from the daemon (as another replica would hold them). */
async function hold(sql: postgres.Sql, outbound: OutboundExtension, accounts: string[]): Promise<void> {
  for (const account of accounts) {
    await sql`insert into leases (name, holder, expires_at) values (${`send:${account}`}, 'bench', now() + interval '10 minutes')
      on conflict (name) do update set holder = 'bench', expires_at = excluded.expires_at`;
  }
  const deadline = Date.now() + 30_000;
  while (accounts.some((account) => outbound.sender.get(account)?.isLeader)) {
    if (Date.now() > deadline) throw new Error('the daemon kept its sending leases');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function release(sql: postgres.Sql, account: string): Promise<void> {
  await sql`delete from leases where name = ${`send:${account}`} and holder = 'bench'`;
}

/** Waits until `count` calls for a number were answered; returns them in order. */
async function until(calls: Call[], phoneNumberId: string, count: number, timeoutMs: number): Promise<Call[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const mine = calls.filter((c) => c.phoneNumberId === phoneNumberId && c.status === 200);
    if (mine.length >= count) return calls.filter((c) => c.phoneNumberId === phoneNumberId);
    if (Date.now() > deadline) throw new Error(`only ${mine.length} of ${count} sends reached the fake within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function busiestSecond(calls: Call[]): number {
  let busiest = 0;
  let start = 0;
  for (let end = 0; end < calls.length; end++) {
    while (calls[end]!.at - calls[start]!.at >= 1000) start++;
    busiest = Math.max(busiest, end - start + 1);
  }
  return busiest;
}

/** The fake alone on its own port, its send endpoint called directly: the platform side's ceiling on this box. */
async function directBaseline(accounts: Parameters<typeof createFake>[0]['accounts'], customers: string[], count: number, concurrency: number): Promise<number> {
  const fake = createFake({ accounts, clock: systemClock });
  fake.holdStatuses(true);
  fake.setThroughput(1_000_000_000);
  for (const customer of customers) fake.noteInbound(ACCOUNTS.open.phoneNumberId, customer);
  const server = await new Promise<Server>((resolve) => {
    const s = serve({ fetch: fake.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s as Server)) as Server;
  });
  try {
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const requests: PreparedRequest[] = Array.from({ length: count }, (_, i) => ({
      path: `/v23.0/${ACCOUNTS.open.phoneNumberId}/messages`,
      headers: { authorization: `Bearer ${SECRETS.accessToken}`, 'content-type': 'application/json' },
      body: Buffer.from(JSON.stringify({ messaging_product: 'whatsapp', recipient_type: 'individual', to: customers[i % customers.length], type: 'text', text: { body: TEXT } })),
    }));
    await runLoad(url, requests.slice(0, 300), concurrency);
    const result = await runLoad(url, requests, concurrency);
    if (result.non2xx > 0) throw new Error(`the fake refused ${result.non2xx} direct sends`);
    return result.requestsPerSecond;
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
