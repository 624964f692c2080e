/**
 * Starts a real daemon for a test: a temp config directory written as an operator would,
 * a fresh PostgreSQL database (or PGlite), the shared test NATS server with a unique prefix.
 * Also reads what a helpdesk would receive from JetStream.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createHmac } from 'node:crypto';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JsMsg } from '@nats-io/jetstream';
import postgres from 'postgres';
import { Daemon, type DaemonOptions } from '../../src/core/daemon.ts';
import { channels } from '../../src/channels/index.ts';
import { extensions, identities } from '../../src/extensions.ts';
import { ManualClock, type Clock } from '../../src/core/clock.ts';
import { createTestDatabase, natsUrl, tempDir, uniquePrefix } from './services.ts';

export const API_TOKEN = 'test-token-0123456789abcdef';
export const WA = {
  account: 'acme-wa',
  phoneNumberId: '106540352242922',
  appSecret: 'test-app-secret',
  accessToken: 'test-access-token',
  verifyToken: 'test-verify-token',
};

/** A WhatsApp channel file for the test account. */
export function whatsappAccountYaml(overrides: Record<string, string> = {}): string {
  const fields = {
    id: WA.account,
    channel: 'whatsapp',
    phoneNumberId: `"${WA.phoneNumberId}"`,
    accessToken: WA.accessToken,
    appSecret: WA.appSecret,
    verifyToken: WA.verifyToken,
    ...overrides,
  };
  return Object.entries(fields).map(([k, v]) => `${k}: ${v}`).join('\n') + '\n';
}

/** Options for `startTestDaemon`. */
export interface TestDaemonOptions {
  accounts?: Record<string, string>;
  /** Use embedded PGlite instead of the test PostgreSQL server. */
  pglite?: boolean;
  /** Reuse an existing database / prefix / dir (second replica, restart). */
  databaseUrl?: string;
  prefix?: string;
  dir?: string;
  natsUrl?: string;
  sandbox?: boolean;
  /** `log.level` (default `$OMNIBUS_TEST_LOG` or silent). */
  logLevel?: string;
  /** `media.store`: `file` (default) or `nats`. */
  mediaStore?: 'file' | 'nats';
  clock?: Clock;
  extra?: Partial<DaemonOptions>;
}

/** A daemon under test with the handles a test needs. */
export interface TestDaemon {
  daemon: Daemon;
  dir: string;
  prefix: string;
  databaseUrl: string | null;
  sql: postgres.Sql | null;
  nc: NatsConnection;
  clock: Clock;
  /** POSTs a body signed like Meta does to the WhatsApp webhook. */
  postWhatsApp(body: string | object, options?: { secret?: string; account?: string }): Promise<Response>;
  /**
   * Every event on the events stream whose subject matches (and that `where` accepts), in
   * stream order, once at least `atLeast` of them are there or `timeoutMs` has passed.
   */
  events(filter?: string, options?: { atLeast?: number; timeoutMs?: number; where?: (event: StoredEvent) => boolean }): Promise<StoredEvent[]>;
  stop(): Promise<void>;
}

/** Signs like Meta: `sha256=` + hex HMAC of the exact bytes. */
export function metaSignature(body: string | Uint8Array, secret = WA.appSecret): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** Starts a daemon on a fresh config directory. */
export async function startTestDaemon(options: TestDaemonOptions = {}): Promise<TestDaemon> {
  const dir = options.dir ?? (await tempDir());
  const prefix = options.prefix ?? uniquePrefix();
  let databaseUrl: string | null = null;
  let drop: (() => Promise<void>) | null = null;
  if (!options.pglite) {
    if (options.databaseUrl) databaseUrl = options.databaseUrl;
    else {
      const created = await createTestDatabase();
      databaseUrl = created.url;
      drop = created.drop;
    }
  }
  await mkdir(path.join(dir, 'channels'), { recursive: true });
  const daemonYaml = [
    `http: { host: 127.0.0.1, port: 0 }`,
    `nats: { url: "${options.natsUrl ?? natsUrl()}", prefix: ${prefix} }`,
    `database: { url: ${databaseUrl ? `"${databaseUrl}"` : 'null'} }`,
    `dataDir: "${path.join(dir, 'data')}"`,
    `api: { tokens: [{ token: ${API_TOKEN}, scopes: [read, write] }] }`,
    `log: { level: ${options.logLevel ?? process.env.OMNIBUS_TEST_LOG ?? 'silent'} }`,
    `sandbox: ${options.sandbox ?? true}`,
    `media: { store: ${options.mediaStore ?? 'file'} }`,
  ].join('\n');
  if (!options.dir) {
    await writeFile(path.join(dir, 'omnibus.yaml'), daemonYaml + '\n');
    for (const [name, yaml] of Object.entries(options.accounts ?? { 'acme-wa.yaml': whatsappAccountYaml() })) {
      await writeFile(path.join(dir, 'channels', name), yaml);
    }
  }
  const clock = options.clock ?? new ManualClock(Date.now());
  // The shipped daemon: every extension (outbound, contacts) unless a test says otherwise.
  const daemon = await Daemon.start({ configDir: dir, channels, env: {}, clock, identities, extensions: extensions(), ...options.extra });
  const nc = await connect({ servers: options.natsUrl ?? natsUrl() });
  const sql = databaseUrl ? postgres(databaseUrl, { max: 2, onnotice: () => {} }) : null;
  const handle: TestDaemon = {
    daemon,
    dir,
    prefix,
    databaseUrl,
    sql,
    nc,
    clock,
    postWhatsApp(body, opts = {}) {
      const raw = typeof body === 'string' ? body : JSON.stringify(body);
      return fetch(`${daemon.url}/webhooks/whatsapp/${opts.account ?? WA.account}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-hub-signature-256': metaSignature(raw, opts.secret) },
        body: raw,
      });
    },
    async events(filter = `${prefix}.v1.evt.>`, opts = {}) {
      return readEvents(nc, daemon.bus!.streams.events, filter, opts.atLeast ?? 1, opts.timeoutMs ?? 10_000, opts.where);
    },
    async stop() {
      await daemon.stop();
      await nc.close();
      await sql?.end({ timeout: 2 });
      if (!options.databaseUrl) await drop?.();
    },
  };
  return handle;
}

/** An event as read back from the events stream. */
export interface StoredEvent {
  subject: string;
  msgId: string | null;
  data: any;
}

/**
 * Reads every stored event matching `filter` (and `where`), waiting until at least `atLeast`
 * are there. The relay publishes after the webhook is answered, so a test that looks for one
 * event among others must say which with `where`, or it may read before that one is out.
 */
export async function readEvents(nc: NatsConnection, stream: string, filter: string, atLeast: number, timeoutMs: number, where: (event: StoredEvent) => boolean = () => true) {
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found: StoredEvent[] = [];
    const info = await jsm.streams.info(stream, { subjects_filter: filter }).catch(() => null);
    const total = info?.state.messages ?? 0;
    if (total > 0) {
      const consumer = await js.consumers.get(stream, { filter_subjects: filter });
      const batch = await consumer.fetch({ max_messages: 10_000, expires: 1_000 });
      for await (const m of batch as AsyncIterable<JsMsg>) {
        const event = { subject: m.subject, msgId: m.headers?.get('Nats-Msg-Id') ?? null, data: m.json() };
        if (where(event)) found.push(event);
        if (m.info.pending === 0) break;
      }
    }
    if (found.length >= atLeast || Date.now() > deadline) return found;
    await new Promise((r) => setTimeout(r, 100));
  }
}
